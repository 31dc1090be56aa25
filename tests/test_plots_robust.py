"""The readable-range helpers and the figures that use them, against closed-form math and exact counts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnviz.plots import grad_norm_figure, histogram_heatmap_figure, prepost_histogram_figure
from bnviz.plots.histograms import NORMAL_NAME, Hist, overlay
from bnviz.plots.robust import TAIL, ema, log_range, normal_curve, outside, robust_window
from test_plots import make_record


def _ema_reference(values, weight):
    """TensorBoard's smoothing written as its recursion, one value at a time (non-finite values skipped)."""
    out, last, seen = [], 0.0, 0
    for x in values:
        if not math.isfinite(x):
            out.append(math.nan)
            continue
        last, seen = weight * last + (1 - weight) * x, seen + 1
        out.append(last / (1 - weight ** seen))
    return np.array(out)


# --- robust window ------------------------------------------------------------------------------
def test_robust_window_covers_the_stated_percentiles_of_a_normal_and_no_more_than_a_bin_beyond():
    values = np.random.default_rng(0).normal(size=200_000)
    values[:20] = 40.0  # a few outliers stretch the recorded range, as ReLU's tail does
    counts, edges = np.histogram(values, bins=512)
    first, stop = robust_window(counts)
    lo_q, hi_q = np.quantile(values, [TAIL, 1 - TAIL])
    assert edges[first] <= lo_q < edges[first + 1] + 1e-12  # the window starts in the bin of the 0.5th percentile
    assert edges[stop - 1] - 1e-12 < hi_q <= edges[stop]  # and ends in the bin of the 99.5th
    assert edges[stop] < 3.0  # the outliers at 40 are left out: 2.58 is the 99.5th percentile of N(0, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=64), st.floats(0.0, 0.2))
def test_robust_window_leaves_out_at_most_the_tail_and_counts_it_exactly(counts, tail):
    counts = np.array(counts)
    first, stop = robust_window(counts, tail)
    total = counts.sum()
    assert 0 <= first < stop <= len(counts)
    if total:
        assert counts[:first].sum() <= tail * total and counts[stop:].sum() <= tail * total
        # one more bin on either side would leave out more than the tail (the window is the tightest)
        assert first == 0 or counts[:first + 1].sum() > tail * total or first + 1 >= stop
    edges = np.arange(len(counts) + 1, dtype=float)
    below, above = outside(edges, counts, edges[first], edges[stop])
    assert (below, above) == (counts[:first].sum(), counts[stop:].sum())


def test_outside_counts_only_whole_bins_beyond_the_edges():
    edges, counts = np.linspace(0, 10, 11), np.arange(1, 11)  # bin i = [i, i+1) holds i+1 values
    assert outside(edges, counts, 2.0, 7.0) == (1 + 2, 8 + 9 + 10)
    assert outside(edges, counts, 2.5, 6.5) == (1 + 2, 8 + 9 + 10)  # bins cut by an edge are still drawn


# --- the standard normal reference --------------------------------------------------------------
def test_normal_reference_integrates_to_the_histogram_area():
    x, y = normal_curve(-8, 8, area=1.0, points=4001)
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=1e-6)
    assert y.max() == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-6)
    x, y = normal_curve(-1, 1, area=2.5, points=4001)  # within one std: 68.27% of the area
    assert np.trapezoid(y, x) == pytest.approx(2.5 * math.erf(1 / math.sqrt(2)), rel=1e-6)


def test_post_histogram_of_standard_normal_values_matches_the_reference():
    values = np.random.default_rng(1).normal(size=100_000)
    counts, edges = np.histogram(values, bins=64)
    data, xaxis, _, _ = overlay([Hist("post", "post", "#D55E00", edges, counts, 0.0, 1.0)], normal=True)
    bars = next(t for t in data if t["type"] == "bar")
    curve = next(t for t in data if t.get("name") == NORMAL_NAME)
    assert np.sum(bars["y"] * bars["width"]) == pytest.approx(1.0)  # density bars: area 1, as the curve's
    reference = np.interp(bars["x"], curve["x"], curve["y"])
    shown = (bars["x"] > xaxis["range"][0]) & (bars["x"] < xaxis["range"][1])
    assert np.max(np.abs(bars["y"][shown] - reference[shown])) < 0.02


