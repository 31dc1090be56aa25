"""Recorder: pre/post statistics against closed-form expectations and PyTorch's own BatchNorm."""

import numpy as np
import pytest
import torch

from bnviz.config import RunConfig
from bnviz.models import blocks, build_model
from bnviz.record import PERCENTILES
from bnviz.recorder import Recorder


def _measure(cfg, x, sample_size=4096):
    model = build_model(cfg).train()
    recorder = Recorder(model, cfg.activation, cfg.hist_bins, sample_size=sample_size)
    recorder.arm()
    model(x)
    return model, recorder, recorder.collect()


@pytest.fixture(scope="module")
def images():
    from bnviz.data import load_dataset
    return load_dataset("mnist-5k").tensors("cpu")[0][:64]


def test_at_init_post_batchnorm_is_standard_while_pre_is_not(images):
    _, recorder, m = _measure(RunConfig(), images, sample_size=10**8)  # every value
    for site in ("block1.norm", "block2.norm"):
        post_mean, post_std = m[f"{site}/post/channel_mean"], m[f"{site}/post/channel_std"]
        assert post_mean.abs().max() < 1e-4
        # Closed form: std of (x - mu) / sqrt(var + eps) is sqrt(var / (var + eps)), just under 1.
        expected = (m[f"{site}/batch_var"] / (m[f"{site}/batch_var"] + 1e-5)).sqrt()
        torch.testing.assert_close(post_std, expected, atol=5e-4, rtol=0)  # float32 sums
        pre_std = m[f"{site}/pre/channel_std"]
        assert (pre_std - 1).abs().max() > 0.3  # ReLU outputs are far from unit variance
    recorder.close()


def test_default_subsample_estimates_the_whole_tensor(images):
    _, _, sampled = _measure(RunConfig(), images, sample_size=16384)
    _, _, full = _measure(RunConfig(), images, sample_size=10**8)
    for site in ("block1.norm", "block2.norm"):
        for kind in ("pre", "post"):
            assert sampled[f"{site}/{kind}/mean"].item() == pytest.approx(full[f"{site}/{kind}/mean"].item(), abs=0.03)
            assert sampled[f"{site}/{kind}/std"].item() == pytest.approx(full[f"{site}/{kind}/std"].item(), rel=0.03)


