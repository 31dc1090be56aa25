"""The theory page's demonstrations (bnviz.theory) against torch.nn.BatchNorm1d and closed-form math."""


import numpy as np
import pytest
import torch

from bnviz import plots
from bnviz import theory as th


def _torch_bn(momentum, eps=th.PYTORCH_EPS):
    return torch.nn.BatchNorm1d(1, eps=eps, momentum=momentum).double()


@pytest.mark.parametrize("mean, std", [(5.0, 2.0), (-8.0, 0.3), (0.0, 9.0)])
def test_running_rules_pytorch_matches_torch_and_article_collapses_to_standard(mean, std):
    batches = th.draw_batches(mean, std, 200, 32)
    test_batch = th.draw_batches(mean, std, 1, 256, seed=1)[0]
    rules = th.running_rules(batches, test_batch, momentum=0.1)
    module = _torch_bn(0.1).train()
    for x in batches:
        module(torch.from_numpy(x))
    np.testing.assert_allclose(rules.running_mean[-1], module.running_mean.item(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rules.running_std[-1] ** 2, module.running_var.item(), rtol=1e-9)
    module.eval()
    torch_eval = module(torch.from_numpy(test_batch)).detach().numpy()
    assert rules.eval_running == pytest.approx((torch_eval.mean(), torch_eval.std()), abs=1e-9)
    # The true input statistics are learned (EMA noise only); the article's rule sits at (0, 1) whatever x is.
    assert rules.running_mean[-1] == pytest.approx(mean, abs=0.1 * std)
    assert rules.running_std[-1] == pytest.approx(std, rel=0.1)
    np.testing.assert_allclose(rules.article_mean, 0.0, atol=1e-9)
    np.testing.assert_allclose(rules.article_std[1:], np.sqrt(std ** 2 / (std ** 2 + th.PYTORCH_EPS)), rtol=0.01)
    # Eval mode with the article's statistics barely transforms x: the output keeps the input's statistics.
    assert rules.eval_article == pytest.approx((test_batch.mean(), test_batch.std()), rel=1e-4, abs=1e-4)
    assert rules.eval_running[0] == pytest.approx(0.0, abs=0.25) and rules.eval_running[1] == pytest.approx(1, rel=0.15)
    assert rules.train == pytest.approx((0.0, 1.0), abs=1e-4)


def test_affine_matches_torch_and_recovers_the_identity():
    aff = th.affine(gamma=-1.7, beta=2.5)
    module = _torch_bn(0.1).train()
    with torch.no_grad():
        module.weight.fill_(-1.7)
        module.bias.fill_(2.5)
    expected = module(torch.from_numpy(aff.x[:, None])).detach().numpy()[:, 0]
    np.testing.assert_allclose(aff.y, expected, atol=1e-9)
    assert aff.y.mean() == pytest.approx(2.5, abs=1e-9)
    assert aff.y.std() == pytest.approx(1.7, rel=1e-4)
    assert aff.identity_error < 1e-12
    assert aff.identity_gamma == pytest.approx(np.sqrt(aff.x.var() + th.PYTORCH_EPS))
    assert aff.identity_beta == pytest.approx(aff.x.mean())
    # sigma * (x - mu) / sqrt(eps + sigma^2) = (x - mu) up to eps: the input std survives.
    assert aff.article_literal_std == pytest.approx(aff.x.std(), rel=1e-4)


@pytest.mark.parametrize("var", [1e-8, 1e-5, 1e-3, 1.0, 50.0])
@pytest.mark.parametrize("eps", [th.PYTORCH_EPS, th.KERAS_EPS, 0.5])
def test_post_std_closed_form_matches_measured_and_torch(var, eps):
    expected = np.sqrt(var / (var + eps))
    assert th.post_std(var, eps) == pytest.approx(expected)
    assert th.measured_post_std(var, eps) == pytest.approx(expected, rel=1e-9)
    z = np.random.default_rng(3).normal(size=(256, 1))
    x = (z - z.mean()) / z.std() * np.sqrt(var)
    out = _torch_bn(0.1, eps).train()(torch.from_numpy(x)).detach().numpy()
    assert out.std() == pytest.approx(expected, rel=1e-6)


def test_eps_curves_keras_shrinks_more_and_half_at_var_equal_eps():
    variances, curves = th.eps_curves()
    assert np.all(curves[th.KERAS_EPS] <= curves[th.PYTORCH_EPS])
    assert np.all(np.diff(variances) > 0) and np.all(np.diff(curves[th.KERAS_EPS]) > 0)
    assert th.post_std(th.KERAS_EPS, th.KERAS_EPS) == pytest.approx(np.sqrt(0.5))
    assert curves[th.PYTORCH_EPS][-1] == pytest.approx(1.0, abs=1e-6)


def test_torch_refuses_eps_zero_in_training():
    with pytest.raises(ValueError, match="eps must be positive"):
        torch.nn.BatchNorm1d(1, eps=0.0)(torch.randn(4, 1))


@pytest.mark.parametrize("momentum", [0.1, 0.01, None, 1.0, 0.0])
def test_running_mean_trajectories_match_torch(momentum):
    batches = th.draw_batches(5.0, 1.0, 30, 16, seed=2)
    trail = th.running_mean_trajectories(batches, [momentum])[momentum]
    module = _torch_bn(momentum).train()
    expected = [0.0]
    for x in batches:
        module(torch.from_numpy(x))
        expected.append(module.running_mean.item())
    np.testing.assert_allclose(trail, expected, atol=1e-12)


def test_keras_rule_with_one_minus_m_equals_pytorch_rule():
    batches = th.draw_batches(5.0, 1.0, 50, 16, seed=2)
    trails = th.running_mean_trajectories(batches, [0.1, 0.01])
    np.testing.assert_allclose(th.keras_moving_mean(batches, 0.9), trails[0.1], atol=1e-12)
    np.testing.assert_allclose(th.keras_moving_mean(batches, 0.99), trails[0.01], atol=1e-12)
    assert th.keras_equivalent(0.1) == "Keras momentum=0.9"
    assert th.keras_equivalent(0.01) == "Keras momentum=0.99"
    assert "cumulative" in th.keras_equivalent(None)
    # None is the cumulative average: after t batches, the mean of the t batch means.
    cumulative = th.running_mean_trajectories(batches, [None])[None]
    assert cumulative[-1] == pytest.approx(batches.mean())


def test_train_outputs_match_torch_per_batch():
    x = np.random.default_rng(4).normal(5.0, 2.0, size=(4, 6))
    for column in range(x.shape[1]):
        out = _torch_bn(0.1).train()(torch.from_numpy(x[:, column:column + 1])).detach().numpy()
        assert th.train_outputs(x)[column] == pytest.approx(out[0, 0], abs=1e-9)


def test_mode_gap_batch_of_two_gives_plus_minus_one():
    gap = th.mode_gap(2, 0.1)
    # In a batch of two each value sits one (biased) std from the mean: |y| = sqrt(v / (v + eps)) <= 1, ~1
    # unless the batch-mate is within ~sqrt(eps) of x0; the sign is + iff the batch-mate is below x0 = mean + std,
    # which happens with probability Phi(1) = 0.841.
    assert np.all(np.abs(gap.train_outputs) <= 1.0) and np.median(np.abs(gap.train_outputs)) > 0.999
    assert np.mean(gap.train_outputs > 0) == pytest.approx(0.8413, abs=0.05)


def test_mode_gap_train_spread_shrinks_with_batch_size_and_eval_is_near_truth():
    spreads = [th.mode_gap(b, 0.1).train_outputs.std() for b in (4, 32, 256)]
    assert spreads[0] > spreads[1] > spreads[2]
    big = th.mode_gap(256, 0.1)
    assert big.train_outputs.mean() == pytest.approx(big.true_value, abs=0.05)
    assert big.eval_output == pytest.approx(big.true_value, abs=0.1)
    assert big.running_mean == pytest.approx(5.0, abs=0.1) and big.running_var == pytest.approx(4.0, rel=0.1)


def test_momentum_zero_freezes_running_stats_and_breaks_eval_like_torch():
    gap = th.mode_gap(32, 0.0)
    assert (gap.running_mean, gap.running_var) == (0.0, 1.0)
    module = _torch_bn(0.0).train()
    for x in th.draw_batches(5.0, 2.0, 10, 32):
        module(torch.from_numpy(x))
    expected = module.eval()(torch.tensor([[gap.sample]], dtype=torch.float64)).item()
    assert gap.eval_output == pytest.approx(expected) == pytest.approx(gap.sample / np.sqrt(1 + th.PYTORCH_EPS))
    assert abs(gap.eval_output - gap.true_value) > 5  # x0 = 7 comes out as 7, not 1


@pytest.mark.parametrize("call, field", [
    (lambda: th.draw_batches(0.0, 0.0, 3, 8), "std"),
    (lambda: th.draw_batches(0.0, 1.0, 3, 1), "batch_size"),
    (lambda: th.mode_gap(8, 1.5), "momentum"),
    (lambda: th.affine(float("nan"), 0.0), "gamma"),
    (lambda: th.measured_post_std(1.0, -1e-5), "eps"),
])
def test_bad_input_names_the_field_and_range(call, field):
    with pytest.raises(ValueError, match=rf"^{field}=.* out of range: "):
        call()


def test_figures_carry_the_data():
    fig = plots.lines_figure("t", np.arange(3), {"a": np.array([1.0, 2.0, 3.0])}, "x", "y", log_x=True, marks={"m": 2})
    assert fig.layout.xaxis.type == "log" and list(fig.data[0].y) == [1.0, 2.0, 3.0]
    mark = next(t for t in fig.data if t.name == "m")  # a legend entry, not text lying on the data lines
    assert list(mark.y) == [2, 2] and not fig.layout.annotations
    marked = plots.lines_figure("t", np.arange(3), {"a": np.array([1.0, 2.0, 3.0])}, "x", "y", x_marks={"v": 1.5})
    assert list(marked.data[1].x) == [1.5, 1.5] and list(marked.data[1].y) == [1.0, 3.0]
    values = np.random.default_rng(0).normal(size=500)
    hist = plots.samples_histogram_figure("h", {"v": values}, "x", marks={"m": 0.0}, bins=20)
    assert list(next(t for t in hist.data if t.name == "m").x) == [0.0, 0.0]
    widths = np.asarray(hist.data[0].width)
    assert np.sum(np.asarray(hist.data[0].y) * widths) == pytest.approx(1.0)  # a density
    constant = plots.samples_histogram_figure("c", {"v": np.zeros(5)}, "x")  # one value: no zero-width bins
    assert np.all(np.isfinite(np.asarray(constant.data[0].y, dtype=float)))
