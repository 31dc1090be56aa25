"""The paper reproductions: each verdict on synthetic numbers (both ways), the measuring helpers against closed
form, and each reproduction's "test" budget (a smaller quick, seeded) asserting its trend with its threshold."""

import json

import numpy as np
import pytest

from bnviz import papers
from bnviz.papers import higher_lr, ioffe2015, santurkar2018, small_batch, wu2018


def test_registry_describes_every_reproduction():
    assert papers.names() == ["ioffe2015", "wu2018", "higher_lr", "small_batch", "santurkar2018"]
    for name in papers.names():
        info = papers.get(name).describe()
        assert all(info[k] for k in ("claim", "source", "paper_setup", "our_setup", "smaller", "threshold"))
        assert set(info["budgets"]) == set(papers.BUDGETS)
    with pytest.raises(KeyError, match="known: ioffe2015"):
        papers.get("nope")


# --- measuring helpers against closed form -------------------------------------------------------
def test_unit_percentiles_from_histograms_match_numpy_within_a_bin():
    rng = np.random.default_rng(0)
    values = rng.normal([0.0, 3.0], [1.0, 0.5], size=(5000, 2))  # two units
    lo, hi, bins = values.min(), values.max(), 64
    counts = np.stack([np.histogram(values[:, u], bins, (lo, hi))[0] for u in range(2)])[None]
    got = ioffe2015.unit_percentiles(counts, np.array([lo]), np.array([hi]))[0]
    expected = np.percentile(values, ioffe2015.QUANTILES, axis=0).T
    np.testing.assert_allclose(got, expected, atol=(hi - lo) / bins)


def test_distribution_shift_is_the_scale_free_move_of_each_unit():
    mean = np.array([[0.0, 10.0], [0.5, 10.0], [0.5, 12.0]])
    std = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(santurkar2018.distribution_shift(mean, std), [(0.5 + 0) / 2, (1.0 + 1.0) / 2])
    np.testing.assert_allclose(santurkar2018.distribution_shift(mean * 7, std * 7), [0.25, 1.0])  # scale-free


# --- verdicts on synthetic numbers: each holds, and fails when the trend is broken ----------------
def _ioffe(bn_bar, none_bar, bn_drift, none_drift, bn_acc=0.9, none_acc=0.8):
    arm = lambda bar, drift, acc: {"steps_to_bar": bar, "drift_median": drift, "final_acc": acc}  # noqa: E731
    return {"bn": arm(bn_bar, bn_drift, bn_acc), "none": arm(none_bar, none_drift, none_acc)}


def test_ioffe_verdict():
    assert ioffe2015.verdict(_ioffe(100, 400, 0.3, 2.1))[0]
    assert ioffe2015.verdict(_ioffe(100, None, 0.3, 2.1))[0]
    assert not ioffe2015.verdict(_ioffe(300, 400, 0.3, 2.1))[0]  # not twice as fast
    assert not ioffe2015.verdict(_ioffe(100, 400, 1.2, 2.1))[0]  # percentiles move more than half as much
    assert not ioffe2015.verdict(_ioffe(100, 400, 0.3, 2.1, bn_acc=0.7))[0]
    assert "0.30 with BN and 2.10 without" in ioffe2015.verdict(_ioffe(100, 400, 0.3, 2.1))[1]


def test_wu_verdict():
    paper = {"models": ["mlp"], "mlp": {"batches": [2, 32], "error": {"batch": [34.7, 23.6], "group": [24.1, 24.1]},
                                        "batch_ratio": 34.7 / 23.6, "group_ratio": 1.0}}
    assert wu2018.verdict(paper)[0]  # the paper's own numbers pass
    flat = json.loads(json.dumps(paper))
    flat["mlp"].update(batch_ratio=1.1, group_ratio=1.0)
    assert not wu2018.verdict(flat)[0]


def test_higher_lr_verdict():
    m = lambda bn, none: {"bn": {"largest": bn}, "none": {"largest": none}, "acc_bar": 0.7}  # noqa: E731
    assert higher_lr.verdict(m(3.0, 0.3))[0] and higher_lr.verdict(m(1.0, None))[0]
    assert not higher_lr.verdict(m(1.0, 0.5))[0] and not higher_lr.verdict(m(None, 0.3))[0]


