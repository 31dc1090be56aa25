"""Recorder: forward hooks on the norm sites that measure what goes in ("pre") and comes out ("post").

Hooks sit on the norm modules only and do nothing until armed, so a step that is not recorded pays a
few microseconds. An armed step measures, on the device and without a host sync:
- from an evenly strided subsample of at most SAMPLE_SIZE values per tensor (the same positions for
  pre and post, every channel and pixel position represented): mean, std, a `hist_bins`-bin histogram
  per channel, the saturated fraction and the count of non-finite values, which are left out of
  everything else; percentiles from every PERCENTILE_STRIDE-th value of that subsample (a sort is the
  costliest step, so it gets the smaller sample);
- for BatchNorm sites, from the full input: the per-channel batch mean and (biased) variance that the
  layer normalizes with, next to its running statistics and gamma/beta.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bnviz.models import blocks
from bnviz.record import PERCENTILES

SAMPLE_SIZE = 16384  # values per tensor: ~0.5 ms of work per tensor on 2 CPU cores; fits uint16 counts
PERCENTILE_SAMPLES = 2048  # values sorted for the percentiles (the sort dominates): median within ~0.03 std

# Saturated (or dead) region of each activation, judged on its output a.
SATURATED = {
    "relu": lambda a: a <= 0,
    "sigmoid": lambda a: (a < 0.03) | (a > 0.97),
    "tanh": lambda a: a.abs() > 0.97,
}


class Recorder:
    """Hooks on every norm site of a model; `arm()` before a forward, `collect()` after it."""

    def __init__(self, model: nn.Module, activation: str, hist_bins: int, sample_size: int = SAMPLE_SIZE,
                 percentile_samples: int = PERCENTILE_SAMPLES):
        self.blocks = blocks(model)
        self.saturated = SATURATED[activation]
        self.bins, self.sample_size, self.percentile_samples = hist_bins, sample_size, percentile_samples
        self._quantiles = torch.tensor(PERCENTILES, dtype=torch.float32) / 100
        self.armed = False
        self._measured: dict[str, torch.Tensor] = {}
        self._samples: dict[tuple, tuple[int, torch.Tensor]] = {}
        self._handles = [block.norm.register_forward_hook(self._hook(site))
                         for site, block in self.blocks.items()]

    def arm(self):
        self.armed = True

    def collect(self) -> dict[str, torch.Tensor]:
        """The measurements of the armed forward, as device tensors keyed like the record's columns."""
        self.armed = False
        measured, self._measured = self._measured, {}
        return measured

    def close(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.armed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- measuring ----------------------------------------------------------------------------
    def _hook(self, site: str):
        def hook(module, inputs, output):
            if self.armed:
                self._measure(site, module, inputs[0].detach(), output.detach())
        return hook

    def _measure(self, site: str, module: nn.Module, pre: torch.Tensor, post: torch.Tensor):
        block = self.blocks[site]
        stride, channel = self._sample(pre.shape, pre.device)
        values = {}
        for kind, tensor in (("pre", pre), ("post", post)):
            values[kind] = tensor.reshape(-1)[::stride]
            self._measured.update(self._distribution(f"{site}/{kind}/", values[kind], channel, block.width))
        # The activation's output: the norm's input when the norm follows it, else act(norm output).
        act_out = values["pre"] if not block.norm_first else block.act(values["post"])
        finite = torch.isfinite(act_out)
        self._measured[f"{site}/saturated"] = (self.saturated(act_out) & finite).sum() / finite.sum().clamp(min=1)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            self._measured.update(self._batchnorm(site, module, pre))

    def _sample(self, shape: torch.Size, device: torch.device) -> tuple[int, torch.Tensor]:
        """The sampling stride for a tensor of this shape, and the channel of each sampled value."""
        key = (tuple(shape), device)
        if key not in self._samples:
            numel = shape.numel()
            pixels = shape[2:].numel() if len(shape) > 2 else 1
            stride = max(1, math.ceil(numel / self.sample_size))
            while stride > 1 and math.gcd(stride, pixels * shape[1]) != 1:
                stride += 1  # coprime with C*H*W: the samples sweep every channel and pixel position
            positions = torch.arange(0, numel, stride, device=device)
            self._samples[key] = (stride, (positions // pixels) % shape[1])
        return self._samples[key]

    def _distribution(self, prefix: str, v: torch.Tensor, channel: torch.Tensor, channels: int) -> dict:
        """Mean, std, range, percentiles and per-channel histogram/mean/std of a sample, in ~15 ops."""
        finite = torch.isfinite(v)
        zeroed = torch.where(finite, v, 0).double()  # float64 sums: E[x^2] - E[x]^2 stays accurate
        ch_sum = torch.bincount(channel, weights=zeroed, minlength=channels)
        ch_sq = torch.bincount(channel, weights=zeroed * zeroed, minlength=channels)
        count = finite.sum()
        mean = ch_sum.sum() / count.clamp(min=1)
        # Non-finite values take the mean's place for the range, then an overflow slot that is dropped.
        filled = torch.where(finite, v, mean.to(v.dtype)).float()
        lo, hi = torch.aminmax(filled)
        scale = self.bins / (hi - lo).clamp(min=1e-12)
        bins = ((filled - lo) * scale).floor_().clamp_(0, self.bins - 1).long()
        key = torch.where(finite, channel * self.bins + bins, channels * self.bins)
        counts = torch.bincount(key, minlength=channels * self.bins + 1)[:-1].view(channels, self.bins)
        ch_count = counts.sum(1).clamp(min=1)
        ch_mean = ch_sum / ch_count
        ch_std = (ch_sq / ch_count - ch_mean ** 2).clamp(min=0).sqrt()
        std = (ch_sq.sum() / count.clamp(min=1) - mean ** 2).clamp(min=0).sqrt()
        stride = max(1, len(v) // self.percentile_samples)
        percentiles = _percentiles(v[::stride].float(), finite[::stride], self._quantiles.to(v.device))
        return {prefix + "mean": mean.float(), prefix + "std": std.float(), prefix + "range": torch.stack([lo, hi]),
                prefix + "percentiles": percentiles,
                prefix + "channel_hist": counts, prefix + "channel_mean": ch_mean.float(),
                prefix + "channel_std": ch_std.float(), prefix + "nonfinite": v.numel() - count}

    @staticmethod
    def _batchnorm(site: str, module: nn.modules.batchnorm._BatchNorm, pre: torch.Tensor) -> dict:
        dims = [0] + list(range(2, pre.dim()))
        # Two passes: torch.var_mean over (N, H, W) is 4-6x slower on CPU for the same numbers.
        mean = pre.mean(dims, keepdim=True)
        batch_var, batch_mean = (pre - mean).square().mean(dims), mean.reshape(-1)
        ones = torch.ones_like(batch_mean)
        return {f"{site}/batch_mean": batch_mean, f"{site}/batch_var": batch_var,
                f"{site}/running_mean": module.running_mean.detach().clone(),
                f"{site}/running_var": module.running_var.detach().clone(),
                f"{site}/gamma": module.weight.detach().clone() if module.affine else ones,
                f"{site}/beta": module.bias.detach().clone() if module.affine else ones * 0}


def _percentiles(values: torch.Tensor, finite: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Quantiles of the finite values, interpolated linearly as numpy does; no host sync."""
    ordered = torch.where(finite, values, torch.inf).sort().values  # non-finite values sort last
    last = (finite.sum() - 1).clamp(min=0)
    position = quantiles * last
    below = position.floor().long()
    above = torch.minimum(below + 1, last)
    low, high = ordered[below], ordered[above]
    return torch.where(torch.isfinite(high), low + (position - below) * (high - low), low)
