"""Ctrl-C or SIGTERM during a long command: the first asks to stop between chunks, so the record stays consistent."""

from __future__ import annotations

import signal
import sys

EXIT_STOPPED = 130  # the shell's code for a command ended by SIGINT (128 + 2)
EXIT_TERMINATED = 143  # ... and by SIGTERM (128 + 15): `kill`, `timeout`, docker stop, a batch scheduler
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Turns the first Ctrl-C or SIGTERM into a request honoured between chunks, so the record stays
    consistent; `signal` says which one came."""

    def __init__(self):
        self.requested = False
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self):
        try:
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread, where signals never arrive anyway
            pass
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second one: out now, mid-step, so the record is not saved
            raise KeyboardInterrupt
        self.requested, self.signal = True, signum
        again = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        sys.stderr.write(f"\n{signal.Signals(signum).name}: stopping after this chunk of steps and saving the "
                         f"record ({again} again to quit without saving)\n")

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        return False
