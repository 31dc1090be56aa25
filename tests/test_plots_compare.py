"""The comparison figures (bnviz.plots.compare) on small synthetic records: overlays carry each arm's exact
values in its own colour, small multiples share their axes, and the difference histogram is closed-form."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from bnviz.plots import compare as cplots
from bnviz.plots import cost_figure, grad_norm_figure, prepost_histogram_figure, training_figure, update_ratio_figure
from bnviz.plots.style import KIND_COLORS, base_layout, legend_room, positive, split_title
from bnviz.views import VIEWS, At
from test_plots import BINS, LAYERS, SITES, make_record, without_empty_lists

CURVE_CHARTS = [(view.number, chart) for view in VIEWS if view.number not in (1, 3) for chart in view.charts]


def test_arm_colors_are_distinct_and_not_pre_or_post():
    assert len(set(cplots.ARM_COLORS)) == len(cplots.ARM_COLORS) == 4
    assert not set(cplots.ARM_COLORS) & set(KIND_COLORS.values())


def test_grad_norm_overlay_keeps_each_arms_values_in_its_colour():
    a, b = make_record(seed=1), make_record(seed=2)
    fig = cplots.overlay_figure([grad_norm_figure(a), grad_norm_figure(b)], ["A", "B"], "Gradient norm per layer")
    for i, (label, record) in enumerate((("A", a), ("B", b))):
        traces = [t for t in fig.data if t.name.startswith(f"{label}: ")]
        assert sorted(t.name for t in traces) == sorted(f"{label}: {layer}" for layer in LAYERS)
        alone = {t.name: t for t in grad_norm_figure(record).data if (t.opacity or 1) >= 0.5}  # its bold lines
        for j, trace in enumerate(traces):
            layer = trace.name[len(f"{label}: "):]
            np.testing.assert_array_equal(np.asarray(trace.y, dtype=float), np.asarray(alone[layer].y, dtype=float))
            assert trace.line.color == cplots.arm_color(i) and trace.line.dash == cplots.DASHES[j]
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend[:2] == ["A", "B"] and sorted(legend[2:]) == sorted(LAYERS)  # per arm (colour), per layer (dash)
    assert fig.layout.title.text == "Gradient norm per layer"


def test_an_overlay_keeps_a_subtitle_every_arm_shares_and_drops_one_of_arm_a_alone():
    records = [make_record(seed=s) for s in range(2)]
    cost = [cost_figure(r) for r in records]
    assert cost[0].layout.title.subtitle.text != cost[1].layout.title.subtitle.text  # each arm's own median
    assert not cplots.overlay_figure(cost, ["A", "B"], "Cost per step").layout.title.subtitle.text
    shared = [update_ratio_figure(r) for r in records]
    assert shared[0].layout.title.subtitle.text == shared[1].layout.title.subtitle.text
    fig = cplots.overlay_figure(shared, ["A", "B"], "Update:data ratio per layer")
    assert fig.layout.title.subtitle.text == shared[0].layout.title.subtitle.text


def test_training_overlay_leaves_out_the_faint_per_batch_loss():
    fig = cplots.overlay_figure([training_figure(make_record(seed=1)), training_figure(make_record(seed=2))],
                                ["A", "B"], "Loss and accuracy")
    names = {t.name for t in fig.data}
    assert "A: train, per batch" not in names and "A: test" in names and "B: train-mode − eval-mode" in names
    assert all(not str(t.line.color).startswith("rgba") for t in fig.data if t.line and t.line.color)


@pytest.mark.parametrize("number, chart", CURVE_CHARTS, ids=[c.slug for _, c in CURVE_CHARTS])
def test_an_overlay_gives_its_title_subtitle_and_legend_the_room_base_layout_and_legend_room_give(number, chart):
    # The room a chart of this title and subtitle gets (base_layout), and the room of the overlay's own legend
    # (legend_room), not the single run's legend room too: text overlapped when it kept a fixed top of 70 px.
    records = [make_record(seed=s) for s in range(3)]
    at = At("block1.norm") if any(v.per_site for v in VIEWS if v.number == number) else At()
    single = chart.figure(records[0], at)
    title = f"block1.norm: {chart.axes[0]}"
    arms = [chart.figure(r, at) for r in records]
    fig = cplots.overlay_figure(arms, ["A", "B", "C"], title)
    subtitle = single.layout.title.subtitle.text or ""
    shared = all((f.layout.title.subtitle.text or "") == subtitle for f in arms)  # else it is arm A's alone
    single_top = base_layout(single.layout.title.text, "", subtitle=subtitle)["margin"]["t"]
    head, rest = split_title(title)
    shown = (fig.layout.title.subtitle.text or "").replace("<br>", " ")
    assert fig.layout.title.text == head  # one line: the rest leads the subtitle, said once
    assert not rest or shown.lower().count(rest.lower()) == 1
    assert shown.endswith(subtitle.replace("<br>", " ") if shared else "")
    expected_top = base_layout(head, "", subtitle=fig.layout.title.subtitle.text or "")["margin"]["t"]
    assert fig.layout.margin.t == single.layout.margin.t + expected_top - single_top
    data = [t.to_plotly_json() for t in fig.data]
    own = lambda traces: legend_room(traces, {"margin": {"b": 0}})["margin"]["b"]  # noqa: E731
    single_room = own([t.to_plotly_json() for t in single.data])
    assert fig.layout.margin.b == single.layout.margin.b - single_room + own(data)


@pytest.mark.parametrize("number, chart", CURVE_CHARTS, ids=[c.slug for _, c in CURVE_CHARTS])
def test_every_curve_view_overlays_into_valid_plotly(number, chart):
    records = [make_record(seed=s) for s in range(3)]
    at = At("block1.norm") if any(v.per_site for v in VIEWS if v.number == number) else At()
    fig = cplots.overlay_figure([chart.figure(r, at) for r in records], ["A", "B", "C"], chart.axes[0])
    validated = go.Figure(fig.to_dict())  # raises on an invalid property
    assert without_empty_lists(json.loads(validated.to_json())) == without_empty_lists(json.loads(fig.to_json()))
    colours = {t.line.color or t.marker.color for t in fig.data if t.legendgroup in ("A", "B", "C")}
    assert colours == set(cplots.ARM_COLORS[:3])


def test_an_arm_without_the_chart_is_left_out():
    fig = cplots.overlay_figure([None, grad_norm_figure(make_record())], ["A", "B"], "g")
    assert {t.legendgroup for t in fig.data if t.legendgroup in ("A", "B")} == {"B"}


def test_a_diverged_arm_is_marked_in_its_colour():
    ok = make_record(seed=1)
    bad = make_record(seed=2)
    bad.status, bad.status_step = "diverged", 12
    fig = cplots.overlay_figure([grad_norm_figure(ok), grad_norm_figure(bad)], ["A", "B"], "g")
    marks = [s for s in fig.layout.shapes if s.x0 == 12]
    assert len(marks) == 1 and marks[0].line.color == cplots.arm_color(1)


def test_small_multiples_share_the_union_of_their_ranges():
    a, b = make_record(seed=1), make_record(seed=2)
    figures = [prepost_histogram_figure(r, "block1.norm") for r in (a, b)]
    shared = cplots.share_axes(figures)
    lo = min(r.snapshots[f"block1.norm/{k}/range"][-1][0] for r in (a, b) for k in ("pre", "post"))
    hi = max(r.snapshots[f"block1.norm/{k}/range"][-1][1] for r in (a, b) for k in ("pre", "post"))
    tops = [max(np.max(t.y) for t in f.data if t.type == "bar") for f in figures]
    for fig in shared:
        # The lines at mean +- std may reach past the bars; the bars' edges are inside the range.
        assert fig.layout.xaxis.range[0] <= lo + 1e-6 and fig.layout.xaxis.range[1] >= hi - 1e-6
        assert fig.layout.yaxis.range[1] >= max(tops)
    assert shared[0].layout.xaxis.range == shared[1].layout.xaxis.range
    assert shared[0].layout.yaxis.range == shared[1].layout.yaxis.range
    assert "A" in cplots.arm_figure(shared[0], "A", 0).layout.title.text


def _with_histogram(seed: int, counts, lo: float, hi: float):
    """A record whose block1.norm histograms (pre and post, every snapshot) are `counts` over [lo, hi]."""
    n, channels = 4, SITES["block1.norm"]
    per_channel = np.zeros((n, channels, BINS), np.uint16)
    per_channel[:, 0] = counts  # all in channel 0: the pooled histogram is `counts`
    columns = {f"snapshots__block1.norm/{kind}/{name}": value for kind in ("pre", "post")
               for name, value in (("channel_hist", per_channel), ("range", np.tile([lo, hi], (n, 1))))}
    return make_record(seed=seed, n_snapshots=n, **columns)


def test_difference_of_an_arm_with_itself_is_zero_and_of_two_shapes_is_closed_form():
    same = cplots.histogram_difference_figure(make_record(seed=1), make_record(seed=1), "block1.norm", ("A", "A'"))
    assert all(np.allclose(t.y, 0) for t in same.data) and len(same.data) == 2
    # A: all mass in the left half of [0, 8]; B: uniform on [0, 8]. Densities 1/4 and 1/8 on the left half,
    # 0 and 1/8 on the right: B - A is -1/8 on the left, +1/8 on the right.
    left = np.array([1, 1, 1, 1, 0, 0, 0, 0][:BINS]) * 10
    a = _with_histogram(1, left, 0.0, 8.0)
    b = _with_histogram(2, np.full(BINS, 10), 0.0, 8.0)
    fig = cplots.histogram_difference_figure(a, b, "block1.norm", ("A", "B"))
    for trace in fig.data:
        x, y = np.asarray(trace.x), np.asarray(trace.y)
        np.testing.assert_allclose(y[x < 3.9], -1 / 8, atol=1e-9)
        np.testing.assert_allclose(y[x > 4.1], 1 / 8, atol=1e-9)
        assert abs(np.sum(y) * (x[1] - x[0])) < 1e-9  # both densities integrate to 1
    assert "B − A · block1.norm" in fig.layout.title.text and "step 30" in fig.layout.xaxis.title.text


def test_difference_without_snapshots_is_an_explained_empty_chart():
    fig = cplots.histogram_difference_figure(make_record(n_snapshots=0), make_record(), "block1.norm", ("A", "B"))
    assert not fig.data and "No snapshots" in fig.layout.annotations[0].text
    assert set(SITES) >= {"block1.norm"}
