"""How a reproduction's runs execute, behind one small seam: today bnviz.trainer.Trainer one run after another;
the compare engine (paired arms in lockstep) and the sweep engine (a grid on a pool or Ray) replace it here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bnviz.config import RunConfig
from bnviz.data import Dataset, load_dataset
from bnviz.record import RunRecord
from bnviz.trainer import Trainer

CHUNK = 50  # steps between progress calls: often enough for a live figure, rare enough to cost nothing


@dataclass
class Run:
    """One finished (or diverged) run: its config, its record, and what `finish` measured on the trained model."""

    config: RunConfig
    record: RunRecord
    extra: dict = field(default_factory=dict)


# progress(runs so far, the last one possibly still training; steps done; steps in all)
Progress = Callable[[list[Run], int, int], None]
# finish(trainer) -> plain numbers measured on the trained model (it must not train it further)
Finish = Callable[[Trainer], dict]


def train_arms(configs: Sequence[RunConfig], progress: Progress | None = None, finish: Finish | None = None,
               dataset: Dataset | None = None) -> list[Run]:
    """Train arms that are compared with each other (same data, different knobs); one Run per config, in order."""
    total, done, runs = sum(cfg.steps for cfg in configs), 0, []
    for cfg in configs:
        trainer = Trainer(cfg, dataset or load_dataset(cfg.dataset))
        run = Run(cfg, trainer.record)
        runs.append(run)
        while not trainer.done:
            before = trainer.steps_done
            trainer.step(CHUNK)
            done += trainer.steps_done - before
            if progress:
                progress(runs, done, total)
        done += cfg.steps - trainer.steps_done  # a diverged run ends early: its remaining steps count as done
        trainer.recorder.close()
        run.extra = finish(trainer) if finish else {}
        if progress:
            progress(runs, done, total)
    return runs


def train_grid(configs: Sequence[RunConfig], progress: Progress | None = None, finish: Finish | None = None,
               dataset: Dataset | None = None) -> list[Run]:
    """Train a grid of independent runs (a sweep); one Run per config, in order. Today the same loop as
    train_arms; the sweep engine will spread it over processes."""
    return train_arms(configs, progress, finish, dataset)
