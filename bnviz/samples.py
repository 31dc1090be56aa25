"""A few test digits through a trainer's model in eval mode: the images, their labels and the model's guesses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SAMPLE_COUNT = 8


@dataclass(frozen=True)
class Samples:
    """`images` [n, height, width] as the model sees them (normalized), `labels` and `predictions` [n],
    `confidence` [n] (softmax probability of the guess), at training step `step`."""

    images: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    confidence: np.ndarray
    step: int


@torch.no_grad()
def predict_samples(trainer, n: int = SAMPLE_COUNT) -> Samples:
    """The first `n` test images through the model in eval mode (running statistics: nothing in the model
    moves), as a test-set evaluation sees them. The caller keeps the trainer from stepping meanwhile
    (bnviz.live.LiveRun.holding_trainer)."""
    model, was_training = trainer.model, trainer.model.training
    x, y = trainer.x_test[:n], trainer.y_test[:n]
    model.eval()
    try:
        probabilities = torch.softmax(model(x).float(), dim=1)
    finally:
        model.train(was_training)
    confidence, predictions = probabilities.max(dim=1)
    return Samples(images=x.reshape(len(x), *x.shape[-2:]).cpu().numpy(), labels=y.cpu().numpy(),
                   predictions=predictions.cpu().numpy(), confidence=confidence.cpu().numpy(),
                   step=int(trainer.steps_done))
