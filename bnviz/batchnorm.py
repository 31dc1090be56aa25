"""Batch Normalization written out from Ioffe & Szegedy's equations in numpy, for teaching and checking.

`normalize` is Algorithm 1 (train mode, batch statistics); `update_running` is the running-statistics
rule PyTorch uses; `normalize_eval` is the inference transform. tests/test_batchnorm.py holds these
against torch.nn.BatchNorm1d/2d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def reduce_axes(x: np.ndarray) -> tuple[int, ...]:
    """Statistics are per channel (axis 1) over the batch and every spatial position."""
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


@dataclass
class RunningStats:
    """The running estimates BN keeps of its *input* statistics (not of its output)."""

    mean: np.ndarray
    var: np.ndarray
    batches: int = 0

    @classmethod
    def fresh(cls, channels: int) -> "RunningStats":
        return cls(np.zeros(channels), np.ones(channels))  # PyTorch starts at mean 0, var 1


def batch_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance (divide by m = N*H*W), the ones BN normalizes with."""
    axes = reduce_axes(x)
    return x.mean(axis=axes), x.var(axis=axes)


def normalize(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Train mode: y = gamma * (x - mu_B) / sqrt(var_B + eps) + beta."""
    mean, var = batch_stats(x)
    x_hat = (x - _per_channel(mean, x.ndim)) / np.sqrt(_per_channel(var, x.ndim) + eps)
    return _per_channel(gamma, x.ndim) * x_hat + _per_channel(beta, x.ndim)


def update_running(stats: RunningStats, x: np.ndarray, momentum: float | None) -> RunningStats:
    """running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance.

    momentum None is a cumulative average over all batches so far (PyTorch's convention).
    """
    mean, var = batch_stats(x)
    m = x.size // x.shape[1]
    unbiased = var * m / (m - 1)
    batches = stats.batches + 1
    factor = 1.0 / batches if momentum is None else momentum
    return RunningStats((1 - factor) * stats.mean + factor * mean,
                        (1 - factor) * stats.var + factor * unbiased, batches)


def normalize_eval(x: np.ndarray, stats: RunningStats, gamma: np.ndarray, beta: np.ndarray,
                   eps: float) -> np.ndarray:
    """Eval mode: the same transform with the running statistics in place of the batch's."""
    x_hat = (x - _per_channel(stats.mean, x.ndim)) / np.sqrt(_per_channel(stats.var, x.ndim) + eps)
    return _per_channel(gamma, x.ndim) * x_hat + _per_channel(beta, x.ndim)


def keras_momentum(pytorch_momentum: float | None) -> float | None:
    """Keras writes moving = moving * m + batch * (1 - m): its m is 1 - PyTorch's."""
    return None if pytorch_momentum is None else 1.0 - pytorch_momentum


def post_std(var, eps: float) -> np.ndarray:
    """The std BN leaves (gamma 1) in a channel of batch variance var: sqrt(var / (var + eps)). Far above
    eps that is 1; near eps the channel is squashed towards 0 instead of being scaled up."""
    var = np.asarray(var, dtype=np.float64)
    return np.sqrt(var / (var + eps))
