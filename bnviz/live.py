"""Live training for one browser session: a background thread steps a Trainer in short chunks.

Streamlit-free; only the training thread touches the Trainer while it runs. Readers get a frozen copy of
the record (`LiveRun.latest_record()`) or borrow the trainer between two chunks (`holding_trainer()`).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from bnviz.config import RunConfig
from bnviz.record import RunRecord

HEARTBEAT_TIMEOUT_S = 30.0  # no sign of the browser for this long: the session is gone, stop training
CHUNK_SECONDS = 0.1  # wall time of one trainer.step(k) call; readers wait at most this long
MAX_CHUNK = 500
TRAINING_NICE = 10  # added to a training thread's nice value: the server (and a browser beside it) go first
ACTIVE = ("queued", "starting", "running")
ENDED = ("finished", "stopped", "diverged", "failed")


def default_limits(cores: int | None = None) -> tuple[int, int]:
    """(concurrent trainings, torch threads each): $BNVIZ_MAX_TRAININGS / $BNVIZ_TRAIN_THREADS, else one
    training per two cores, sharing all cores but one. That core is left to the server and, often, the
    browser on the same machine: a two-thread team stalls at every op when one of its cores is taken
    (several times slower than one thread; bench/README.md)."""
    cores = cores or os.cpu_count() or 1
    slots = int(os.environ.get("BNVIZ_MAX_TRAININGS") or max(1, cores // 2))
    threads = int(os.environ.get("BNVIZ_TRAIN_THREADS") or max(1, (cores - 1) // slots))
    if slots < 1 or threads < 1:
        raise ValueError(f"BNVIZ_MAX_TRAININGS={slots} and BNVIZ_TRAIN_THREADS={threads} must be >= 1")
    return slots, threads


class Limiter:
    """At most `slots` trainings at once, shared by all sessions; the others wait first come, first served."""

    def __init__(self, slots: int, threads: int):
        self.slots, self.threads = slots, threads
        self._cond = threading.Condition()
        self._waiting: list[object] = []
        self._active: set[object] = set()

    def enter(self, ticket: object):
        with self._cond:
            if ticket not in self._waiting and ticket not in self._active:
                self._waiting.append(ticket)
            self._cond.notify_all()

    def wait_turn(self, ticket: object, timeout: float) -> bool:
        """Block up to `timeout` s for a free slot; True once `ticket` holds one."""
        with self._cond:
            got = self._cond.wait_for(lambda: self._take(ticket), timeout)
            return bool(got)

    def _take(self, ticket: object) -> bool:
        if ticket in self._active:
            return True
        if self._waiting and self._waiting[0] is ticket and len(self._active) < self.slots:
            self._active.add(self._waiting.pop(0))
            return True
        return False

    def position(self, ticket: object) -> int | None:
        """1 for the next in line; None when running or not queued."""
        with self._cond:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else None

    def leave(self, ticket: object):
        with self._cond:
            self._active.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    def stop_all(self):
        """Stop every run that holds or waits for a slot (at server shutdown)."""
        with self._cond:
            runs = list(self._active) + list(self._waiting)
        for run in runs:
            run.stop(wait=2.0)

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._active)


@dataclass(frozen=True)
class Progress:
    state: str  # new | queued | starting | running | paused | finished | stopped | diverged | failed
    steps_done: int
    steps: int
    steps_per_s: float | None
    seconds_left: float | None
    queue_position: int | None
    message: str | None  # why it failed or stopped, when not by the user

    @property
    def fraction(self) -> float:
        return min(1.0, self.steps_done / self.steps)


class LiveRun:
    """One training run of one config, stepped by a background thread that can pause, resume and stop.

    A comparison runs the same way: `cfg` a bnviz.compare.Comparison, `make_trainer` bnviz.lockstep.Lockstep.
    """

    def __init__(self, cfg: RunConfig, limiter: Limiter, make_trainer: Callable | None = None,
                 heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S):
        self.cfg = cfg
        self.limiter = limiter
        self.heartbeat_timeout = heartbeat_timeout
        self.trainer = None
        self.state = "new"
        self.message: str | None = None
        self._make_trainer = make_trainer
        self._thread: threading.Thread | None = None
        self._pause = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held by whoever uses the trainer (the thread, during a chunk)
        self._borrowers = 0  # readers waiting for the trainer between chunks
        self._borrowers_lock = threading.Lock()
        self._frozen: RunRecord | None = None  # the record as of the last chunk, for readers
        self._frozen_key: tuple | None = None  # (status, steps done) when published
        self._frozen_wanted = True
        self._first_record = threading.Event()
        self._rate: float | None = None
        self._last_beat = time.monotonic()

    # --- control (any thread) -------------------------------------------------------------------
    def start(self):
        """Start, or resume after pause(); does nothing while the thread runs or after the run ended."""
        if self.state in ENDED or (self._thread and self._thread.is_alive()):
            return
        self._pause.clear()
        self.heartbeat()
        self.state = "queued"
        self.limiter.enter(self)
        self._thread = threading.Thread(target=self._run, name=f"bnviz-train-{id(self):x}", daemon=True)
        self._thread.start()

    def pause(self):
        """Stop stepping after the current chunk and give the slot to the next in line; start() resumes."""
        if self.state in ACTIVE:
            self._pause.set()

    def stop(self, message: str | None = None, wait: float = 5.0):
        """End the run for good; the record so far is kept with the status `stopped`."""
        self.message = self.message or message
        self._stop.set()
        thread = self._thread
        if thread and thread.is_alive() and thread is not threading.current_thread():
            thread.join(wait)
        if not (thread and thread.is_alive()):
            self._finish_stopped()

    def heartbeat(self):
        """The browser is still there (called by every UI refresh)."""
        self._last_beat = time.monotonic()

    def silent_s(self) -> float:
        """Seconds since the last heartbeat."""
        return time.monotonic() - self._last_beat

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    # --- reading (any thread) -------------------------------------------------------------------
    def latest_record(self) -> RunRecord | None:
        """The record as of the last chunk, frozen and consistent across its tables; None before the first step."""
        self._frozen_wanted = True
        trainer = self.trainer
        if trainer is not None and not self.alive:  # no thread to publish: do it here if behind
            with self._lock:
                if self._frozen is None or self._frozen_key != (trainer.record.status, trainer.steps_done):
                    self._publish()
        return self._frozen

    def wait_for_first_record(self, timeout: float) -> bool:
        """Block up to `timeout` s for the first recorded step (so a page can show it in the same redraw)."""
        return self._first_record.wait(timeout)

    @contextmanager
    def holding_trainer(self):
        """The trainer (or None), not stepped by the thread until the block ends."""
        with self._borrowers_lock:
            self._borrowers += 1
        try:
            with self._lock:
                yield self.trainer
        finally:
            with self._borrowers_lock:
                self._borrowers -= 1

    def progress(self) -> Progress:
        done = self.trainer.steps_done if self.trainer is not None else 0
        left = None
        if self._rate and self.state in ACTIVE:
            left = (self.cfg.steps - done) / self._rate
        return Progress(self.state, done, self.cfg.steps, self._rate, left, self.limiter.position(self),
                        self.message)

    # --- the training thread --------------------------------------------------------------------
    def _run(self):
        try:
            if not self._wait_for_slot():
                return
            torch.set_num_threads(self.limiter.threads)  # this thread only; others keep theirs
            yield_cpu_to_the_server()
            if self.trainer is None:
                self.state = "starting"
                self.trainer = self._build_trainer()
            self.state = "running"
            self._train()
        except Exception as err:  # shown to the user; the record so far is kept
            self.state, self.message = "failed", f"{type(err).__name__}: {err}"
            if self.trainer is not None:
                with self._lock:
                    self.trainer.stop()
                    self._publish()
        finally:
            self.limiter.leave(self)

    def _wait_for_slot(self) -> bool:
        while not self.limiter.wait_turn(self, timeout=0.25):
            if self._should_leave():
                return False
        return not self._should_leave()

    def _build_trainer(self):
        if self._make_trainer is None:  # torch-heavy imports, only when a run starts
            from bnviz.compare import Comparison
            from bnviz.lockstep import Lockstep
            from bnviz.trainer import Trainer
            self._make_trainer = Lockstep if isinstance(self.cfg, Comparison) else Trainer
        return self._make_trainer(self.cfg)

    def _train(self):
        trainer, steps = self.trainer, 1  # one step first: step 0 is recorded at once
        while not trainer.done:
            if self._should_leave():
                return
            started = time.perf_counter()
            with self._lock:
                done_before = trainer.steps_done
                trainer.step(steps)
                if self._frozen_wanted or trainer.done:
                    self._publish()
            elapsed = time.perf_counter() - started
            made = trainer.steps_done - done_before
            if made and elapsed > 0:
                rate = made / elapsed
                self._rate = rate if self._rate is None else 0.7 * self._rate + 0.3 * rate
                steps = max(1, min(MAX_CHUNK, round(CHUNK_SECONDS * self._rate)))
            while self._borrowers:  # let a reader take the trainer between chunks
                time.sleep(0.001)
        self.state = trainer.record.status

    def _should_leave(self) -> bool:
        """Handle stop, pause and a silent browser; True when the thread should end now."""
        if not self._stop.is_set() and time.monotonic() - self._last_beat > self.heartbeat_timeout:
            self.message = f"stopped: no sign of the browser for {self.heartbeat_timeout:.0f} s"
            self._stop.set()
        if self._stop.is_set():
            self._finish_stopped()
            return True
        if self._pause.is_set():
            self.state = "paused"
            return True
        return False

    def _finish_stopped(self):
        with self._lock:
            if self.state not in ENDED:  # not yet ended by a second stop(), or by the thread
                if self.trainer is not None:
                    self.trainer.stop()
                    self._publish()
                self.state = self.trainer.record.status if self.trainer is not None else "stopped"
        self.limiter.leave(self)

    def _publish(self):
        self._frozen = self.trainer.record.frozen()
        self._frozen_key = (self.trainer.record.status, self.trainer.steps_done)
        self._frozen_wanted = False
        self._first_record.set()


def yield_cpu_to_the_server():
    """Lower the calling thread's CPU priority (Linux keeps a nice value per thread, and the threads it
    starts inherit it). Training then takes the CPU the server and the charts leave, instead of making
    them wait: on a 2-core machine with the browser beside it, that is the time to the next chart."""
    if not hasattr(os, "setpriority"):  # not on Windows
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + TRAINING_NICE))
    except OSError:  # a sandbox may forbid it; training still works
        pass
