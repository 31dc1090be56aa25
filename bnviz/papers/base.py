"""Reproduction: what every paper reproduction declares (claim, source, setups, the paper's numbers, budgets) and
the two pure functions that judge it (records -> measured numbers -> verdict)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bnviz.config import RunConfig
from bnviz.papers.runs import Finish, Probe, Progress, Run, train_arms, train_grid

BUDGETS = ("test", "quick", "full")  # test: the suite's; quick: the live button (<= 60 s on 2 cores); full: shipped


@dataclass(frozen=True)
class Reproduction:
    name: str
    title: str
    claim: str  # one sentence
    source: str  # paper, figure or table
    paper_setup: str
    our_setup: str
    smaller: str  # what is smaller here, and why
    paper: dict  # the paper's numbers (REFERENCE.md §3)
    threshold: str  # the rule the verdict applies, in words
    configs: Callable[[str], list[RunConfig]]  # budget -> the runs
    measure: Callable[[list[Run]], dict]  # runs -> measured numbers (JSON-ready: floats, lists, None for NaN)
    verdict: Callable[[dict], tuple[bool, str]]  # measured -> (holds, one sentence with the numbers)
    grid: bool = False  # independent runs (a sweep) rather than arms compared in lockstep
    finish: Finish | None = None  # measured on each trained model (e.g. recalibration)
    probe: Probe | None = None  # measured after every step (e.g. a layer's input on a fixed batch)
    budgets: dict = field(default_factory=dict)  # budget -> a line saying what it runs

    def run(self, budget: str = "quick", progress: Progress | None = None, backend=None) -> dict:
        """Train the runs of `budget`, measure and judge them: the result the CLI prints and the page draws."""
        if budget not in BUDGETS:
            raise ValueError(f"budget={budget!r} is not allowed: one of {', '.join(BUDGETS)}")
        started = time.perf_counter()
        runs = self.train(self.configs(budget), progress, backend)
        return self.judge(runs, budget, time.perf_counter() - started)

    def train(self, configs: list[RunConfig], progress: Progress | None = None, backend=None) -> list[Run]:
        """A grid through the sweep engine on `backend` (default: the local pool); arms through the compare
        engine in this process, or, given a backend that is not this machine's (ray), as independent runs there:
        the arms share no state, so the numbers are the same."""
        if self.grid or (backend is not None and backend.name != "local"):
            return train_grid(configs, progress=progress, finish=self.finish, backend=backend, probe=self.probe)
        return train_arms(configs, progress=progress, finish=self.finish, probe=self.probe)

    def judge(self, runs: list[Run], budget: str, wall_s: float | None = None) -> dict:
        measured = clean(self.measure(runs))
        holds, verdict = self.verdict(measured)
        return {"name": self.name, "claim": self.claim, "paper": self.paper, "measured": measured,
                "threshold": self.threshold, "holds": bool(holds), "verdict": verdict, "budget": budget,
                "runs": len(runs), "wall_s": None if wall_s is None else round(wall_s, 1)}

    def describe(self) -> dict:
        """Everything but a result: for a page header or `reproduce --list`."""
        return {"name": self.name, "title": self.title, "claim": self.claim, "source": self.source,
                "paper_setup": self.paper_setup, "our_setup": self.our_setup, "smaller": self.smaller,
                "paper": self.paper, "threshold": self.threshold, "budgets": self.budgets}


def clean(value):
    """JSON-ready copy: numpy scalars to floats/ints, NaN/Inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return clean(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def final_test_acc(run: Run) -> float:
    """The last evaluation's test accuracy; 0 for a run that diverged (its later steps never trained)."""
    if run.record.status == "diverged" or not len(run.record.evals):
        return 0.0
    return float(run.record.evals["test_acc"][-1])