def test_small_batch_verdict():
    m = lambda gap, after: {"batches": [4, 64], "gap": gap, "gap_recalibrated": after}  # noqa: E731
    assert small_batch.verdict(m([0.10, 0.01], [0.02, 0.01]))[0]
    assert not small_batch.verdict(m([0.10, 0.01], [0.08, 0.01]))[0]  # recalibration leaves most of it
    assert not small_batch.verdict(m([0.02, 0.01], [0.0, 0.0]))[0]  # no gap to speak of


def test_santurkar_verdict():
    arm = lambda acc, shift: {"final_acc": acc, "median_shift": shift}  # noqa: E731
    m = lambda noisy_acc, noisy_shift: {"bn": arm(0.9, 0.01), "noisy_bn": arm(noisy_acc, noisy_shift),  # noqa: E731
                                        "none": arm(0.85, 0.05)}
    assert santurkar2018.verdict(m(0.88, 0.5))[0]
    assert not santurkar2018.verdict(m(0.80, 0.5))[0] and not santurkar2018.verdict(m(0.88, 0.06))[0]


# --- the trends, measured: each reproduction's test budget ----------------------------------------
def test_ioffe2015_bn_trains_sooner_and_its_sigmoid_inputs_stay_put():
    result = papers.run("ioffe2015", "test")
    m = result["measured"]
    assert result["holds"], result["verdict"]
    assert m["bn"]["final_acc"] > m["none"]["final_acc"] + 0.3
    assert m["bn"]["drift_median"] < 0.6 * m["none"]["drift_median"]
    json.dumps(result, allow_nan=False)  # what the CLI prints and the page reads


def test_wu2018_bn_degrades_at_batch_2_where_groupnorm_does_not():
    result = papers.run("wu2018", "test")  # the mlp panel: BN averages over the batch alone
    p = result["measured"]["mlp"]
    assert result["holds"], result["verdict"]
    assert p["error"]["batch"][0] > p["error"]["batch"][-1] + 5  # percentage points
    assert p["batch_ratio"] > wu2018.MARGIN * p["group_ratio"]


def test_higher_lr_bn_trains_at_a_rate_that_diverges_without_it():
    result = papers.run("higher_lr", "test")
    m = result["measured"]
    assert result["holds"], result["verdict"]
    assert m["bn"]["largest"] >= 3 * (m["none"]["largest"] or 0)
    assert any(m["none"]["diverged"]) and not m["none"]["trains"][-1] and m["bn"]["trains"][1]


def test_small_batch_gap_widens_as_the_batch_shrinks():
    result = papers.run("small_batch", "test")
    m = result["measured"]
    assert m["gap"][0] >= m["gap"][-1] + small_batch.MIN_GAP, result["verdict"]
    # Recalibration never breaks a trained model's eval mode (its closing of the gap is judged in the verdict).
    assert all(r >= e - 0.02 for r, e in zip(m["recalibrated"], m["eval_mode"]))


def test_santurkar2018_noisy_bn_trains_like_bn_with_less_stable_inputs():
    # The shift is measured on a fixed probe batch (bnviz.probe): these bounds fail if the noise is off (noisy BN
    # would shift like BN), breaks training, or if the probe drew a fresh batch (a sampling floor for no BN).
    result = papers.run("santurkar2018", "test")
    m = result["measured"]
    assert result["holds"], result["verdict"]
    assert m["noisy_bn"]["final_acc"] >= m["bn"]["final_acc"] - santurkar2018.ACC_DROP
    assert m["noisy_bn"]["median_shift"] > 3 * m["bn"]["median_shift"]
    assert m["noisy_bn"]["median_shift"] > santurkar2018.SHIFT_FACTOR * m["none"]["median_shift"]
    assert len(m["bn"]["shift"]) == santurkar2018.STEPS["test"] - 1  # one per step, not per record snapshot