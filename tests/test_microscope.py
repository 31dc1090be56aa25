"""The microscope against PyTorch's own norm modules: capture leaves the model untouched, and the output
recomputed for another eps (train and eval mode, whole batch or a part of it) is what the module gives."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from bnviz import microscope
from bnviz.batchnorm import post_std
from bnviz.config import RunConfig
from bnviz.data import load_dataset
from bnviz.models import blocks, build_model

EPS_VALUES = [1e-8, 1e-5, 1e-2, 1.0]


def norm_module(kind: str, channels: int, affine: bool) -> nn.Module:
    """A norm layer as bnviz builds them, with non-trivial gamma/beta and running statistics, in float64."""
    module = {"batch2d": lambda: nn.BatchNorm2d(channels, affine=affine),
              "batch1d": lambda: nn.BatchNorm1d(channels, affine=affine),
              "group": lambda: nn.GroupNorm(4, channels, affine=affine),
              "layer": lambda: nn.GroupNorm(1, channels, affine=affine),
              "instance": lambda: nn.InstanceNorm2d(channels, affine=affine)}[kind]().double()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        if affine:
            module.weight.copy_(torch.rand(channels, generator=gen, dtype=torch.float64) + 0.5)
            module.bias.copy_(torch.randn(channels, generator=gen, dtype=torch.float64))
        if getattr(module, "running_mean", None) is not None:
            module.running_mean.copy_(torch.randn(channels, generator=gen, dtype=torch.float64))
            module.running_var.copy_(torch.rand(channels, generator=gen, dtype=torch.float64) + 0.2)
    return module


def batch(kind: str, channels: int = 8) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    shape = (6, channels) if kind == "batch1d" else (6, channels, 5, 5)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3 + 1
    x[:, 2] = 0.7 + 1e-4 * x[:, 2]  # a channel with variance ~1e-8: eps decides what comes out
    return x


def module_output(module: nn.Module, x: torch.Tensor, eps: float, train: bool) -> torch.Tensor:
    """The reference: the module itself, with eps set, on a copy (train mode moves running stats)."""
    reference = copy.deepcopy(module)
    reference.eps = eps
    reference.train(train)
    with torch.no_grad():
        return reference(x)


KINDS = ["batch2d", "batch1d", "group", "layer", "instance"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_recomputed_output_matches_the_module_in_train_mode(kind, affine, eps):
    module, x = norm_module(kind, 8, affine), batch(kind)
    expected = module_output(module, x, eps, train=True)
    torch.testing.assert_close(microscope.normalize(x, module, eps), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("eps", EPS_VALUES)
def test_recomputed_eval_output_matches_the_module_in_eval_mode(kind, eps):
    module, x = norm_module(kind, 8, affine=True), batch(kind)
    expected = module_output(module, x, eps, train=False)
    torch.testing.assert_close(microscope.normalize(x, module, eps, running=True), expected,
                               rtol=1e-9, atol=1e-9)
    assert microscope.has_running_stats(module) == kind.startswith("batch")


@pytest.mark.parametrize("kind", ["batch2d", "group", "instance"])
def test_parts_of_the_batch_normalize_as_the_whole_batch_does(kind):
    module, x = norm_module(kind, 8, affine=True), batch(kind)
    eps = 1e-3
    whole = module_output(module, x, eps, train=True)
    var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
    # A few images with the whole batch's statistics ...
    torch.testing.assert_close(microscope.normalize(x[:2], module, eps, batch_stats=(mean, var)), whole[:2])
    # ... and the channels a norm treats on their own (one channel; a group of 2 for GroupNorm(4, 8)).
    block = microscope.independent_channels(module, 5)
    assert (block.stop - block.start) == (2 if kind == "group" else 1) and block.start <= 5 < block.stop
    torch.testing.assert_close(
        microscope.normalize(x[:, block], module, eps, batch_stats=(mean, var), channels=block), whole[:, block])


def test_post_std_is_the_std_left_by_eps():
    # x_hat = (x - mean) / sqrt(var + eps) has std sqrt(var / (var + eps)): 1 when var >> eps, ~0 when var << eps.
    np.testing.assert_allclose(post_std([4.0, 1e-6, 0.0], 1e-6), [np.sqrt(4 / (4 + 1e-6)), np.sqrt(0.5), 0])


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist-5k")


@pytest.mark.parametrize("cfg", [RunConfig(), RunConfig(placement="before"), RunConfig(model="mlp"),
                                 RunConfig(norm="group"), RunConfig(norm="none", placement="none")],
                         ids=["bn-after", "bn-before", "mlp", "group", "none"])
@pytest.mark.parametrize("training", [True, False])
def test_capture_is_the_sites_input_and_output_and_leaves_the_model_alone(cfg, training, mnist):
    model = build_model(cfg).train(training)
    before = {name: b.clone() for name, b in model.named_buffers()}
    images = microscope.batch_of(mnist, 16)
    kept = {}
    site = "block2.norm"
    norm = blocks(model)[site].norm
    handle = norm.register_forward_hook(lambda m, i, o: kept.update(pre=i[0], post=o))
    reference = copy.deepcopy(model).train()  # the hook is copied along: it fires on the reference
    with torch.no_grad():
        reference(images)
    handle.remove()
    cap = microscope.capture(model, images, site)
    torch.testing.assert_close(cap.pre, kept["pre"])
    assert model.training == training
    for name, buffer in model.named_buffers():
        torch.testing.assert_close(buffer, before[name], rtol=0, atol=0, msg=f"{name} moved")
    # The recomputation at the module's own eps reproduces the module's own output.
    eps = getattr(norm, "eps", 1e-5)
    torch.testing.assert_close(microscope.normalize(cap.pre, norm, eps), kept["post"], rtol=1e-5, atol=1e-5)
    var, mean = torch.var_mean(kept["pre"].double(), dim=(0, 2, 3) if kept["pre"].dim() == 4 else 0, correction=0)
    torch.testing.assert_close(cap.channel_var.double(), var, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(cap.channel_mean.double(), mean, rtol=1e-4, atol=1e-6)


def test_batch_of_draws_normalized_real_images(mnist):
    images = microscope.batch_of(mnist, 64, seed=1)
    assert images.shape == (64, 1, 28, 28) and images.dtype == torch.float32
    torch.testing.assert_close(images, microscope.batch_of(mnist, 64, seed=1))
    pixels = (images * mnist.std + mnist.mean) * 255  # back to the stored uint8 values
    torch.testing.assert_close(pixels, pixels.round(), atol=1e-3, rtol=0)
    assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3
    with pytest.raises(ValueError, match="batch_size=0"):
        microscope.batch_of(mnist, 0)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_examine_shows_what_eps_does(norm, mnist):
    cfg = RunConfig(norm=norm, placement="none" if norm == "none" else "after")
    model = build_model(cfg)
    cap = microscope.capture(model, microscope.batch_of(mnist, 32), "block1.norm")
    for eps in (1e-5, 1.0):
        look = microscope.examine(cap, eps)
        output = module_output(cap.norm, cap.pre, eps, train=True)
        rows = _shown_rows(cap)
        measured = output if norm != "group" else output[:rows]  # group: measured on the images drawn
        np.testing.assert_allclose(look.channel_post_std, measured.std(dim=(0, 2, 3), correction=0).double(),
                                   rtol=1e-4, atol=1e-6)
        assert look.smallest_var_channel == int(np.argmin(cap.channel_var.numpy()))
        assert all(int(c.sum()) == rows * cap.pre[0].numel() for c in look.counts.values())
        np.testing.assert_allclose(look.stats["post"], (output[:rows].mean(), output[:rows].std(correction=0)),
                                   rtol=1e-3, atol=1e-5)
    small, large = microscope.examine(cap, 1e-5), microscope.examine(cap, 1.0)
    if norm == "none":
        assert small.stats["post"] == small.stats["pre"] and not small.eval_differs
    else:  # eps = 1 is not small next to these variances: the output std drops well below gamma = 1
        assert large.stats["post"][1] < small.stats["post"][1] - 0.1
    assert small.eval_differs == (norm == "batch")
    one = microscope.examine(cap, 1e-5, channel=small.smallest_var_channel)
    assert one.counts["pre"].sum() == 32 * 26 * 26
    with pytest.raises(ValueError, match="channel=32"):
        microscope.examine(cap, 1e-5, channel=32)
    with pytest.raises(ValueError, match="eps=2"):
        microscope.examine(cap, 2.0)


def _shown_rows(cap) -> int:
    """Images examine() draws: enough for HIST_SAMPLE values and 2048 per channel, at most the batch."""
    per_image = cap.pre[0].numel()
    return min(len(cap.pre), max(-(-microscope.HIST_SAMPLE // per_image), -(-2048 // cap.pre[0, 0].numel())))
