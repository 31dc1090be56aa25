"""What every contender shares: the trainer's data order, the configs measured and the timing window."""

from __future__ import annotations

import time

import torch

from bnviz.config import RunConfig
from bnviz.data import load_dataset

WARMUP = 20  # steps before the clock starts: thread pool, allocator and lazy imports settle
# Timed steps per batch size: ~2-3 s per measurement for the slowest contender on a 2-core CPU.
STEPS = {8: 500, 32: 150, 128: 40, 512: 20}
QUICK_WARMUP, QUICK_STEPS = 5, {8: 40, 32: 20, 128: 6, 512: 4}


def config(job: dict) -> RunConfig:
    """The RunConfig of a job: the defaults except batch size, norm and enough steps for the window."""
    return RunConfig(batch_size=job["batch_size"], norm=job["norm"], seed=job.get("seed", 0),
                     steps=max(RunConfig().steps, job["warmup"] + job["steps"] + 1), device=job.get("device", "cpu"))


class Batches:
    """Trainer._next_batch's rule: a seeded randperm per pass, restarted when the next batch would not fit."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int):
        self.x, self.y, self.batch_size = x, y, batch_size
        self._order = torch.Generator().manual_seed(seed)
        self._epoch_order = torch.empty(0, dtype=torch.long)
        self.step = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        start = (self.step * self.batch_size) % len(self.x)
        if start + self.batch_size > len(self._epoch_order) or start == 0:
            self._epoch_order = torch.randperm(len(self.x), generator=self._order).to(self.x.device)
            start = 0
        index = self._epoch_order[start: start + self.batch_size]
        self.step += 1
        return self.x[index], self.y[index]

    def indices(self, steps: int) -> torch.Tensor:
        """The indices of the next `steps` batches, concatenated (for contenders that slice arrays themselves)."""
        saved = self.x, self.y
        self.x, self.y = torch.arange(len(self.x)), torch.arange(len(self.x))
        try:
            return torch.cat([self.next()[0] for _ in range(steps)])
        finally:
            self.x, self.y = saved


def train_tensors(device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    x_train, y_train, _, _ = load_dataset("mnist-5k").tensors(device)
    return x_train, y_train


def result(job: dict, seconds: float, **extra) -> dict:
    """samples/s of the timed window, with the job's identity."""
    return dict(job, seconds=seconds, samples_per_s=job["steps"] * job["batch_size"] / seconds, **extra)


def clock(device: str = "cpu") -> float:
    """perf_counter after the device has finished its queued work."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()
