"""The shutdown hook (bnviz/ui/shutdown.py): SIGTERM first starts stopping every training, then does what the
server's own handler does; at exit the heap is frozen so the interpreter's teardown is quick. The real
server's path (SIGTERM to `streamlit run`, exit within 5 s) is tests/browser/test_hosted_load.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

from bnviz.limiter import SHUTDOWN_MESSAGE, Limiter
from bnviz.ui import shutdown


class Ticket:
    """A run as the limiter sees it: stop() ends it and it leaves its slot."""

    def __init__(self, limiter: Limiter):
        self.limiter, self.stopped = limiter, threading.Event()
        self.messages: list[str] = []

    def stop(self, message=None, wait=5.0):
        self.messages.append(message)
        self.stopped.set()
        self.limiter.leave(self)


def test_sigterm_stops_the_trainings_then_runs_the_servers_handler(capfd):
    limiter = Limiter(1, 1)
    running, waiting = Ticket(limiter), Ticket(limiter)
    for ticket in (running, waiting):
        limiter.enter(ticket)
    assert limiter.wait_turn(running, 1) and limiter.waiting == 1
    server_saw = []
    before = {signum: signal.getsignal(signum) for signum in shutdown.SIGNALS}
    try:
        signal.signal(signal.SIGTERM, lambda number, frame: server_saw.append(number))  # Streamlit's, here
        shutdown._chain_signals(limiter)
        signal.raise_signal(signal.SIGTERM)
        assert server_saw == [signal.SIGTERM]  # the server's handler still runs
        assert running.stopped.wait(5) and waiting.stopped.wait(5)
        for thread in threading.enumerate():
            if thread.name == "bnviz-shutdown":
                thread.join(5)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        shutdown._signalled = None  # else this process's own exit would take the signalled path
    assert running.messages[0] == waiting.messages[0] == SHUTDOWN_MESSAGE
    assert limiter.running == limiter.waiting == 0
    assert "bnviz: 2 training(s) stopped at shutdown" in capfd.readouterr().err


def test_outside_a_streamlit_server_only_atexit_is_left():
    assert shutdown._server_loop() is None


# A process that exits with a training "running": stop_all first, then the heap frozen (gc.freeze), so
# Py_FinalizeEx's collections skip it. The atexit hook registered before the call runs after both.
AT_EXIT = """
import atexit, gc
atexit.register(lambda: print("frozen at the end:", gc.get_freeze_count() > 0, flush=True))
from bnviz.limiter import Limiter
from bnviz.ui import shutdown

class Ticket:
    def stop(self, message=None, wait=5.0):
        print("stopped, frozen yet:", gc.get_freeze_count() > 0, flush=True)
        limiter.leave(self)

limiter = Limiter(1, 1)
limiter.enter(ticket := Ticket())
assert limiter.wait_turn(ticket, 1)
assert not shutdown.stop_trainings_on_shutdown(limiter)  # no server here: atexit alone
"""


def test_at_exit_the_trainings_stop_then_the_heap_is_frozen():
    done = subprocess.run([sys.executable, "-c", AT_EXIT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["stopped, frozen yet: False", "stopped, frozen yet: False",
                                        "frozen at the end: True"], done.stdout
    assert "bnviz: 1 training(s) stopped at shutdown" in done.stderr


# After a shutdown signal the process ends at once once the trainings stopped: exit status 0 whatever the
# script was exiting with, the log line flushed, the atexit hooks registered before ours skipped.
SIGNALLED = """
import atexit, signal, sys, threading
atexit.register(lambda: print("a hook registered earlier ran", flush=True))
from bnviz.limiter import Limiter
from bnviz.ui import shutdown

class Ticket:
    def stop(self, message=None, wait=5.0):
        limiter.leave(self)

limiter = Limiter(1, 1)
limiter.enter(ticket := Ticket())
assert limiter.wait_turn(ticket, 1)
shutdown.stop_trainings_on_shutdown(limiter)
signal.signal(signal.SIGTERM, lambda number, frame: print("server handler", flush=True))  # Streamlit's
shutdown._chain_signals(limiter)
signal.raise_signal(signal.SIGTERM)
sys.exit(3)
"""


def test_after_a_shutdown_signal_the_process_ends_at_once_with_status_0():
    done = subprocess.run([sys.executable, "-c", SIGNALLED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.splitlines() == ["server handler"], done.stdout
    assert "bnviz: 1 training(s) stopped at shutdown" in done.stderr
