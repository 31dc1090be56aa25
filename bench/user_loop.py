"""Contenders a and a+compile: the seed CNN trained as a PyTorch user writes it, sharing no code with bnviz.

nn.Sequential, Adam, cross-entropy, torch.randperm batches and its own data loading from the bundled .npz
with numpy. Nothing here imports bnviz, so whatever bnviz's model, data order or trainer costs, this loop
does not pay it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

NPZ = Path(__file__).resolve().parent.parent / "bnviz" / "assets" / "mnist_5k.npz"


def load_images(path: Path = NPZ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training images as float32 [N, 1, 28, 28], standardized with MNIST's published mean/std, and labels."""
    with np.load(path, allow_pickle=False) as npz:
        x, y = npz["x_train"], npz["y_train"]
    x = (x.reshape(-1, 1, 28, 28).astype(np.float32) / 255 - 0.1307) / 0.3081
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def seed_cnn(batchnorm: bool) -> nn.Sequential:
    """The article's model: conv(32) relu [BN] conv(64) relu [BN] flatten dense(10)."""
    layers = [nn.Conv2d(1, 32, 3), nn.ReLU()]
    layers += [nn.BatchNorm2d(32)] if batchnorm else []
    layers += [nn.Conv2d(32, 64, 3), nn.ReLU()]
    layers += [nn.BatchNorm2d(64)] if batchnorm else []
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 24 * 24, 10))


class UserLoop:
    """model(x) -> loss -> backward -> Adam, on randperm batches; `compiled` wraps the step in torch.compile."""

    def __init__(self, batch_size: int, batchnorm: bool, compiled: bool = False, seed: int = 0):
        torch.manual_seed(seed)
        self.x, self.y = load_images()
        self.batch_size = batch_size
        self.model = seed_cnn(batchnorm).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = nn.CrossEntropyLoss()
        self._order, self._next = torch.randperm(len(self.x)), 0
        self._step = torch.compile(self._train_step) if compiled else self._train_step

    def _train_step(self, x, y):
        loss = self.loss_fn(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def step(self, n: int):
        for _ in range(n):
            if self._next + self.batch_size > len(self.x):
                self._order, self._next = torch.randperm(len(self.x)), 0
            index = self._order[self._next: self._next + self.batch_size]
            self._next += self.batch_size
            self._step(self.x[index], self.y[index])
