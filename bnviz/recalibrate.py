"""Recalibration (PreciseBN): recompute every BatchNorm's running statistics as a cumulative average over many
batches, with the weights untouched, so eval mode normalizes with good population estimates."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Reset each BatchNorm's running_mean/var and recompute them over `batches` (train-mode forwards with
    momentum=None, PyTorch's cumulative average): afterwards running_mean is the mean of the per-batch means and
    running_var the mean of the per-batch unbiased variances. Weights, momentum and train/eval mode are restored
    as they were; the model is changed in place and returned."""
    layers = batchnorms(model)
    was_training, momenta = model.training, [m.momentum for m in layers]
    try:
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None
        model.train()
        for x in batches:
            model(x)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        model.train(was_training)
    return model


def batches_of(x: torch.Tensor, batch_size: int, n_batches: int, generator: torch.Generator):
    """`n_batches` batches of `batch_size` images of `x`, drawn without replacement within each pass, seeded."""
    order = torch.empty(0, dtype=torch.long)
    for _ in range(n_batches):
        if len(order) < batch_size:
            order = torch.randperm(len(x), generator=generator)
        index, order = order[:batch_size], order[batch_size:]
        yield x[index.to(x.device)]


@torch.no_grad()
def eval_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 256) -> float:
    """Eval-mode (running statistics) accuracy of `model` on (x, y); the model's mode is restored."""
    was_training = model.training
    model.eval()
    hits = sum(int((model(x[i: i + chunk]).argmax(1) == y[i: i + chunk]).sum()) for i in range(0, len(x), chunk))
    model.train(was_training)
    return hits / len(x)


def recalibration_gain(model: nn.Module, x_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                       batch_size: int, n_batches: int, seed: int = 0) -> dict[str, float]:
    """Eval-mode test accuracy before and after recalibrating a copy of `model` on `n_batches` training batches
    of `batch_size` (the original keeps its running statistics)."""
    before = eval_accuracy(model, x_test, y_test)
    fresh = recalibrate(copy.deepcopy(model),
                        batches_of(x_train, batch_size, n_batches, torch.Generator().manual_seed(seed)))
    return {"before": before, "after": eval_accuracy(fresh, x_test, y_test)}


@torch.no_grad()
def train_mode_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Accuracy on (x, y) in batches of `batch_size` through batch statistics, as in training; the running
    statistics and the model's mode are left as they were."""
    saved = {name: b.clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    n = len(x) - len(x) % batch_size or len(x)  # whole batches only: a last short batch has other statistics
    hits = sum(int((model(x[i: i + batch_size]).argmax(1) == y[i: i + batch_size]).sum())
               for i in range(0, n, batch_size))
    for name, buffer in model.named_buffers():
        buffer.copy_(saved[name])
    model.train(was_training)
    return hits / n
