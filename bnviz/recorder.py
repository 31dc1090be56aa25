"""Recorder: forward hooks on the norm sites that measure what goes in ("pre") and comes out ("post").

Hooks sit on the norm modules only and do nothing until armed, so a step that is not recorded pays a
few microseconds. An armed step measures, on the device and without a host sync:
- from an evenly strided subsample of at most SAMPLE_SIZE values per tensor (the same positions for
  pre and post, every channel and pixel position represented): mean, std, a `hist_bins`-bin histogram
  per channel, the saturated fraction and the count of non-finite values, which are left out of
  everything else; percentiles from PERCENTILE_SAMPLES evenly strided values of that subsample (a sort
  is the costliest step, so it gets the smaller sample);
- for BatchNorm sites: the per-channel batch mean and (biased) variance that the layer normalized with,
  as it kept them for its backward pass (computed from the full input where it kept none), next to its
  running statistics and gamma/beta.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bnviz.models import blocks, is_batchnorm
from bnviz.record import KINDS, PERCENTILES, column_key

SAMPLE_SIZE = 16384  # values per tensor: well under a millisecond of work per tensor; fits uint16 counts
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
                self._measure(site, module, inputs[0].detach(), output)
        return hook

    def _measure(self, site: str, module: nn.Module, pre: torch.Tensor, post: torch.Tensor):
        block = self.blocks[site]
        stride, slot = self._sample(pre.shape, pre.device)
        # pre and post at the same positions, one row each: every op below measures both at once (on a
        # CPU a snapshot's cost is mostly per-op overhead, the samples are small).
        values = torch.stack([pre.reshape(-1)[::stride], post.detach().reshape(-1)[::stride]])
        finite = (values - values) == 0  # x - x is 0 unless x is inf or nan: half the ops of isfinite
        self._measured.update(self._distributions(site, values, finite, slot, block.width))
        # The activation's output: the norm's input when the norm follows it, else act(norm output).
        if block.norm_first:
            act_out = block.act(values[1])
            act_finite = torch.isfinite(act_out)
        else:
            act_out, act_finite = values[0], finite[0]
        self._measured[column_key(site, "saturated")] = ((self.saturated(act_out) & act_finite).sum()
                                              / act_finite.sum().clamp(min=1))
        if is_batchnorm(module):
            self._measured.update(self._batchnorm(site, module, pre, post.grad_fn))

    def _sample(self, shape: torch.Size, device: torch.device) -> tuple[int, torch.Tensor]:
        """The sampling stride for a tensor of this shape, and each sampled value's slot: its channel in
        row 0 (pre), channel + channels in row 1 (post)."""
        key = (tuple(shape), device)
        if key not in self._samples:
            numel, channels = shape.numel(), shape[1]
            pixels = shape[2:].numel() if len(shape) > 2 else 1
            stride = max(1, math.ceil(numel / self.sample_size))
            while stride > 1 and math.gcd(stride, pixels * channels) != 1:
                stride += 1  # coprime with C*H*W: the samples sweep every channel and pixel position
            channel = (torch.arange(0, numel, stride, device=device) // pixels) % channels
            rows = torch.arange(len(KINDS), device=device)[:, None]
            self._samples[key] = (stride, channel + rows * channels)
        return self._samples[key]

    def _distributions(self, site: str, values: torch.Tensor, finite: torch.Tensor, slot: torch.Tensor,
                       channels: int) -> dict:
        """Mean, std, range, percentiles and per-channel histogram/mean/std of each row of `values`
        (one row per kind), in ~25 ops for both rows."""
        rows, slots, flat_slot = len(values), len(values) * channels, slot.reshape(-1)
        # Sums per slot by index_add_ into a fixed size: torch.bincount sizes its output from the data's
        # max, which on a GPU waits for the device (two host syncs per call).
        zeroed = torch.where(finite, values, 0).double()  # float64 sums: E[x^2] - E[x]^2 stays accurate
        ch_sum = zeroed.new_zeros(slots).index_add_(0, flat_slot, zeroed.reshape(-1)).view(rows, channels)
        ch_sq = zeroed.new_zeros(slots).index_add_(0, flat_slot, zeroed.square().reshape(-1)).view(rows, channels)
        count = finite.sum(1)
        mean = ch_sum.sum(1) / count.clamp(min=1)
        # Non-finite values take the mean's place for the range, and count 0 in the histogram.
        filled = torch.where(finite, values, mean[:, None].to(values.dtype)).float()
        lo, hi = torch.aminmax(filled, dim=1)
        scale = self.bins / (hi - lo).clamp(min=1e-12)
        bins = ((filled - lo[:, None]) * scale[:, None]).floor_().clamp_(0, self.bins - 1).long()
        counts = torch.zeros(slots * self.bins, dtype=torch.long, device=values.device).index_add_(
            0, (slot * self.bins + bins).reshape(-1), finite.reshape(-1).long()).view(rows, channels, self.bins)
        ch_count = counts.sum(2).clamp(min=1)
        ch_mean = ch_sum / ch_count
        ch_std = (ch_sq / ch_count - ch_mean ** 2).clamp(min=0).sqrt()
        std = (ch_sq.sum(1) / count.clamp(min=1) - mean ** 2).clamp(min=0).sqrt()
        stride = max(1, values.shape[1] // self.percentile_samples)
        percentiles = _percentiles(values[:, ::stride].float(), finite[:, ::stride], self._quantiles.to(values.device))
        stats = {"mean": mean.float(), "std": std.float(), "range": torch.stack([lo, hi], 1),
                 "percentiles": percentiles, "channel_hist": counts, "channel_mean": ch_mean.float(),
                 "channel_std": ch_std.float(), "nonfinite": values.shape[1] - count}
        return {column_key(site, kind, name): stat[row]
                for row, kind in enumerate(KINDS) for name, stat in stats.items()}

    @staticmethod
    def _batchnorm(site: str, module: nn.modules.batchnorm._BatchNorm, pre: torch.Tensor, node) -> dict:
        if type(node).__name__ == "NativeBatchNormBackward0" and node._saved_training:
            # The mean and 1/sqrt(var + eps) the layer normalized with, kept for its backward: free. The
            # variance comes back from float32 1/sqrt(var + eps) within ~1e-7 * (var + eps).
            batch_mean = node._saved_result1.detach()
            batch_var = (node._saved_result2.detach().pow(-2) - module.eps).clamp(min=0)
        else:  # no autograd record (no_grad) or another kernel (cuDNN): compute them
            dims = [0] + list(range(2, pre.dim()))
            # Two passes: torch.var_mean over (N, H, W) is 4-6x slower on CPU for the same numbers.
            mean = pre.mean(dims, keepdim=True)
            batch_var, batch_mean = (pre - mean).square().mean(dims), mean.reshape(-1)
        ones = torch.ones_like(batch_mean)
        values = {"batch_mean": batch_mean, "batch_var": batch_var,
                  "running_mean": module.running_mean.detach().clone(),
                  "running_var": module.running_var.detach().clone(),
                  "gamma": module.weight.detach().clone() if module.affine else ones,
                  "beta": module.bias.detach().clone() if module.affine else ones * 0}
        return {column_key(site, name): value for name, value in values.items()}


def _percentiles(values: torch.Tensor, finite: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Quantiles of the finite values of each row, interpolated linearly as numpy does; no host sync."""
    ordered = torch.where(finite, values, torch.inf).sort(dim=-1).values  # non-finite values sort last
    last = (finite.sum(-1, keepdim=True) - 1).clamp(min=0)
    position = quantiles * last
    below = position.floor().long()
    above = torch.minimum(below + 1, last)
    low, high = ordered.gather(-1, below), ordered.gather(-1, above)
    return torch.where(torch.isfinite(high), low + (position - below) * (high - low), low)
