"""Lockstep: the arms' Trainers stepped together in one thread, chunk by chunk, never a chunk apart.

It has the interface of a Trainer that LiveRun steps (`step(n)`, `done`, `steps_done`, `record`, `stop()`),
so a live comparison is one LiveRun holding one limiter slot. An arm that diverges or fails stops alone.
"""

from __future__ import annotations

from typing import Callable

from bnviz.compare import ArmError, Comparison
from bnviz.comparison_record import ComparisonRecord
from bnviz.config import ConfigError
from bnviz.data import Dataset, load_dataset
from bnviz.trainer import Trainer


class Lockstep:
    """Train every arm of `comparison`: `step(n)` runs n more steps of each arm still running."""

    def __init__(self, comparison: Comparison, dataset: Dataset | None = None,
                 make_trainer: Callable = Trainer):
        self.comparison = comparison
        datasets: dict[str, Dataset] = {}  # each dataset loaded once, shared by the arms that use it
        self.trainers = []
        for i, cfg in enumerate(comparison.configs, start=1):
            if dataset is None and cfg.dataset not in datasets:
                datasets[cfg.dataset] = load_dataset(cfg.dataset)
            try:
                self.trainers.append(make_trainer(cfg, dataset or datasets[cfg.dataset]))
            except ConfigError as err:  # e.g. device cuda on a machine without it
                raise ArmError(i, comparison.arms[i - 1].label, err) from None
        self.record = ComparisonRecord(comparison.labels, [t.record for t in self.trainers])

    @property
    def done(self) -> bool:
        return all(self._arm_done(i) for i in range(len(self.trainers)))

    @property
    def steps_done(self) -> int:
        """The furthest arm's steps (the arms still running are all there, or one chunk behind)."""
        return max(t.steps_done for t in self.trainers)

    @property
    def mode(self) -> str:
        """How the arms run their plain steps (Trainer.mode): one word when they agree, else each arm's."""
        modes = [t.mode for t in self.trainers]
        return modes[0] if len(set(modes)) == 1 else ", ".join(modes)

    def _arm_done(self, i: int) -> bool:
        return self.record.failed[i] or self.trainers[i].done

    def step(self, n: int = 1) -> ComparisonRecord:
        """n more steps of every arm still running, one arm after the other."""
        for i, trainer in enumerate(self.trainers):
            if self._arm_done(i):
                continue
            try:
                trainer.step(n)
            except Exception as err:  # this arm stops, the others go on
                message = f"failed at step {trainer.steps_done}: {type(err).__name__}: {err}"
                self.record.fail(i, message)
                trainer.fail(message)  # its record says failed too; the steps before are kept
                continue
            if trainer.record.status == "diverged":
                self.record.messages[i] = (f"diverged at step {trainer.record.status_step} "
                                           "(the loss became NaN or Inf)")
        return self.record

    def fail(self, message: str):
        """End every arm still running as failed (an error outside any one arm's step, e.g. in LiveRun)."""
        for i, trainer in enumerate(self.trainers):
            if not self._arm_done(i):
                self.record.fail(i, message)
                trainer.fail(message)

    def stop(self):
        """End every arm still running; the records so far are kept (status `stopped`)."""
        for i, trainer in enumerate(self.trainers):
            if not self.record.failed[i]:
                trainer.stop()

