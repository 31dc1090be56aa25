"""The microscope page's memory: which model it looks at and its last forward pass, so moving eps or the
channel costs milliseconds and only a new batch size, site or model runs the network again."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from bnviz import microscope
from bnviz.config import RunConfig
from bnviz.data import DatasetUnavailable, load_dataset
from bnviz.ui.session import LabSession
from bnviz.models import build_model


@dataclass
class Scope:
    """Kept in the LabSession: the model looked at and the last capture."""

    model_key: tuple | None = None
    model: nn.Module | None = None
    capture_key: tuple | None = None
    capture: microscope.Capture | None = None
    timings: dict = field(default_factory=dict)
    dataset_note: str | None = None  # the batch came from the bundled set instead of the one asked for
    dataset_error: str | None = None  # why: the loader's whole message (mirrors tried, where to put the file)


def scope_of(lab: LabSession) -> Scope:
    if not isinstance(lab.microscope, Scope):
        lab.microscope = Scope()
    return lab.microscope


def lab_step(lab: LabSession) -> int | None:
    """The step the lab's model is at, or None when there is no trained model."""
    run = lab.run
    return run.trainer.steps_done if run is not None and run.trainer is not None else None


def lab_model_step(lab: LabSession) -> int | None:
    """The step of the lab model copy the microscope holds, or None when it holds none of this run."""
    key = scope_of(lab).model_key
    if key is None or key[0] != "lab" or lab.run is None or key[1] != id(lab.run):
        return None
    return key[2]


def use_fresh_model(lab: LabSession, cfg: RunConfig):
    scope = scope_of(lab)
    if scope.model_key != ("fresh", cfg):
        scope.model_key, scope.model = ("fresh", cfg), build_model(cfg)


def use_lab_model(lab: LabSession) -> int | None:
    """Copy the lab's model as it is now (between two training chunks); its step, or None without one."""
    run = lab.run
    if run is None:
        return None
    with run.holding_trainer() as trainer:
        if trainer is None:
            return None
        model, step = copy.deepcopy(trainer.model), trainer.steps_done
    scope = scope_of(lab)
    scope.model_key, scope.model = ("lab", id(run), step), model
    return step


def look(lab: LabSession, cfg: RunConfig, site: str, batch_size: int, eps: float,
         channel: int | None) -> microscope.Look:
    """The Look for these choices; runs the model again only when the model, batch size or site changed."""
    scope = scope_of(lab)
    started = time.perf_counter()
    key = (scope.model_key, cfg.dataset, batch_size, site)
    forward_ms = None
    if scope.capture_key != key:
        with torch.no_grad():
            images = microscope.batch_of(_dataset(scope, cfg.dataset), batch_size, seed=cfg.seed)
            scope.capture = microscope.capture(scope.model, images, site)
        scope.capture_key = key
        forward_ms = (time.perf_counter() - started) * 1000
    result = microscope.examine(scope.capture, eps, channel)
    scope.timings = {"total_ms": (time.perf_counter() - started) * 1000, "forward_ms": forward_ms}
    return result


def _dataset(scope: Scope, name: str):
    """The dataset asked for, or the bundled one when it cannot be had (offline, no cached copy): the page
    says why (scope.dataset_note). Every dataset here is 28x28 grey digits or clothes, so any model fits it."""
    scope.dataset_note = scope.dataset_error = None
    try:
        return load_dataset(name)
    except DatasetUnavailable as err:
        scope.dataset_note = (f"dataset={name!r} cannot be loaded here (no network and no cached copy, or a bad "
                              "download): the microscope shows a batch of the bundled set (mnist-5k) instead.")
        scope.dataset_error = str(err)
        return load_dataset("mnist-5k")
