"""Stop every training as soon as the server is told to stop (SIGTERM, SIGINT), not only at interpreter exit.

Streamlit handles SIGTERM itself: its handler asks the server to stop, which closes the browsers' websockets
and only then lets Python exit and run atexit. Meanwhile a training sees no heartbeat, may end on its own
with "no sign of the browser", and the shutdown never says what it stopped. Signal handlers can only be set
on the main thread (the server's event loop), while the app's scripts run on others: so the hook is put
there through the runtime's event loop, and it chains to Streamlit's handler. The atexit stop stays as
the fallback (a runtime without that loop, a test harness).

Once the trainings are stopped the process should be gone quickly (`docker stop` kills it after 10 s). What
the interpreter then does is collect cycles over the whole heap (plotly's validators, Streamlit, torch) again
and again while it clears the modules: measured 6 of the 7.5 s from SIGTERM to exit on a loaded 2-core
machine (perf: gc_collect_main under Py_FinalizeEx), with every thread a daemon and nothing else to wait for.
`gc.freeze()` at exit takes that heap out of those collections; atexit handlers, module teardown and the
libraries' own clean-up still run, and the OS takes the memory back.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import signal
import threading

from bnviz.limiter import Limiter

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_trainings_on_shutdown(limiter: Limiter) -> bool:
    """Register limiter.stop_all for the server's shutdown (call once per limiter); True when the signal hook
    could be put on the main thread (else only atexit runs it)."""
    atexit.register(gc.freeze)  # atexit runs last-in first-out: after stop_all, the collections are skipped
    atexit.register(limiter.stop_all)
    loop = _server_loop()
    if loop is None:
        return False
    loop.call_soon_threadsafe(_chain_signals, limiter)
    return True


def _server_loop():
    """The event loop the Streamlit runtime runs on (the main thread), or None outside a real server."""
    try:
        from streamlit import runtime
        if not runtime.exists():
            return None
        loop = runtime.get_instance()._get_async_objs().eventloop  # no public accessor in Streamlit 1.67
    except (AttributeError, RuntimeError):  # another Streamlit version, or the runtime not started
        return None
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None  # AppTest's runtime is a mock


def _chain_signals(limiter: Limiter):
    """On the main thread: each signal first starts stopping the trainings, then does what it did before."""
    for signum in SIGNALS:
        previous = signal.getsignal(signum)

        def handler(number, frame, previous=previous):
            # A handler interrupts whatever the main thread was doing: do no I/O or locking here, hand the
            # work to a thread (non-daemon: the interpreter waits for it, at most stop_all's wait).
            threading.Thread(target=limiter.stop_all, name="bnviz-shutdown").start()
            if callable(previous):
                previous(number, frame)
            else:  # SIG_DFL or SIG_IGN: do that
                signal.signal(number, previous or signal.SIG_DFL)
                signal.raise_signal(number)

        signal.signal(signum, handler)
