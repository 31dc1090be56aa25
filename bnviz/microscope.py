"""The microscope: one batch of real images through a model, and what one norm site does to it.

No training and no side effects: the forward runs in train mode on copies of the model's buffers, so its
running statistics never move. The norm output is then recomputed from its input ("pre") with the
paper's formula, y = gamma * (x - mean) / sqrt(var + eps) + beta, for any eps, with batch statistics
(train mode) or running statistics (eval mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from bnviz.data import Dataset
from bnviz.models import blocks

HIST_SAMPLE = 1 << 18  # about this many values per all-channel histogram: whole images of the (random) batch


class _Captured(Exception):
    """Raised by the hook once the site's input is kept: the rest of the forward is not needed."""


@dataclass(frozen=True, eq=False)
class Capture:
    """The input ("pre") of one norm site for one batch, its batch statistics, and the module."""

    site: str
    pre: torch.Tensor  # [B, C, ...]
    norm: nn.Module
    channel_mean: torch.Tensor  # [C] over the batch (and positions): what BatchNorm normalizes with
    channel_var: torch.Tensor  # [C], biased, as BatchNorm normalizes with


def batch_of(dataset: Dataset, batch_size: int, seed: int = 0) -> torch.Tensor:
    """B training images, drawn without replacement by `seed`, normalized as the trainer does: [B, 1, 28, 28]."""
    n = len(dataset.x_train)
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size={batch_size} is not allowed: int in [1, {n}] (the training images)")
    index = np.random.default_rng(seed).permutation(n)[:batch_size]
    pixels = torch.from_numpy(dataset.x_train[np.sort(index)]).unsqueeze(1).float()
    return (pixels / 255.0 - dataset.mean) / dataset.std


def capture(model: nn.Module, images: torch.Tensor, site: str) -> Capture:
    """Run `images` through `model` in train mode up to `site`; the model (buffers, mode) is left as it was."""
    sites = blocks(model)
    if site not in sites:
        raise ValueError(f"site={site!r} is not allowed: one of {', '.join(sites)}")
    norm = sites[site].norm
    kept = {}

    def hook(module, inputs):  # before the norm runs: its output is recomputed at whatever eps is asked
        kept["pre"] = inputs[0].detach()
        raise _Captured

    # Train mode updates running statistics in place: give it copies, the model's own stay untouched.
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    was_training = model.training
    handle = norm.register_forward_pre_hook(hook)
    try:
        model.train()
        with torch.no_grad():
            functional_call(model, buffers, (images.to(next(model.parameters()).device),))
    except _Captured:
        pass
    finally:
        handle.remove()
        model.train(was_training)
    pre = kept["pre"]
    channel_var, channel_mean = torch.var_mean(pre, dim=_channel_dims(pre), correction=0)
    return Capture(site, pre, norm, channel_mean, channel_var)


def has_running_stats(norm: nn.Module) -> bool:
    """Whether eval mode normalizes with running statistics (so it can differ from train mode)."""
    return isinstance(norm, _BatchNorm) and norm.track_running_stats and norm.running_var is not None


def normalize(pre: torch.Tensor, norm: nn.Module, eps: float, running: bool = False,
              batch_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
              channels: slice = slice(None)) -> torch.Tensor:
    """`norm`'s output for `pre` with `eps` in place of its own: batch statistics, or running ones if asked.

    `batch_stats` (per-channel mean, var of the whole batch) lets BatchNorm normalize a few images of
    the batch as the full batch would; `pre` may hold only `channels`, a range from `independent_channels`.
    """
    shape = (1, -1) + (1,) * (pre.dim() - 2)  # per channel, broadcast over batch and positions
    if isinstance(norm, _BatchNorm):
        if running and has_running_stats(norm):
            mean, var = norm.running_mean[channels], norm.running_var[channels]
        elif batch_stats is not None:
            mean, var = batch_stats[0][channels], batch_stats[1][channels]
        else:
            var, mean = torch.var_mean(pre, dim=_channel_dims(pre), correction=0)
        x_hat = (pre - mean.view(shape)) / torch.sqrt(var.view(shape) + eps)
    elif isinstance(norm, nn.GroupNorm):  # also LayerNorm here: one group over (C, H, W)
        groups = pre.shape[1] * norm.num_groups // norm.num_channels
        grouped = pre.reshape(pre.shape[0], groups, -1)
        var, mean = torch.var_mean(grouped, dim=-1, keepdim=True, correction=0)
        x_hat = ((grouped - mean) / torch.sqrt(var + eps)).reshape(pre.shape)
    elif isinstance(norm, _InstanceNorm):  # bnviz builds it without running statistics
        var, mean = torch.var_mean(pre, dim=tuple(range(2, pre.dim())), keepdim=True, correction=0)
        x_hat = (pre - mean) / torch.sqrt(var + eps)
    elif isinstance(norm, nn.Identity):
        return pre
    else:
        raise TypeError(f"no formula for {type(norm).__name__}")
    if getattr(norm, "weight", None) is None:  # affine=False: gamma 1, beta 0
        return x_hat
    return x_hat * norm.weight.detach()[channels].view(shape) + norm.bias.detach()[channels].view(shape)


