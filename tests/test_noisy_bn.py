"""bn_noise against closed form: the output is BatchNorm's times a per-channel scale plus a shift drawn from the
layer's own seeded generator; eval mode is plain BatchNorm; the draws have the uniform law's moments."""

import math

import pytest
import torch
from torch import nn

from bnviz.config import ConfigError, RunConfig
from bnviz.models import blocks, build_model
from bnviz.noisy_bn import NoisyBatchNorm2d, draw_noise


def test_train_output_is_batchnorm_times_scale_plus_shift_from_the_seeded_stream():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5) * 2 + 1
    noisy, plain = NoisyBatchNorm2d(3, 0.7), nn.BatchNorm2d(3)
    noisy.seed(123)
    by_hand = torch.Generator().manual_seed(123)
    for _ in range(3):  # redrawn every step: each forward takes the stream's next draw
        u = torch.rand(2, 3, generator=by_hand) * 2 - 1
        scale, shift = torch.exp(0.7 * u[0]), 0.7 * u[1]
        mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), unbiased=False, keepdim=True)
        expected = (x - mean) / torch.sqrt(var + 1e-5) * scale.view(1, 3, 1, 1) + shift.view(1, 3, 1, 1)
        torch.testing.assert_close(noisy(x), expected, atol=1e-5, rtol=1e-5)
    for _ in range(3):
        plain(x)
    torch.testing.assert_close(noisy.running_mean, plain.running_mean)  # noise comes after: statistics untouched
    noisy.eval(), plain.eval()
    torch.testing.assert_close(noisy(x), plain(x))  # no noise at inference


def test_draws_have_the_uniform_laws_moments():
    a, g = 0.8, torch.Generator().manual_seed(0)
    scales, shifts = zip(*(draw_noise(g, 1000, a) for _ in range(20)))
    shift, log_scale = torch.cat(shifts), torch.cat(scales).log()
    for values in (shift, log_scale):  # U(-a, a): mean 0, variance a^2 / 3, bounded by a
        assert abs(values.mean()) < 0.01
        assert values.var().item() == pytest.approx(a * a / 3, rel=0.03)
        assert values.abs().max() <= a + 1e-6


def test_model_noise_is_deterministic_per_config_and_off_at_zero():
    cfg = RunConfig(model="mlp", placement="before", bn_noise=0.5)
    x = torch.randn(8, 1, 28, 28)
    a, b = build_model(cfg), build_model(cfg)
    torch.testing.assert_close(a(x), b(x))
    layers = [block.norm for block in blocks(a).values()]
    assert all(isinstance(n, nn.BatchNorm1d) and n.amount == 0.5 for n in layers)
    assert len({n.generator.initial_seed() for n in layers}) == 3  # each layer its own stream
    assert not math.isclose(a(x).sum().item(), build_model(cfg.replace(bn_noise=0.0))(x).sum().item())
    assert type(blocks(build_model(cfg.replace(bn_noise=0.0)))["block1.norm"].norm) is nn.BatchNorm1d


def test_bn_noise_is_bounded_and_needs_batchnorm():
    with pytest.raises(ConfigError, match="bn_noise"):
        RunConfig(bn_noise=2.5)
    with pytest.raises(ConfigError, match="bn_noise.*norm=batch"):
        RunConfig(norm="group", bn_noise=0.5)
    assert RunConfig.from_params({"bn_noise": "1.5"}).bn_noise == 1.5


def test_gaussian_init_has_the_stated_std_and_zero_biases():
    model = build_model(RunConfig(model="mlp", init="gaussian", norm="none", placement="before"))
    weight = model.block1.fc.weight
    assert weight.std().item() == pytest.approx(0.01, rel=0.02) and abs(weight.mean().item()) < 1e-3
    assert model.block1.fc.bias.abs().max().item() == 0.0
    default = build_model(RunConfig(model="mlp", norm="none", placement="before"))
    assert default.block1.fc.weight.std().item() > 0.015  # PyTorch's U(+-1/sqrt(784)): std 0.0206
