"""How a reproduction's runs execute: arms compared with each other through the compare engine
(bnviz.lockstep.Lockstep, a few arms stepped together in this process, so a live figure fills in for all of
them at once), a grid of independent runs through the sweep engine's backends (bnviz.backends: a pool of
processes here, or Ray tasks on a cluster)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bnviz.compare import MAX_ARMS, Arm, Comparison, label_for
from bnviz.config import RunConfig
from bnviz.data import Dataset
from bnviz.lockstep import Lockstep
from bnviz.record import RunRecord
from bnviz.sweep import run_key
from bnviz.trainer import Trainer

CHUNK = 50  # steps between progress calls: often enough for a live figure, rare enough to cost nothing


@dataclass
class Run:
    """One finished (or diverged) run: its config, its record, and what `finish` measured on the trained model."""

    config: RunConfig
    record: RunRecord
    extra: dict = field(default_factory=dict)


# progress(runs so far, the last ones possibly still training; steps done; steps in all)
Progress = Callable[[list[Run], int, int], None]
# finish(trainer) -> plain numbers measured on the trained model (it must not train it further); a top-level
# function, since the sweep engine calls it in its worker processes
Finish = Callable[[Trainer], dict]
# probe(trainer) -> {name: array} after every training step, leaving the model as it was (bnviz.probe); each
# run's extra["probe"][name] is then the list of them, one per step
Probe = Callable[[Trainer], dict]


def comparison_of(configs: Sequence[RunConfig]) -> Comparison:
    """The configs as a Comparison: the first is the base, each arm overrides what differs from it."""
    base = configs[0].to_params()
    arms = []
    for i, cfg in enumerate(configs, start=1):
        overrides = {k: v for k, v in cfg.to_params().items() if base.get(k) != v}
        arms.append(Arm(f"{i}: {label_for(overrides)}", overrides))  # numbered: labels must differ
    return Comparison(configs[0], tuple(arms))


def groups(n: int, size: int = MAX_ARMS) -> list[range]:
    """n arms in consecutive groups of at most `size`, as even as possible (9 -> 3, 3, 3; never a group of 1)."""
    count = math.ceil(n / size)
    bounds = [round(k * n / count) for k in range(count + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def train_arms(configs: Sequence[RunConfig], progress: Progress | None = None, finish: Finish | None = None,
               dataset: Dataset | None = None, probe: Probe | None = None) -> list[Run]:
    """Train arms that are compared with each other (same data, different knobs) through Lockstep, a few at a
    time (a comparison holds at most MAX_ARMS); one Run per config, in order."""
    if len(configs) < 2:
        raise ValueError(f"{len(configs)} arm(s): arms are compared, so there must be at least 2")
    total, runs, before = sum(cfg.steps for cfg in configs), [], 0
    for group in groups(len(configs)):
        lockstep = Lockstep(comparison_of([configs[i] for i in group]), dataset)
        group_runs = [Run(configs[i], t.record, {"probe": {}} if probe else {})
                      for i, t in zip(group, lockstep.trainers)]
        runs += group_runs
        while not lockstep.done:
            _advance(lockstep, group_runs, probe)
            if progress:
                progress(runs, before + _steps(lockstep), total)
        for k, (trainer, run) in enumerate(zip(lockstep.trainers, group_runs)):
            if lockstep.record.failed[k]:
                raise RuntimeError(f"a run failed: {lockstep.record.messages[k]}")
            trainer.recorder.close()
            run.extra.update(finish(trainer) if finish else {})
        before += sum(t.cfg.steps for t in lockstep.trainers)
        if progress:
            progress(runs, before, total)
    return runs


def _advance(lockstep: Lockstep, group_runs: list[Run], probe: Probe | None):
    """CHUNK more steps of every arm; with a probe one step at a time, probing each arm that trained that step."""
    if probe is None:
        lockstep.step(CHUNK)
        return
    for _ in range(CHUNK):
        if lockstep.done:
            return
        running = [not t.done for t in lockstep.trainers]
        lockstep.step(1)
        for was_running, trainer, run in zip(running, lockstep.trainers, group_runs):
            if was_running and trainer.record.status in ("running", "finished"):  # not after a divergence
                add_probe(run.extra["probe"], probe(trainer))


def add_probe(probes: dict, measured: dict):
    for name, value in measured.items():
        probes.setdefault(name, []).append(value)


def _steps(lockstep: Lockstep) -> int:
    """Steps done by the arms (an arm that ended early, e.g. diverged, counts all its steps as done)."""
    return sum(t.cfg.steps if t.done else t.steps_done for t in lockstep.trainers)


def train_grid(configs: Sequence[RunConfig], progress: Progress | None = None, finish: Finish | None = None,
               dataset: Dataset | None = None, backend=None, probe: Probe | None = None) -> list[Run]:
    """Train a grid of independent runs through the sweep engine: `backend` (bnviz.backends.make_backend; by
    default the local pool, one 1-thread worker per core) trains them where it trains a sweep's runs, each with
    its full record and `finish`'s numbers. One Run per config, in order; `progress` as each run lands.
    (`dataset` is not used: each worker loads its own, from the same files.)"""
    from bnviz.backends import make_backend

    backend = backend or make_backend("local")
    backend.keep_record, backend.finish, backend.probe = True, finish, probe  # what a reproduction measures
    keys = {run_key(cfg): i for i, cfg in enumerate(configs)}
    total, done, landed = sum(cfg.steps for cfg in configs), 0, {}
    results = backend.results(list(configs))
    try:
        for result in results:
            if result.status == "failed":
                raise RuntimeError(f"a run failed ({result.config.to_params()}): {result.message}")
            i = keys[result.key]
            landed[i] = Run(configs[i], result.record, result.extra)
            done += configs[i].steps
            if progress:
                progress([landed[k] for k in sorted(landed)], done, total)
    finally:
        results.close()  # an error or a stop: the backend frees its workers now
    return [landed[i] for i in range(len(configs))]
