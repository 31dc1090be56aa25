"""Paired init: same seed, same initial weights for every same-shaped layer; PyTorch's default distribution."""

import math

import pytest
import torch
from torch import nn

from bnviz.config import RunConfig
from bnviz.models import build_model, layer_seed


def weight_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every conv / fc / head parameter (the randomly initialized ones), by qualified name."""
    return {name: p for name, p in model.named_parameters() if ".norm." not in name}


PAIRS = [
    ("BN vs none", dict(norm="batch"), dict(norm="none")),
    ("before (bias dropped) vs after", dict(placement="before"), dict(placement="after")),
    ("relu vs sigmoid", dict(activation="relu"), dict(activation="sigmoid")),
    ("BN vs GN, before", dict(norm="batch", placement="before"), dict(norm="group", groups=4, placement="after")),
]


@pytest.mark.parametrize("model", ["seed_cnn", "mlp"])
@pytest.mark.parametrize("name,a,b", PAIRS, ids=[p[0] for p in PAIRS])
def test_same_seed_same_init_layer_by_layer(model, name, a, b):
    one = weight_params(build_model(RunConfig(model=model, seed=3, **a)))
    two = weight_params(build_model(RunConfig(model=model, seed=3, **b)))
    shared = set(one) & set(two)
    # Every weight layer is in both arms; only biases dropped before a norm may be missing from one.
    assert {n for n in one if n.endswith(".weight")} == {n for n in two if n.endswith(".weight")}
    assert set(one) ^ set(two) <= {n for n in set(one) | set(two) if n.endswith(".bias") and n != "head.bias"}
    for layer in sorted(shared):
        assert one[layer].shape == two[layer].shape
        assert torch.equal(one[layer], two[layer]), f"{name}: {layer} initialized differently"


def test_the_old_single_stream_would_have_shifted_later_layers():
    # The reference the test above guards against: one stream in construction order, with and without
    # the conv biases (placement before drops them), gives a different head.
    def single_stream(bias: bool) -> torch.Tensor:
        torch.manual_seed(0)
        nn.Conv2d(1, 32, 3, bias=bias), nn.Conv2d(32, 64, 3, bias=bias)
        return nn.Linear(64 * 24 * 24, 10).weight
    assert not torch.equal(single_stream(True), single_stream(False))
    assert torch.equal(weight_params(build_model(RunConfig(placement="before")))["head.weight"],
                       weight_params(build_model(RunConfig(placement="after")))["head.weight"])


def test_different_seeds_and_layers_differ():
    a = weight_params(build_model(RunConfig(seed=0)))
    b = weight_params(build_model(RunConfig(seed=1)))
    assert not torch.equal(a["head.weight"], b["head.weight"])
    assert layer_seed(0, "block1.conv") != layer_seed(0, "block2.conv") != layer_seed(1, "block2.conv")


@pytest.mark.parametrize("model", ["seed_cnn", "mlp"])
def test_init_is_pytorchs_default_for_each_layer(model):
    """Each layer equals PyTorch's own default init of the same module, seeded with the layer's seed."""
    cfg = RunConfig(model=model, seed=7)
    built = build_model(cfg)
    layers = {n: m for n, m in built.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert layers
    for name, layer in layers.items():
        torch.manual_seed(layer_seed(cfg.seed, name))
        if isinstance(layer, nn.Conv2d):
            reference = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                  bias=layer.bias is not None)
        else:
            reference = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        assert torch.equal(layer.weight, reference.weight), name
        assert torch.equal(layer.bias, reference.bias), name
        # The default's bounds: kaiming_uniform(a=sqrt 5) and the bias both lie in +-1/sqrt(fan_in).
        fan_in = layer.weight[0].numel()
        bound = 1 / math.sqrt(fan_in)
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound
        assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
        assert layer.bias.abs().max() <= bound


def test_build_model_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(RunConfig())
    assert torch.equal(torch.rand(3), expected)
