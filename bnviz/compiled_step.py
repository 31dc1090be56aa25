"""CompiledStep: a whole plain training step (forward, loss, backward, grad norms, optimizer) through torch.compile.

Two compiled functions, both pure in the run's tensors (passed in as arguments, never captured):
- the forward: a hook-free twin of the model called with `torch.func.functional_call` on the run's parameters
  and buffers, with the loss and batch accuracy; its backward (compiled by AOTAutograd) fills the parameters'
  .grad and the forward updates BatchNorm's running statistics in place, as the eager step does;
- the update: each weight layer's gradient norm and torch.optim's own functional Adam / SGD (`adam.adam`,
  `sgd.sgd`, with the run optimizer's hyperparameters) on the run optimizer's state tensors, in place. The eager
  recorded steps call that optimizer's `step()` on the same state, so both kinds of step share everything.
Each is compiled and warmed up on scratch copies in a background thread while the run trains eager on the real
tensors (nothing the run owns is touched before the swap). Dynamo guards on shapes and dtypes, not identity, so
the real tensors reuse the graphs, and every later run of the same shapes in this process (a sweep worker's grid)
reuses them without compiling again (`shared`): the forward per architecture and batch shape, the update per
optimizer and its hyperparameters too (they are constants in its graph).
"""

from __future__ import annotations

import copy
import os
import shutil
import threading
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from bnviz.config import RunConfig

_SHARED: dict[tuple, "_Background"] = {}
_LOCK = threading.Lock()


def unavailable(device: torch.device) -> str | None:
    """Why torch.compile cannot run on `device` here, or None."""
    if device.type not in ("cpu", "cuda"):
        return f"inductor does not support {device.type}"
    if device.type == "cpu" and not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++")):
        return "no C++ compiler found (Debian/Ubuntu: apt-get install g++)"
    return None


def graph_key(cfg: RunConfig, device: torch.device) -> tuple:
    """What the compiled forward depends on: the architecture, the norm's constants and the batch shape."""
    return (cfg.model, cfg.norm, cfg.placement, cfg.eps, cfg.momentum, cfg.affine, cfg.groups, cfg.activation,
            cfg.batch_size, str(device))


class _Background:
    """`fn` through torch.compile, compiled and warmed up by `warm(compiled, *scratch)` in a background thread."""

    def __init__(self, fn: Callable, warm: Callable, scratch: tuple):
        self._compiled = torch.compile(fn, dynamic=False)
        self.ready, self.error = threading.Event(), None
        threading.Thread(target=self._warm_up, args=(warm, scratch), name="bnviz-compile", daemon=True).start()

    def _warm_up(self, warm, scratch):
        try:
            for _ in range(2):  # the second call runs what the first compiled: no lazy work left for the run
                warm(self._compiled, *scratch)
        except Exception as err:  # noqa: BLE001  any compiler failure means: train eager
            self.error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:160]
        finally:
            self.ready.set()

    def __call__(self, *args):
        return self._compiled(*args)


class _Forward:
    """The model's forward, loss and batch accuracy as a function of (params, buffers, x, y)."""

    def __init__(self, model: nn.Module):
        self.twin = copy.deepcopy(model).train()
        for module in self.twin.modules():  # the recorder's hooks stay on the run's model (recorded steps)
            module._forward_hooks.clear()
            module._forward_pre_hooks.clear()
        self.loss_fn = nn.CrossEntropyLoss()

    def __call__(self, params, buffers, x, y):
        logits = functional_call(self.twin, (params, buffers), (x,))
        loss = self.loss_fn(logits, y)
        return loss, (logits.detach().argmax(1) == y).float().mean()

    @staticmethod
    def warm(compiled, params, buffers, x, y):
        loss, _ = compiled(params, buffers, x, y)
        loss.backward()


def _state(optimizer: torch.optim.Optimizer) -> tuple[list, ...]:
    """The optimizer's per-parameter state tensors, as lists in parameter order (what `_Update` takes)."""
    params = optimizer.param_groups[0]["params"]
    if isinstance(optimizer, torch.optim.Adam):
        return tuple([optimizer.state[p][k] for p in params] for k in ("exp_avg", "exp_avg_sq", "step"))
    return ()


