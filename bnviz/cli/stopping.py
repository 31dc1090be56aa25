"""Ctrl-C during a long command: the first one asks to stop between chunks, so the record stays consistent."""

from __future__ import annotations

import signal
import sys

EXIT_STOPPED = 130  # the shell's code for a command ended by SIGINT


class StopRequest:
    """Turns the first Ctrl-C into a request honoured between chunks, so the record stays consistent."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread, where signals never arrive anyway
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: out now, mid-step, so the record is not saved
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nstopping after this chunk of steps and saving the record "
                         "(Ctrl-C again to quit without saving)\n")

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False
