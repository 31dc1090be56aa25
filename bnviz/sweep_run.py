"""Running a sweep: resume from earlier results, train the rest on a backend, report each result as it
lands; `BackgroundSweep` does it on a thread holding limiter slots, for a page to poll."""

from __future__ import annotations

import threading
from typing import Callable

from bnviz.config import RunConfig
from bnviz.sweep import RunResult, Sweep, run_key

RESUMABLE = ("finished", "diverged")  # outcomes kept on resume; a failed run is tried again


class SweepRun:
    """The runs of one sweep: those already done (kept from `previous`) and the rest, trained by `run`."""

    def __init__(self, sweep: Sweep, configs: list[RunConfig] | None = None, previous: list[RunResult] = (),
                 on_result: Callable[[RunResult], None] | None = None):
        self.sweep = sweep
        self.configs = configs if configs is not None else sweep.configs()
        self.order = {run_key(c): i for i, c in enumerate(self.configs)}
        self.done: dict[str, RunResult] = {r.key: r for r in previous
                                           if r.key in self.order and r.status in RESUMABLE}
        self.on_result, self.on_progress = on_result, None
        self._lock = threading.Lock()

    def results(self) -> list[RunResult]:
        """The results so far, in the sweep's run order."""
        with self._lock:
            return sorted(self.done.values(), key=lambda r: self.order[r.key])

    def todo(self) -> list[RunConfig]:
        return [c for c in self.configs if run_key(c) not in self.done]

    def run(self, backend, stop: threading.Event | None = None):
        """Train every run not done yet; each result is stored, then `on_result`, then `on_progress`."""
        results = backend.results(self.todo(), stop)
        try:
            for result in results:
                with self._lock:
                    self.done[result.key] = result
                for callback in (self.on_result, self.on_progress):
                    if callback is not None:
                        callback(result)
        finally:
            results.close()  # Ctrl-C or an error: the backend frees its workers now


class BackgroundSweep:
    """A sweep trained on a thread, for a page: poll `results()` / `state`, or pass `on_result`.

    It holds `slots` of the shared Limiter (taken together, first come first served) while it trains, so
    it queues like a lab training; `make_backend(slots, threads)` builds the backend once the slots are held.
    """

    def __init__(self, sweep: Sweep, limiter, make_backend: Callable[[int, int], object], slots: int = 1,
                 previous: list[RunResult] = (), on_result: Callable[[RunResult], None] | None = None):
        self.run_ = SweepRun(sweep, previous=previous, on_result=on_result)  # validates: ConfigError now
        self.limiter, self.make_backend = limiter, make_backend
        self.slots = max(1, min(slots, limiter.slots))
        self.tickets = [_Ticket(self) for _ in range(self.slots)]
        self.state, self.error, self.backend_name = "queued", "", ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="bnviz-sweep", daemon=True)

    @property
    def total(self) -> int:
        return len(self.run_.configs)

    def results(self) -> list[RunResult]:
        return self.run_.results()

    def queue_position(self) -> int | None:
        """The place in the limiter's queue of this sweep's first ticket still waiting (None: all slots held)."""
        places = (self.limiter.position(t) for t in self.tickets)
        return next((p for p in places if p is not None), None)

    def start(self) -> "BackgroundSweep":
        with _ENTER_LOCK:  # this sweep's tickets stand together in the queue: two sweeps never deadlock
            for ticket in self.tickets:
                self.limiter.enter(ticket)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()

    def join(self, timeout: float | None = None):
        self._thread.join(timeout)

    def _main(self):
        try:
            for ticket in self.tickets:
                while not self.limiter.wait_turn(ticket, 0.5):
                    if self._stop.is_set():
                        self.state = "stopped"
                        return
            self.state = "running"
            backend = self.make_backend(self.slots, self.limiter.threads)
            self.backend_name = backend.describe()
            self.run_.run(backend, self._stop)
            self.state = "stopped" if self._stop.is_set() else "finished"
        except Exception as err:  # shown by the page; finished runs stay in results()
            self.state, self.error = "failed", f"{type(err).__name__}: {err}"
        finally:
            for ticket in self.tickets:
                self.limiter.leave(ticket)


class _Ticket:
    """A sweep's place in the limiter; Limiter.stop_all (server shutdown) stops it as it stops a training."""

    def __init__(self, job: BackgroundSweep):
        self.job = job

    def stop(self, message: str | None = None, wait: float | None = None):
        """As LiveRun.stop(message, wait), which Limiter.stop_all calls: the message is the sweep's error."""
        if message and self.job.state in ("queued", "running"):
            self.job.error = self.job.error or message
        self.job.stop()
        if wait:
            self.job.join(wait)


_ENTER_LOCK = threading.Lock()