def independent_channels(norm: nn.Module, channel: int) -> slice:
    """The smallest range of channels around `channel` that `norm` normalizes on their own."""
    if isinstance(norm, nn.GroupNorm):
        size = norm.num_channels // norm.num_groups
        start = channel // size * size
        return slice(start, start + size)
    return slice(channel, channel + 1)


def _channel_dims(x: torch.Tensor) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.dim()))


@dataclass(frozen=True)
class Look:
    """What the microscope shows for one site, channel (None = all) and eps."""

    site: str
    channel: int | None
    eps: float
    module_eps: float | None  # the eps the model was built with (None without normalization)
    edges: np.ndarray  # bin edges shared by the three histograms
    counts: dict[str, np.ndarray]  # "pre", "post" (train mode, batch stats), "eval" (running stats)
    stats: dict[str, tuple[float, float]]  # kind -> (mean, std) of the shown values
    channel_var: np.ndarray  # [C] batch variance of pre
    channel_post_std: np.ndarray  # [C] std of the train-mode output per channel at this eps (see examine)
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    batch_mean: np.ndarray
    eval_differs: bool  # False when eval mode normalizes exactly like train mode
    smallest_var_channel: int  # the channel whose variance is closest to (or below) eps


def examine(cap: Capture, eps: float, channel: int | None = None, bins: int = 60) -> Look:
    """Recompute the site's output at `eps` (train and eval mode) and histogram pre and post.

    Only what is drawn is computed: enough images for the histograms, and one channel's group when
    one channel is shown, so an eps or channel change costs milliseconds. The per-channel output std is
    exact for the whole batch where it has a closed form (BatchNorm, identity), else measured on those images.
    """
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps={eps!r} is not allowed: float in [0, 1]")
    pre, norm = cap.pre, cap.norm
    channels = pre.shape[1]
    if channel is not None and not 0 <= channel < channels:
        raise ValueError(f"channel={channel!r} is not allowed: int in [0, {channels - 1}] or all")
    stats = (cap.channel_mean, cap.channel_var)
    per_channel = pre[0, 0].numel()
    # Whole images (exact for every norm), at least ~2k values per channel for its std.
    rows = pre[: max(-(-HIST_SAMPLE // pre[0].numel()), -(-2048 // per_channel))]
    post_rows = normalize(rows, norm, eps, batch_stats=stats)
    if isinstance(norm, _BatchNorm):  # exact for the whole batch: x_hat's std is sqrt(var / (var + eps))
        gamma = norm.weight.detach().abs() if norm.affine else 1.0
        post_std = gamma * torch.sqrt(cap.channel_var / (cap.channel_var + eps))
    elif isinstance(norm, nn.Identity):
        post_std = cap.channel_var.sqrt()
    else:  # per-image statistics: measured on the images drawn
        post_std = torch.std(post_rows, dim=_channel_dims(post_rows), correction=0)
    if channel is None:
        shown = {"pre": rows, "post": post_rows,
                 "eval": normalize(rows, norm, eps, running=True, batch_stats=stats)}
    else:
        block = independent_channels(norm, channel)
        part, at = pre[:, block], channel - block.start
        shown = {"pre": part[:, at],
                 "post": normalize(part, norm, eps, batch_stats=stats, channels=block)[:, at],
                 "eval": normalize(part, norm, eps, running=True, batch_stats=stats, channels=block)[:, at]}
    shown = {kind: v.reshape(-1).float().cpu() for kind, v in shown.items()}
    finite = torch.cat([v[torch.isfinite(v)] for v in shown.values()])
    lo, hi = (finite.min().item(), finite.max().item()) if finite.numel() else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    running = has_running_stats(norm)
    var = cap.channel_var.double().cpu().numpy()
    return Look(
        site=cap.site, channel=channel, eps=eps, module_eps=getattr(norm, "eps", None),
        edges=np.linspace(lo, hi, bins + 1),
        counts={kind: torch.histc(v, bins=bins, min=lo, max=hi).numpy().astype(np.int64)
                for kind, v in shown.items()},
        stats={kind: (v.mean().item(), v.std(correction=0).item()) for kind, v in shown.items()},
        channel_var=var, channel_post_std=post_std.double().cpu().numpy(),
        running_mean=norm.running_mean.double().cpu().numpy() if running else None,
        running_var=norm.running_var.double().cpu().numpy() if running else None,
        batch_mean=cap.channel_mean.double().cpu().numpy(),
        eval_differs=running, smallest_var_channel=int(np.argmin(var)))
