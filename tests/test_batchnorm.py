"""The paper's BatchNorm equations (bnviz.batchnorm, numpy) against torch.nn.BatchNorm1d/2d."""

import numpy as np
import pytest
import torch

from bnviz import batchnorm as bn

SHAPES = [(8, 5), (3, 4, 6, 6), (1, 3, 2, 2), (2, 7)]


def _torch_bn(shape, eps, momentum):
    cls = torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d
    module = cls(shape[1], eps=eps, momentum=momentum).double()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        module.weight.copy_(torch.rand(shape[1], generator=gen, dtype=torch.float64) + 0.5)
        module.bias.copy_(torch.randn(shape[1], generator=gen, dtype=torch.float64))
    return module


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.5])
@pytest.mark.parametrize("momentum", [0.1, 0.01, 1.0, None])
def test_train_eval_and_running_stats_match_pytorch(shape, eps, momentum):
    module = _torch_bn(shape, eps, momentum)
    gamma, beta = module.weight.detach().numpy(), module.bias.detach().numpy()
    stats = bn.RunningStats.fresh(shape[1])
    rng = np.random.default_rng(0)
    for _ in range(4):  # several batches, so the running update compounds
        x = rng.normal(3.0, 2.0, size=shape)
        module.train()
        expected = module(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(bn.normalize(x, gamma, beta, eps), expected, atol=1e-5)
        stats = bn.update_running(stats, x, momentum)
        np.testing.assert_allclose(stats.mean, module.running_mean.numpy(), atol=1e-5)
        np.testing.assert_allclose(stats.var, module.running_var.numpy(), atol=1e-5)
    module.eval()
    x = rng.normal(size=shape)
    np.testing.assert_allclose(bn.normalize_eval(x, stats, gamma, beta, eps),
                               module(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


def test_running_variance_is_unbiased_but_normalization_is_biased():
    x = np.array([[0.0], [2.0]])  # m = 2: biased var 1, unbiased var 2
    assert bn.batch_stats(x)[1][0] == pytest.approx(1.0)
    stats = bn.update_running(bn.RunningStats.fresh(1), x, momentum=1.0)
    assert stats.var[0] == pytest.approx(2.0)


def test_post_normalization_is_standard_whatever_the_input():
    x = np.random.default_rng(2).normal(50.0, 9.0, size=(16, 3, 5, 5))
    y = bn.normalize(x, np.ones(3), np.zeros(3), eps=1e-5)
    mean, var = bn.batch_stats(y)
    np.testing.assert_allclose(mean, 0, atol=1e-9)
    np.testing.assert_allclose(var, 1, atol=1e-5)


def test_large_eps_shrinks_the_output():
    x = np.random.default_rng(3).normal(0.0, 0.1, size=(32, 2))  # var 0.01 << eps
    y = bn.normalize(x, np.ones(2), np.zeros(2), eps=1.0)
    assert y.std(axis=0).max() < 0.2  # sqrt(0.01 / 1.01) ~ 0.1


def test_pytorch_refuses_one_value_per_channel_and_the_config_knows():
    from bnviz.config import ConfigError, RunConfig
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(4).train()(torch.randn(1, 4))
    torch.nn.BatchNorm2d(4).train()(torch.randn(1, 4, 2, 2))  # N*H*W = 4 > 1: fine
    with pytest.raises(ConfigError, match="batch_size"):
        RunConfig(model="mlp", batch_size=1)
    assert RunConfig(model="seed_cnn", batch_size=1).batch_size == 1


def test_keras_momentum_is_one_minus_pytorch():
    assert bn.keras_momentum(0.1) == pytest.approx(0.9)
    assert bn.keras_momentum(0.01) == pytest.approx(0.99)
    assert bn.keras_momentum(None) is None
