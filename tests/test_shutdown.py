"""The shutdown hook (bnviz/ui/shutdown.py): SIGTERM first starts stopping every training, then does what the
server's own handler does. The real server's path is bench/hosted_load_check.py."""

from __future__ import annotations

import signal
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
    assert running.messages[0] == waiting.messages[0] == SHUTDOWN_MESSAGE
    assert limiter.running == limiter.waiting == 0
    assert "bnviz: 2 training(s) stopped at shutdown" in capfd.readouterr().err


def test_outside_a_streamlit_server_only_atexit_is_left():
    assert shutdown._server_loop() is None
