"""PaperJob: one reproduction trained in a background thread, queued through the server's training limiter like
a lab run, publishing a re-judged result of its partial runs as it trains (no Streamlit here)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import torch

from bnviz.backends import make_backend
from bnviz.config import RunConfig
from bnviz.limiter import Limiter, yield_cpu_to_the_server
from bnviz.papers import get
from bnviz.papers.runs import Run

JUDGE_EVERY_S = 0.5  # measuring partial runs costs a little: at most twice a second


def _arm(cfg: RunConfig) -> tuple:
    """What tells a reproduction's arms apart (its grids vary the batch, rate or seed within an arm)."""
    return cfg.model, cfg.norm, cfg.bn_noise


class Stopped(Exception):
    """Raised inside the training loop when the job is asked to stop."""


class PaperJob:
    """Runs reproduction `name` at `budget` (or the given `configs`) once; read `snapshot()` from any thread."""

    def __init__(self, name: str, budget: str, limiter: Limiter, configs: Sequence[RunConfig] | None = None):
        self.rep, self.budget, self.limiter = get(name), budget, limiter
        self.configs = list(configs) if configs is not None else self.rep.configs(budget)
        self.state = "new"  # new, queued, running, finished, stopped, failed
        self.done_steps, self.total_steps = 0, sum(c.steps for c in self.configs)
        self.result: dict | None = None  # rep.judge of the runs so far (measured may be partial)
        self.error: str | None = None
        self._runs_done, self._started, self._judged_at = 0, None, 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> "PaperJob":
        self.state = "queued"
        self.limiter.enter(self)
        self._thread = threading.Thread(target=self._main, name=f"bnviz-paper-{self.rep.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait: float = 5.0):
        self._stop.set()
        if self._thread is not None and wait:
            self._thread.join(wait)

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state in ("finished", "stopped", "failed")

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def seconds_to_finish(self) -> float | None:
        """For the limiter's wait estimate: the time left at the rate so far."""
        if self._started is None or not self.done_steps:
            return None
        rate = self.done_steps / max(1e-6, time.monotonic() - self._started)
        return (self.total_steps - self.done_steps) / rate

    def snapshot(self) -> dict:
        """State, progress and the latest result, consistent with each other."""
        with self._lock:
            return {"state": self.state, "done": self.done_steps, "total": self.total_steps, "result": self.result,
                    "error": self.error, "position": self.limiter.position(self), "runs": self._runs_done,
                    "of": len(self.configs)}

    def _main(self):
        try:
            while not self.limiter.wait_turn(self, timeout=0.25):
                if self._stop.is_set():
                    raise Stopped
            self.state, self._started = "running", time.monotonic()
            torch.set_num_threads(self.limiter.threads)  # this thread only, like a lab run
            yield_cpu_to_the_server()
            # one worker process at this job's thread count: it holds one limiter slot, like a lab run
            backend = make_backend("local", workers=1, threads=self.limiter.threads) if self.rep.grid else None
            runs = self.rep.train(self.configs, self._progress, backend)
            self._judge(runs, final=True)
            self.state = "finished"
        except Stopped:
            self.state = "stopped"
        except Exception as error:  # shown on the page; the shipped result stays
            self.error, self.state = f"{type(error).__name__}: {error}", "failed"
        finally:
            self.limiter.leave(self)

    def _progress(self, runs: list[Run], done: int, total: int):
        if self._stop.is_set():
            raise Stopped
        self.done_steps = done
        if self.limiter.should_yield(self):  # another visitor waits: take turns, like a lab run
            self.limiter.requeue(self)
            while not self.limiter.wait_turn(self, timeout=0.25):
                if self._stop.is_set():
                    raise Stopped
        if time.monotonic() - self._judged_at >= JUDGE_EVERY_S:
            self._judge(runs, final=False)

    def _judge(self, runs: list[Run], final: bool):
        """Re-judge on the runs so far; while a run is training (its finish not measured yet), on the finished
        ones if the full list cannot be measured. Measuring needs each arm's first run: until then no result."""
        self._judged_at = time.monotonic()
        finished = runs if final else runs[:-1]
        result = None
        for subset in (runs, finished):
            try:
                result = self.rep.judge(subset, self.budget)
                break
            except (KeyError, IndexError, ValueError, ZeroDivisionError, StopIteration):
                continue
        if result is None and self.result is not None:  # keep the figures drawn, say the verdict waits
            result = {**self.result, "holds": None, "verdict": None}
        if result is not None and not final:
            result["partial"] = True
            if {_arm(r.config) for r in runs} != {_arm(c) for c in self.configs}:
                result.update(holds=None, verdict=None)  # an arm has no run yet: its figure draws, no verdict
        with self._lock:
            self._runs_done = len(runs) if final else len(finished)
            self.result = result if result is not None else self.result
