"""Stop every training as soon as the server is told to stop (SIGTERM, SIGINT), not only at interpreter exit.

Streamlit handles SIGTERM itself: its handler asks the server to stop, which closes the browsers' websockets
and only then lets Python exit and run atexit. Meanwhile a training sees no heartbeat, may end on its own
with "no sign of the browser", and the shutdown never says what it stopped. Signal handlers can only be set
on the main thread (the server's event loop), while the app's scripts run on others: so the hook is put
there through the runtime's event loop, and it chains to Streamlit's handler. The atexit stop stays as
the fallback (a runtime without that loop, a test harness).

Once the trainings are stopped the process should be gone quickly (`docker stop` kills it after 10 s). What
the interpreter then does: collect cycles over the whole heap (plotly's validators, Streamlit, torch) again and
again while it clears the modules (measured: 6 of the 7.5 s from SIGTERM to exit on a loaded 2-core machine,
perf: gc_collect_main under Py_FinalizeEx), then run libtorch's static destructors, which abort the process
("terminate called without an active exception", exit -6; once in 4 runs of the load test's fault test,
whose long run compiles in the background: bnviz/compiled_step.py) when a daemon thread is still inside
torch, which nothing can interrupt. So after a shutdown
signal, once stop_all has run, the last of our atexit hooks flushes the logs and ends the process with
`os._exit(0)` (0: Streamlit's own exit status after SIGTERM); atexit hooks registered before this module's
(logging's, flushed here) are skipped, as are the collections and destructors. Any other exit keeps the
normal path, with the heap frozen (`gc.freeze()`) so the collections skip it.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import os
import signal
import sys
import threading

from bnviz.limiter import Limiter

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_signalled: int | None = None  # the shutdown signal received, if any (set in the handler: no lock there)


def stop_trainings_on_shutdown(limiter: Limiter) -> bool:
    """Register limiter.stop_all for the server's shutdown (call once per limiter); True when the signal hook
    could be put on the main thread (else only atexit runs it)."""
    atexit.register(_exit)  # atexit runs last-in first-out: this one after stop_all
    atexit.register(limiter.stop_all)
    loop = _server_loop()
    if loop is None:
        return False
    loop.call_soon_threadsafe(_chain_signals, limiter)
    return True


def _exit():
    """The end of a shutdown, after stop_all: at once after a signal (logs flushed), else the normal exit
    without its collections over the whole heap."""
    if _signalled is None:
        gc.freeze()
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


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
            global _signalled
            _signalled = number
            threading.Thread(target=limiter.stop_all, name="bnviz-shutdown").start()
            if callable(previous):
                previous(number, frame)
            else:  # SIG_DFL or SIG_IGN: do that
                signal.signal(number, previous or signal.SIG_DFL)
                signal.raise_signal(number)

        signal.signal(signum, handler)
