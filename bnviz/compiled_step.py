"""CompiledStep: a plain training step's forward, loss and accuracy through torch.compile, built in the background.

The compiled function is pure in the run's tensors: it calls a hook-free twin of the model with
`torch.func.functional_call`, the run's own parameters and buffers passed in as arguments. So
- it is compiled and warmed up on scratch copies in a background thread while the run trains eager on the
  real tensors (nothing the run owns is touched until the swap);
- after the swap, the step updates the run's parameters' .grad and BatchNorm's running statistics in place,
  exactly what the eager step updates, and the run's own optimizer steps on them;
- dynamo guards only on the tensors' shapes and dtypes, so every later run of the same shapes in this process
  (a sweep worker's grid) reuses it without compiling again (`shared`).
"""

from __future__ import annotations

import copy
import os
import shutil
import threading

import torch
from torch import nn
from torch.func import functional_call

from bnviz.config import RunConfig

_SHARED: dict[tuple, "CompiledStep"] = {}
_LOCK = threading.Lock()


def unavailable(device: torch.device) -> str | None:
    """Why torch.compile cannot run on `device` here, or None."""
    if device.type not in ("cpu", "cuda"):
        return f"inductor does not support {device.type}"
    if device.type == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++")):
        return "no C++ compiler found (Debian/Ubuntu: apt-get install g++)"
    return None


def graph_key(cfg: RunConfig, device: torch.device) -> tuple:
    """What the compiled graph depends on: the architecture, the norm's constants and the batch shape."""
    return (cfg.model, cfg.norm, cfg.placement, cfg.eps, cfg.momentum, cfg.affine, cfg.groups, cfg.activation,
            cfg.batch_size, str(device))


class CompiledStep:
    """`step(params, buffers, x, y) -> (loss, accuracy)`; usable once `ready` is set and `error` is None."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        self.twin = copy.deepcopy(model).train()
        for module in self.twin.modules():  # the recorder's hooks stay on the run's model (recorded steps)
            module._forward_hooks.clear()
            module._forward_pre_hooks.clear()
        self.loss_fn = nn.CrossEntropyLoss()
        self._compiled = torch.compile(self._forward, dynamic=False)
        self.ready, self.error = threading.Event(), None
        scratch = ({name: nn.Parameter(p.detach().clone()) for name, p in model.named_parameters()},
                   {name: b.detach().clone() for name, b in model.named_buffers()}, x.clone(), y.clone())
        self._thread = threading.Thread(target=self._warm_up, args=scratch, name="bnviz-compile", daemon=True)
        self._thread.start()

    def _forward(self, params, buffers, x, y):
        logits = functional_call(self.twin, (params, buffers), (x,))
        loss = self.loss_fn(logits, y)
        return loss, (logits.detach().argmax(1) == y).float().mean()

    def _warm_up(self, params, buffers, x, y):
        try:
            for _ in range(2):  # the second call runs what the first compiled: no lazy work left for the run
                loss, _ = self._compiled(params, buffers, x, y)
                loss.backward()
        except Exception as err:  # noqa: BLE001  any compiler failure means: train eager
            self.error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:160]
        finally:
            self.ready.set()

    def __call__(self, params, buffers, x, y):
        return self._compiled(params, buffers, x, y)

    def wait(self, timeout: float | None = None) -> bool:
        return self.ready.wait(timeout)


def shared(cfg: RunConfig, device: torch.device, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> CompiledStep:
    """This process's CompiledStep for the shapes of `cfg`, started on first request."""
    key = graph_key(cfg, device)
    with _LOCK:
        if key not in _SHARED or _SHARED[key].error:
            _SHARED[key] = CompiledStep(model, x, y)
        return _SHARED[key]