# --- figures ------------------------------------------------------------------------------------
def _spiky_record():
    """block1.norm pre: 90% of its values in the first bin (ReLU's zeros), a tail of 1%, and one outlier bin."""
    counts = np.zeros((1, 4, 8), np.uint16)
    counts[0, 0] = [900, 40, 30, 20, 9, 0, 0, 1]
    flat = np.zeros((1, 4, 8), np.uint16)
    flat[0, 0] = 10  # post: 80 values spread evenly over [-4, 4], density 0.125
    return make_record(n_snapshots=1, **{"snapshots__block1.norm/pre/channel_hist": counts,
                                         "snapshots__block1.norm/pre/range": [[0.0, 8.0]],
                                         "snapshots__block1.norm/post/channel_hist": flat,
                                         "snapshots__block1.norm/post/range": [[-4.0, 4.0]]})


def test_histogram_window_drops_the_outlier_bin_and_marks_it():
    fig = prepost_histogram_figure(_spiky_record(), "block1.norm")
    # Bins of width 1: the last one holds 1 of 1000 values (0.1%, under the 0.5% tail) and is left out;
    # the 9 values at 4..5 (0.9%) are kept; post spans [-4, 4].
    assert fig.layout.xaxis.range == (-4.0, 5.0)
    marker = [t for t in fig.data if t.name == "pre off-axis"]
    assert len(marker) == 1 and "1 values above" in marker[0].hovertemplate
    assert "pre 0.1%" in fig.layout.title.subtitle.text
    full = prepost_histogram_figure(_spiky_record(), "block1.norm", robust=False)
    assert full.layout.xaxis.range[1] >= 8.0 and not [t for t in full.data if t.name == "pre off-axis"]


def test_a_spike_is_clipped_on_a_linear_axis_and_kept_on_a_log_axis():
    fig = prepost_histogram_figure(_spiky_record(), "block1.norm")
    pre = next(t for t in fig.data if t.type == "bar" and t.legendgroup == "pre")
    y = np.asarray(pre.y)
    top = fig.layout.yaxis.range[1]
    assert y[0] > top > np.sort(y)[-2]  # the spike is above the axis, the next bar below it
    assert "90% of pre" in fig.layout.title.subtitle.text.replace("\u00a0", " ").replace("<br>", " ")
    log = prepost_histogram_figure(_spiky_record(), "block1.norm", log_y=True)
    assert log.layout.yaxis.type == "log" and log.layout.yaxis.range is None
    log_pre = np.asarray(next(t for t in log.data if t.type == "bar" and t.legendgroup == "pre").y, dtype=float)
    assert np.isnan(log_pre[5]) and log_pre[0] == pytest.approx(y[0])  # empty bins are gaps, not log(0)


def test_the_normal_reference_is_drawn_only_when_the_run_normalizes():
    record = make_record(n_snapshots=2)
    assert any(t.name == NORMAL_NAME for t in prepost_histogram_figure(record, "block1.norm").data)
    record.config = dataclasses.replace(record.config, placement="none")
    assert not record.config.normalized
    assert not any(t.name == NORMAL_NAME for t in prepost_histogram_figure(record, "block1.norm").data)


