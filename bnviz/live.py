"""Live training for one browser session: a background thread steps a Trainer in short chunks.

Streamlit-free; only the training thread touches the Trainer while it runs. Readers get a frozen copy of
the record (`LiveRun.latest_record()`) or borrow the trainer between two chunks (`holding_trainer()`).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch

from bnviz import hosting
from bnviz.config import ConfigError, RunConfig
from bnviz.limiter import TRAINING_NICE, Limiter, default_limits, yield_cpu_to_the_server  # noqa: F401 (re-exported)
from bnviz.record import RunRecord

# No sign of the browser for this long: the session is gone, stop training ($BNVIZ_HEARTBEAT_S, tests).
HEARTBEAT_TIMEOUT_S = hosting.heartbeat_s()
CHUNK_SECONDS = 0.1  # wall time of one trainer.step(k) call; readers wait at most this long
MAX_CHUNK = 500
ACTIVE = ("queued", "starting", "running")
ENDED = ("finished", "stopped", "diverged", "failed")


@dataclass(frozen=True)
class Progress:
    state: str  # new | queued | starting | running | paused | finished | stopped | diverged | failed
    steps_done: int
    steps: int
    steps_per_s: float | None
    seconds_left: float | None
    queue_position: int | None
    message: str | None  # why it failed or stopped, when not by the user
    wait_s: float | None = None  # while queued: about how long until it trains again
    mode: str | None = None  # how plain steps run (Trainer.mode): eager | compiling | compiled | eager (...)

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
        self._trained_s = 0.0  # wall time spent stepping (not queued): the hosted cap's clock
        self._steps_done = 0  # kept when the trainer is released

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
        trainer = self.trainer
        done = trainer.steps_done if trainer is not None else self._steps_done
        left = self.seconds_to_finish()
        wait = self.limiter.wait_estimate(self) if self.state == "queued" else None
        return Progress(self.state, done, self.cfg.steps, self._rate, left, self.limiter.position(self),
                        self.message, wait, self.trainer.mode if self.trainer is not None else None)

    def seconds_to_finish(self) -> float | None:
        """Training time still needed at the current rate; None before a rate is known or once ended."""
        trainer = self.trainer
        if not self._rate or self.state not in ACTIVE or trainer is None:
            return None
        return (self.cfg.steps - trainer.steps_done) / self._rate

    def release_if_idle(self, ttl: float) -> bool:
        """Drop the trainer and record when no thread runs and the browser has been silent for `ttl` s
        (the session is gone: its memory goes back to the server). True when released now."""
        if self.alive or self.trainer is None or time.monotonic() - self._last_beat < ttl:
            return False
        with self._lock:
            self._steps_done = self.trainer.steps_done
            self.trainer, self._frozen = None, None
            if self.state == "paused":
                self.state = "stopped"
            self.message = f"cleared after {ttl / 60:g} min without a visit, to free the server's memory"
        return True

    # --- the training thread --------------------------------------------------------------------
    def _run(self):
        try:
            hosting.check(self.cfg, self.limiter.caps)  # the UI checks too; a callback could race it
            lowered = False
            while self._wait_for_slot():
                torch.set_num_threads(self.limiter.threads)  # this thread only; others keep theirs
                if not lowered:
                    yield_cpu_to_the_server()
                    lowered = True
                if self.trainer is None:
                    self.state = "starting"
                    self.trainer = self._build_trainer()
                self.state = "running"
                if not self._train():  # ended, paused or stopped
                    return
                self.state = "queued"  # yielded its slot after a time slice: back of the queue
                self.limiter.requeue(self)
        except ConfigError as err:
            self.state, self.message = "failed", f"These settings cannot train: {err.field}: {err}"
        except Exception as err:  # shown to the user; the record so far is kept
            self.message = f"{type(err).__name__}: {err}"
            if self.trainer is not None:
                with self._lock:
                    self.trainer.fail(self.message)  # the record says failed too, and why
                    self._publish()
            self.state = "failed"  # last: whoever sees it also sees the failed record
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

    def _train(self) -> bool:
        """Step until done, told to leave, or a time slice is over while others wait (then True)."""
        trainer, steps = self.trainer, 1  # one step first: step 0 is recorded at once
        max_run_s = self.limiter.caps.max_run_s if self.limiter.caps else None
        while not trainer.done:
            if self._should_leave():
                return False
            if self.limiter.should_yield(self):
                return True
            started = time.perf_counter()
            with self._lock:
                done_before = trainer.steps_done
                trainer.step(steps)
                if self._frozen_wanted or trainer.done:
                    self._publish()
            elapsed = time.perf_counter() - started
            self._trained_s += elapsed
            made = trainer.steps_done - done_before
            if made and elapsed > 0:
                rate = made / elapsed
                self._rate = rate if self._rate is None else 0.7 * self._rate + 0.3 * rate
                steps = max(1, min(MAX_CHUNK, round(CHUNK_SECONDS * self._rate)))
            if max_run_s and self._trained_s >= max_run_s and not trainer.done:
                self.message = (f"stopped: this hosted demo allows {max_run_s:g} s of training per run "
                                f"({hosting.VARS['max_run_s'].name})")
                self._stop.set()
            while self._borrowers:  # let a reader take the trainer between chunks
                time.sleep(0.001)
        self.state = trainer.record.status
        return False

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


