"""Noisy BatchNorm (Santurkar et al. 2018): BatchNorm whose training output gets a random per-channel shift and
scale, redrawn every step from the layer's own seeded generator, so the distributions it feeds forward are unstable."""

from __future__ import annotations

import torch
from torch import nn


def draw_noise(generator: torch.Generator, channels: int, amount: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) per channel: shift ~ U(-a, a), scale = exp(U(-a, a)): non-zero mean, non-unit variance."""
    u = torch.rand(2, channels, generator=generator) * 2 - 1  # U(-1, 1), one row for each
    return torch.exp(amount * u[0]), amount * u[1]


class _NoisyMixin:
    """Adds `amount`-sized noise after the BatchNorm forward in training; eval mode is plain BatchNorm."""

    def _init_noise(self, amount: float):
        self.amount = amount
        self.generator = torch.Generator().manual_seed(0)

    def seed(self, seed: int):
        """Restart the noise sequence: the same seed gives the same draws, step after step."""
        self.generator.manual_seed(seed)

    def forward(self, x):
        y = super().forward(x)
        if not self.training or not self.amount:
            return y
        scale, shift = (t.to(device=y.device, dtype=y.dtype) for t in draw_noise(self.generator, y.shape[1],
                                                                                 self.amount))
        view = (1, -1) + (1,) * (y.dim() - 2)  # per channel, broadcast over batch and pixels
        return y * scale.view(view) + shift.view(view)


class NoisyBatchNorm1d(_NoisyMixin, nn.BatchNorm1d):
    def __init__(self, num_features: int, amount: float, **kwargs):
        super().__init__(num_features, **kwargs)
        self._init_noise(amount)


class NoisyBatchNorm2d(_NoisyMixin, nn.BatchNorm2d):
    def __init__(self, num_features: int, amount: float, **kwargs):
        super().__init__(num_features, **kwargs)
        self._init_noise(amount)


def seed_noise(model: nn.Module, seed: int):
    """Seed every noisy BN of `model` from the run's seed and its position: deterministic per config."""
    layers = [m for m in model.modules() if isinstance(m, _NoisyMixin)]
    for i, layer in enumerate(layers):
        layer.seed(seed * 1_000 + 17 + i)  # distinct from the init and data-order seeds' streams