def test_heatmap_window_and_its_hidden_share():
    counts = np.zeros((2, 3, 8), np.uint16)
    counts[:, 0] = [500, 300, 150, 45, 4, 0, 0, 1]  # 4 + 1 of 1000 values (0.5%: the tail) beyond 4
    record = make_record(n_snapshots=2, **{"snapshots__block2.norm/post/channel_hist": counts,
                                           "snapshots__block2.norm/post/range": [[0.0, 8.0], [0.0, 8.0]]})
    fig = histogram_heatmap_figure(record, "block2.norm", "post")
    assert tuple(fig.layout.xaxis.range) == (0.0, 4.0)
    heat = fig.data[0]
    x = np.asarray(heat.x)
    area = np.nansum(np.asarray(heat.z, dtype=float), axis=1) * (x[1] - x[0])
    np.testing.assert_allclose(area, 1 - 5 / 1000, rtol=1e-5)  # what lies beyond is missing from each row
    assert "at most 0.5%" in fig.layout.title.subtitle.text
    log = histogram_heatmap_figure(record, "block2.norm", "post", log_density=True)
    z, density = np.asarray(log.data[0].z, dtype=float), np.asarray(log.data[0].customdata, dtype=float)
    ok = density > 0
    np.testing.assert_allclose(z[ok], np.log10(density[ok]), rtol=1e-5)


# --- EMA and the gradient norms -----------------------------------------------------------------
@pytest.mark.parametrize("weight", [0.0, 0.01, 0.6, 0.9, 0.999])
def test_ema_equals_the_recursion(weight):
    values = np.random.default_rng(2).normal(size=(1500, 2))
    values[7, 0], values[300:320, 1] = np.nan, np.inf
    got = ema(values, weight)
    for j in range(2):
        np.testing.assert_allclose(got[:, j], _ema_reference(values[:, j], weight), rtol=1e-9, atol=1e-12)


def test_ema_closed_form_and_bad_weight():
    x = np.array([3.0, 5.0, 7.0])
    w = 0.5  # debiased weighted mean: weights w^(t-i), normalized
    assert ema(x, w)[-1] == pytest.approx((0.25 * 3 + 0.5 * 5 + 7) / 1.75)
    with pytest.raises(ValueError, match=r"smoothing weight=1.*0 <= weight < 1"):
        ema(x, 1.0)


def test_grad_norm_smooths_in_log_space_and_ranges_on_the_smoothed_lines():
    n = 400
    rng = np.random.default_rng(3)
    norms = np.column_stack([10 ** rng.normal(-2, 0.3, n), 10 ** rng.normal(0, 0.3, n), np.full(n, 100.0)])
    norms[50, 0] = 1e-18  # batch 2: one tiny norm and one huge one
    norms[60, 1] = 1e3
    record = make_record(n_steps=n, steps__grad_norm=norms)
    fig = grad_norm_figure(record, smoothing=0.6)
    smooth = next(t for t in fig.data if t.name == "block1.conv")
    np.testing.assert_allclose(np.log10(np.asarray(smooth.y)), _ema_reference(np.log10(norms[:, 0]), 0.6), rtol=1e-9)
    raw = next(t for t in fig.data if t.name == "block1.conv raw")
    assert raw.opacity < 0.5 and not raw.showlegend
    lo, hi = fig.layout.yaxis.range
    assert lo > -18 + 5 and hi < 3  # the 1e-18 point does not set the axis
    smoothed = np.log10(np.column_stack([np.asarray(t.y) for t in fig.data if t.showlegend is not False]))
    assert lo <= np.percentile(smoothed, 1) and hi >= np.percentile(smoothed, 99)
    assert "off-axis" in fig.layout.title.subtitle.text
    assert fig.data[0].name.startswith("head")  # drawn first, under the others
    assert grad_norm_figure(record, robust=False).layout.yaxis.range is None


def test_log_range_is_the_percentiles_in_decades():
    values = np.logspace(-4, 4, 10_001)
    lo, hi = log_range(values, 1, 99, pad=0)
    assert lo == pytest.approx(-4 + 0.08, abs=1e-6) and hi == pytest.approx(4 - 0.08, abs=1e-6)
    assert log_range(np.array([0.0, np.nan, -1.0])) is None
