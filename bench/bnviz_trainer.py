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
    evals_in_window = int(((evals > job["warmup"]) & (evals <= job["warmup"] + job["steps"])).sum())
    # One evaluation on its own: spread over its cadence it gives the steady-state rate (a window of a few
    # hundred steps holds two evaluations, or none, depending on the batch size). The second is timed:
    # a process's first evaluation also builds the kernels for the test-chunk shapes, once per run.
    for _ in range(2):
        eval_start = clock(str(trainer.device))
        trainer.evaluate()
        eval_seconds = clock(str(trainer.device)) - eval_start
    amortized = train_only + eval_seconds * job["steps"] / trainer.cfg.eval_interval
    return result(job, seconds, train_only_seconds=train_only, eval_seconds=eval_seconds,
                  amortized_seconds=amortized, eval_interval=trainer.cfg.eval_interval,
                  evals_in_window=evals_in_window,
                  snapshots_in_window=int((snapshots >= job["warmup"]).sum()))