class _Update:
    """Grad norms of the weight layers, then the optimizer's update, as a function of (params, grads, *state)."""

    def __init__(self, optimizer: torch.optim.Optimizer, weight_index: list[int]):
        self.group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
        self.adam = isinstance(optimizer, torch.optim.Adam)
        supported = len(optimizer.param_groups) == 1 and (
            (self.adam and not self.group["amsgrad"]) or
            (type(optimizer) is torch.optim.SGD and self.group["momentum"] == 0))
        # Raised by the background compile, so the run goes on eager and its mode says why.
        self.unsupported = None if supported else "compiled update: Adam (no amsgrad) or SGD (no momentum), one group"
        self.weight_index = weight_index

    def key(self) -> tuple:
        return ("adam" if self.adam else "sgd", tuple(sorted((k, str(v)) for k, v in self.group.items())))

    def __call__(self, params, grads, *state):
        if self.unsupported:
            raise ValueError(self.unsupported)
        with torch.no_grad():
            grad_norm = torch.stack(torch._foreach_norm([grads[i] for i in self.weight_index]))
            g = self.group
            if self.adam:
                exp_avgs, exp_avg_sqs, steps = state
                adam(params, grads, exp_avgs, exp_avg_sqs, [], steps, foreach=g["foreach"],
                                      capturable=g["capturable"], differentiable=g["differentiable"],
                                      fused=g["fused"], decoupled_weight_decay=g["decoupled_weight_decay"],
                          amsgrad=False, beta1=g["betas"][0], beta2=g["betas"][1], lr=g["lr"],
                                      weight_decay=g["weight_decay"], eps=g["eps"], maximize=g["maximize"])
            else:
                sgd(params, grads, [None] * len(params), foreach=g["foreach"], fused=g["fused"],
                                    weight_decay=g["weight_decay"], momentum=0, lr=g["lr"], dampening=g["dampening"],
                                    nesterov=g["nesterov"], maximize=g["maximize"])
        return grad_norm

    def scratch(self, params: list[torch.Tensor]) -> tuple:
        """Stand-ins for (params, grads, *state) of the same shapes, dtypes and devices."""
        copies = [nn.Parameter(p.detach().clone()) for p in params]
        state = ([torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params],
                 [torch.tensor(0.0) for _ in params]) if self.adam else ()
        return (copies, [torch.zeros_like(p) for p in params], *state)

    @staticmethod
    def warm(compiled, *args):
        compiled(*args)


def _shared(key: tuple, build: Callable[[], _Background]) -> _Background:
    with _LOCK:
        if key not in _SHARED or _SHARED[key].error:
            _SHARED[key] = build()
        return _SHARED[key]


class CompiledStep:
    """One run's compiled step: `forward_backward(x, y) -> (loss, accuracy)` fills the parameters' .grad (plain
    steps; recorded steps run their forward/backward eager with hooks), then `update() -> grad_norm` applies
    the optimizer (every step). Usable once `is_ready()` and `error` is None."""

    def __init__(self, cfg: RunConfig, device: torch.device, model: nn.Module, optimizer: torch.optim.Optimizer,
                 weights: list[nn.Parameter], x: torch.Tensor, y: torch.Tensor):
        self.model, self.optimizer = model, optimizer
        self.params, self.buffers = dict(model.named_parameters()), dict(model.named_buffers())
        self._param_list = optimizer.param_groups[0]["params"]
        self._state: tuple | None = None  # Adam's state exists after its first step
        scratch = lambda: ({name: nn.Parameter(p.detach().clone()) for name, p in self.params.items()},  # noqa: E731
                           {name: b.detach().clone() for name, b in self.buffers.items()}, x.clone(), y.clone())
        self.forward = _shared(graph_key(cfg, device),
                               lambda: _Background(_Forward(model), _Forward.warm, scratch()))
        ids = [id(p) for p in self._param_list]
        update = _Update(optimizer, [ids.index(id(w)) for w in weights])
        self._weights, self._adam = weights, update.adam
        self.update_fn = _shared(graph_key(cfg, device) + update.key(),
                                 lambda: _Background(update, _Update.warm, update.scratch(self._param_list)))

    @property
    def error(self) -> str | None:
        return self.forward.error or self.update_fn.error

    def is_ready(self) -> bool:
        return self.forward.ready.is_set() and self.update_fn.ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.forward.ready.wait(timeout) and self.update_fn.ready.wait(timeout)

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor):
        loss, accuracy = self.forward(self.params, self.buffers, x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return loss, accuracy

    def update(self) -> torch.Tensor:
        if self._state is None:
            if self._adam and not self.optimizer.state:  # torch.optim creates Adam's state in its first step
                grad_norm = torch.stack(torch._foreach_norm([w.grad for w in self._weights]))
                self.optimizer.step()
                return grad_norm
            self._state = _state(self.optimizer)
        return self.update_fn(self._param_list, [p.grad for p in self._param_list], *self._state)
