"""The seed CNN (the article's Keras model) and the BN paper's MLP, built from a RunConfig.

Every block has the same stable names whatever the norm: `blockN.conv` (or `blockN.fc`), `blockN.norm`,
`blockN.act`; the classifier is `head`. Without normalization `blockN.norm` is an nn.Identity that sits
where the norm would, so runs with and without normalization line up site by site.

Initialization is paired: each weight layer draws from its own generator, seeded from (seed, its name), so two
configs with the same seed start every same-shaped layer with the same weights, whatever else differs.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import nn

from bnviz.config import GAUSSIAN_STD, NORM_WIDTHS, RunConfig
from bnviz.noisy_bn import NoisyBatchNorm1d, NoisyBatchNorm2d, seed_noise

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def make_norm(cfg: RunConfig, width: int, spatial: bool) -> nn.Module:
    """The normalization layer for one site; `spatial` is True for conv feature maps."""
    if not cfg.normalized:
        return nn.Identity()
    if cfg.norm == "batch" and cfg.bn_noise:
        noisy = NoisyBatchNorm2d if spatial else NoisyBatchNorm1d
        return noisy(width, cfg.bn_noise, eps=cfg.eps, momentum=cfg.momentum, affine=cfg.affine)
    if cfg.norm == "batch":
        batchnorm = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        return batchnorm(width, eps=cfg.eps, momentum=cfg.momentum, affine=cfg.affine)
    if cfg.norm == "group":
        return nn.GroupNorm(cfg.groups, width, eps=cfg.eps, affine=cfg.affine)
    if cfg.norm == "layer":
        # As in the GroupNorm paper, LayerNorm of a conv layer is one group over (C, H, W).
        return nn.GroupNorm(1, width, eps=cfg.eps, affine=cfg.affine)
    if cfg.norm == "instance":
        return nn.InstanceNorm2d(width, eps=cfg.eps, affine=cfg.affine)
    raise ValueError(cfg.norm)


class Block(nn.Module):
    """A weight layer, its norm site and its activation, in the order the placement says."""

    def __init__(self, layer: nn.Module, layer_name: str, norm: nn.Module, act: nn.Module, placement: str,
                 width: int):
        super().__init__()
        self.layer_name, self.width = layer_name, width
        self.add_module(layer_name, layer)
        self.norm, self.act = norm, act
        self.norm_first = placement == "before"

    def forward(self, x):
        x = getattr(self, self.layer_name)(x)
        if self.norm_first:
            return self.act(self.norm(x))
        return self.norm(self.act(x))


def _block(cfg: RunConfig, layer_cls, name: str, *args, width: int, spatial: bool) -> Block:
    # The BN paper drops the bias before a norm: beta takes its place.
    bias = not (cfg.normalized and cfg.placement == "before")
    layer = layer_cls(*args, bias=bias)
    return Block(layer, name, make_norm(cfg, width, spatial), ACTIVATIONS[cfg.activation](), cfg.placement,
                 width)


class SeedCNN(nn.Module):
    """Conv(32,3x3) -> act/norm -> Conv(64,3x3) -> act/norm -> Flatten -> Dense(10): 387k parameters."""

    def __init__(self, cfg: RunConfig):
        super().__init__()
        w1, w2 = NORM_WIDTHS["seed_cnn"]
        self.block1 = _block(cfg, nn.Conv2d, "conv", 1, w1, 3, width=w1, spatial=True)
        self.block2 = _block(cfg, nn.Conv2d, "conv", w1, w2, 3, width=w2, spatial=True)
        self.head = nn.Linear(w2 * 24 * 24, 10)  # softmax lives in the loss

    def forward(self, x):
        return self.head(self.block2(self.block1(x)).flatten(1))


class MLP(nn.Module):
    """Ioffe & Szegedy Fig. 1: 784 -> 3 x 100 (norm, activation) -> 10."""

    def __init__(self, cfg: RunConfig):
        super().__init__()
        widths = (28 * 28,) + NORM_WIDTHS["mlp"]
        for i, (n_in, n_out) in enumerate(zip(widths, widths[1:]), start=1):
            self.add_module(f"block{i}", _block(cfg, nn.Linear, "fc", n_in, n_out, width=n_out, spatial=False))
        self.head = nn.Linear(widths[-1], 10)

    def forward(self, x):
        x = x.flatten(1)
        for i in range(1, len(NORM_WIDTHS["mlp"]) + 1):
            x = getattr(self, f"block{i}")(x)
        return self.head(x)


def build_model(cfg: RunConfig, seed: int | None = None) -> nn.Module:
    """The model for `cfg`, initialized from `seed` (default cfg.seed) without touching the global RNG."""
    seed = cfg.seed if seed is None else seed
    with torch.random.fork_rng(devices=[]):  # construction draws a throwaway init from the global RNG
        model = SeedCNN(cfg) if cfg.model == "seed_cnn" else MLP(cfg)
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init_layer(module, torch.Generator().manual_seed(layer_seed(seed, name)), cfg.init)
    seed_noise(model, seed)
    return model


def layer_seed(seed: int, name: str) -> int:
    """A layer's own init seed, from the run's seed and the layer's qualified name (stable across processes)."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@torch.no_grad()
def init_layer(layer: nn.Conv2d | nn.Linear, generator: torch.Generator, init: str = "default"):
    """PyTorch's default init of nn.Linear / nn.Conv2d (their reset_parameters), drawn from `generator`:
    the weight first, so dropping the bias leaves the weight unchanged. `init="gaussian"` is the BN paper's
    "small random Gaussian" init instead: weights ~ N(0, GAUSSIAN_STD^2), biases 0."""
    if init == "gaussian":
        nn.init.normal_(layer.weight, 0.0, GAUSSIAN_STD, generator=generator)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
        return
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    if layer.bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def blocks(model: nn.Module) -> dict[str, Block]:
    """Norm-site name (`blockN.norm`) -> its block, in forward order."""
    return {f"{name}.norm": module for name, module in model.named_modules() if isinstance(module, Block)}


def site_names(model: str) -> list[str]:
    """The norm sites of a model named by config (`seed_cnn`, `mlp`), as blocks() names them, without building it."""
    return [f"block{i}.norm" for i in range(1, len(NORM_WIDTHS[model]) + 1)]


def is_batchnorm(module: nn.Module) -> bool:
    """BatchNorm1d/2d (not InstanceNorm): the norm that keeps running statistics and batch statistics."""
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def weight_layers(model: nn.Module) -> dict[str, nn.Parameter]:
    """Name -> weight of every layer whose gradient is tracked (convs, fcs, affine norms, head)."""
    return {name[: -len(".weight")]: p for name, p in model.named_parameters() if name.endswith(".weight")}

