"""Contender a, the limit: the same model, optimizer and batches as the Trainer, in a bare loop that records nothing."""

from __future__ import annotations

import torch
from torch import nn

from bench.common import Batches, clock, config, result, train_tensors
from bnviz.models import build_model


class BareLoop:
    """build_model(cfg) + Adam + cross-entropy, fed by the Trainer's data order."""

    def __init__(self, job: dict, flush_denormal: bool = True):
        if flush_denormal:  # as the Trainer does, before the first parallel op
            torch.set_flush_denormal(True)
        cfg = config(job)
        self.device = cfg.device
        x, y = train_tensors(cfg.device)
        self.batches = Batches(x, y, cfg.batch_size, cfg.seed)
        self.model = build_model(cfg).to(cfg.device).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.loss_fn = nn.CrossEntropyLoss()

    def step(self, n: int):
        for _ in range(n):
            x, y = self.batches.next()
            loss = self.loss_fn(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

    def step_times(self, n: int) -> list[float]:
        """Milliseconds of each of n steps (for drift)."""
        times = []
        for _ in range(n):
            start = clock(self.device)
            self.step(1)
            times.append((clock(self.device) - start) * 1000)
        return times


def measure(job: dict) -> dict:
    if job.get("threads"):  # this process only (a forked worker)
        torch.set_num_threads(job["threads"])
    loop = BareLoop(job)
    loop.step(job["warmup"])
    start = clock(loop.device)
    loop.step(job["steps"])
    return result(job, clock(loop.device) - start)