def test_batch_statistics_are_what_pytorch_normalizes_with(images):
    model, recorder, m = _measure(RunConfig(momentum=1.0), images)
    bn = blocks(model)["block1.norm"].norm
    # With momentum 1 the running stats are this batch's mean and unbiased variance.
    n = images.shape[0] * 26 * 26
    torch.testing.assert_close(m["block1.norm/batch_mean"], bn.running_mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m["block1.norm/batch_var"] * n / (n - 1), bn.running_var, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(m["block1.norm/gamma"], torch.ones(32))
    recorder.close()


@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_batch_statistics_kept_for_backward_and_computed_ones_are_pytorchs(images, eps):
    """With autograd on, the recorder reads what the layer kept for its backward pass (the mean and
    1/sqrt(var + eps)); without it, it computes them. Both against torch.var_mean of the layer's input."""
    cfg = RunConfig(eps=eps)
    model = build_model(cfg).train()
    recorder = Recorder(model, cfg.activation, cfg.hist_bins)
    inputs, nodes = {}, {}

    def keep(site):
        def hook(module, args, output):
            inputs[site], nodes[site] = args[0].detach(), output.grad_fn
        return hook

    for site, block in blocks(model).items():
        block.norm.register_forward_hook(keep(site))
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            recorder.arm()
            model(images)
            m = recorder.collect()
        for site in ("block1.norm", "block2.norm"):
            assert (type(nodes[site]).__name__ == "NativeBatchNormBackward0") is grad
            if grad:  # the very tensor the layer kept, not a recomputation
                assert m[f"{site}/batch_mean"].data_ptr() == nodes[site]._saved_result1.data_ptr()
            var, mean = torch.var_mean(inputs[site], dim=(0, 2, 3), correction=0)
            torch.testing.assert_close(m[f"{site}/batch_mean"], mean, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(m[f"{site}/batch_var"], var, atol=1e-5, rtol=1e-4)
    recorder.close()


def test_large_eps_visibly_lowers_post_std(images):
    small = _measure(RunConfig(eps=1e-5), images)[2]
    large = _measure(RunConfig(eps=1.0), images)[2]
    for site in ("block1.norm", "block2.norm"):
        assert large[f"{site}/post/std"] < 0.8 * small[f"{site}/post/std"]


def test_subsample_covers_every_channel_evenly(images):
    _, _, m = _measure(RunConfig(), images[:8], sample_size=16384)
    for site, channels in (("block1.norm", 32), ("block2.norm", 64)):
        per_channel = m[f"{site}/pre/channel_hist"].sum(1)
        assert per_channel.sum() <= 16384 and (per_channel > 0).all()
        assert per_channel.max() - per_channel.min() <= 0.05 * per_channel.float().mean() + 2


def test_placement_none_records_the_identity(images):
    _, recorder, m = _measure(RunConfig(placement="none"), images)
    for site in ("block1.norm", "block2.norm"):
        for stat in ("mean", "std", "percentiles", "channel_hist", "range"):
            torch.testing.assert_close(m[f"{site}/pre/{stat}"], m[f"{site}/post/{stat}"])
    assert "block1.norm/batch_mean" not in m
    recorder.close()


def test_statistics_match_numpy_on_a_known_distribution():
    cfg = RunConfig(norm="none", activation="tanh", hist_bins=32)
    model = build_model(cfg)
    everything = dict(sample_size=10**7, percentile_samples=10**7)  # no subsampling
    recorder = Recorder(model, cfg.activation, cfg.hist_bins, **everything)
    x = torch.randn(16, 64, 24, 24, generator=torch.Generator().manual_seed(0))
    recorder._measure("block2.norm", blocks(model)["block2.norm"].norm, x, x)
    m = recorder.collect()
    values = x.numpy().ravel()
    assert m["block2.norm/pre/mean"].item() == pytest.approx(values.mean(), abs=1e-5)
    assert m["block2.norm/pre/std"].item() == pytest.approx(values.std(), rel=1e-4)
    np.testing.assert_allclose(m["block2.norm/pre/percentiles"].numpy(),
                               np.percentile(values, PERCENTILES), rtol=1e-4, atol=1e-4)
    expected_hist, _ = np.histogram(values, bins=32, range=(values.min(), values.max()))
    got = m["block2.norm/pre/channel_hist"].sum(0).numpy()
    assert np.abs(got - expected_hist).sum() <= 4  # float rounding at bin edges only
    ch3 = x[:, 3].numpy().ravel()
    assert m["block2.norm/pre/channel_mean"][3].item() == pytest.approx(ch3.mean(), abs=1e-5)
    assert m["block2.norm/pre/channel_std"][3].item() == pytest.approx(ch3.std(), rel=1e-3)
    # Placement "after": the site's input already is the tanh output.
    assert m["block2.norm/saturated"].item() == pytest.approx((np.abs(values) > 0.97).mean(), abs=1e-6)
    recorder.close()


def test_non_finite_values_are_counted_and_left_out():
    cfg = RunConfig(norm="none", hist_bins=16)
    model = build_model(cfg)
    recorder = Recorder(model, cfg.activation, cfg.hist_bins, sample_size=10**7, percentile_samples=10**7)
    post = torch.randn(4, 32, 26, 26, generator=torch.Generator().manual_seed(1))
    pre = 2 * post + 1  # pre and post are measured together, row by row: they must not mix
    pre[0, 0, 0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    recorder._measure("block1.norm", blocks(model)["block1.norm"].norm, pre, post)
    m = recorder.collect()
    for kind, x, bad in (("pre", pre, 3), ("post", post, 0)):
        values = x.numpy().ravel()
        values = values[np.isfinite(values)]
        assert m[f"block1.norm/{kind}/nonfinite"].item() == bad
        assert m[f"block1.norm/{kind}/mean"].item() == pytest.approx(values.mean(), abs=1e-5)
        np.testing.assert_allclose(m[f"block1.norm/{kind}/range"].numpy(), [values.min(), values.max()])
        np.testing.assert_allclose(m[f"block1.norm/{kind}/percentiles"].numpy(), np.percentile(values, PERCENTILES),
                                   rtol=1e-4, atol=1e-4)
        counts = m[f"block1.norm/{kind}/channel_hist"]
        assert counts.sum().item() == x.numel() - bad
        expected, _ = np.histogram(values, bins=16, range=(values.min(), values.max()))
        assert np.abs(counts.sum(0).numpy() - expected).sum() <= 4  # float rounding at bin edges only


def test_dead_relu_fraction_before_placement_is_measured_on_the_activation_output(images):
    _, recorder, m = _measure(RunConfig(placement="before"), images)
    # Post-BN values are ~N(0,1) before the ReLU: about half land at zero after it.
    assert 0.35 < m["block1.norm/saturated"].item() < 0.65
    recorder.close()


def test_hooks_only_measure_when_armed_and_are_gone_after_close(images):
    cfg = RunConfig()
    model = build_model(cfg)
    recorder = Recorder(model, cfg.activation, cfg.hist_bins)
    model(images[:4])
    assert recorder.collect() == {}
    assert all(len(b.norm._forward_hooks) == 1 for b in blocks(model).values())
    with recorder:
        pass
    assert all(len(b.norm._forward_hooks) == 0 for b in blocks(model).values())
