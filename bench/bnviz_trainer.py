"""Contender b: bnviz's Trainer recording at its default cadence, timed around trainer.step(k)."""

from __future__ import annotations

import numpy as np

from bench.common import clock, config, result
from bnviz.trainer import Trainer


def measure(job: dict) -> dict:
    trainer = Trainer(config(job))
    trainer.step(job["warmup"])
    start = clock(str(trainer.device))
    record = trainer.step(job["steps"])
    seconds = clock(str(trainer.device)) - start
    assert trainer.steps_done == job["warmup"] + job["steps"], "the run ended early"
    steps = record.steps["step"]
    window = steps >= job["warmup"]
    evals = record.evals["step"] if len(record.evals) else np.zeros(0)
    snapshots = record.snapshots["step"]
    # The trainer's own clock leaves out test-set evaluations: the difference is their cost.
    train_only = float(record.steps["ms_per_step"][window].sum()) / 1000
    return result(job, seconds, train_only_seconds=train_only,
                  evals_in_window=int(((evals > job["warmup"]) & (evals <= job["warmup"] + job["steps"])).sum()),
                  snapshots_in_window=int((snapshots >= job["warmup"]).sum()))
