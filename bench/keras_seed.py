"""Contender c, the peer: the article's Keras program (Keras 3, torch backend) on the same batches, timed in fit."""

from __future__ import annotations

import os
import warnings

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: the backend is read once, at import

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.layers import BatchNormalization, Conv2D, Dense, Flatten  # noqa: E402
from keras.models import Sequential  # noqa: E402

from bench.common import Batches, clock, config, result, train_tensors  # noqa: E402

assert keras.backend.backend() == "torch", f"Keras runs on {keras.backend.backend()}, not torch"


def article_model(batchnorm: bool) -> Sequential:
    """The seed article's program; without BN it is the same model with the BatchNormalization layers removed."""
    model = Sequential()
    with warnings.catch_warnings():  # Keras 3 prefers keras.Input to input_shape; kept as the article wrote it
        warnings.simplefilter("ignore", UserWarning)
        model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    if batchnorm:
        model.add(BatchNormalization())
    model.add(Conv2D(64, (3, 3), activation="relu"))
    if batchnorm:
        model.add(BatchNormalization())
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


class BatchClock(keras.callbacks.Callback):
    """perf_counter at the end of every training batch."""

    def __init__(self, device: str):
        super().__init__()
        self.device, self.ends = device, []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(clock(self.device))


def measure(job: dict) -> dict:
    cfg = config(job)
    keras.utils.set_random_seed(cfg.seed)
    x, y = train_tensors("cpu")  # bnviz's normalization: (pixel/255 - mean) / std
    total = job["warmup"] + job["steps"]
    # The Trainer's batches laid end to end; fit slices them in order (shuffle=False).
    index = Batches(x, y, cfg.batch_size, cfg.seed).indices(total).numpy()
    images = x.numpy()[index].transpose(0, 2, 3, 1).copy()  # NHWC, Keras's default layout
    labels = np.eye(10, dtype=np.float32)[y.numpy()[index]]  # one-hot for categorical_crossentropy
    model = article_model(cfg.norm == "batch")
    timer = BatchClock(str(cfg.device))
    # verbose=0: the progress bar's printing is not the program's training work.
    model.fit(images, labels, epochs=1, batch_size=cfg.batch_size, shuffle=False, verbose=0, callbacks=[timer])
    assert len(timer.ends) == total, f"fit ran {len(timer.ends)} batches, expected {total}"
    # From the end of the last warm-up batch to the end of the last timed one.
    return result(job, timer.ends[-1] - timer.ends[job["warmup"] - 1], keras_version=keras.__version__)
