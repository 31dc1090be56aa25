"""The Papers page's figures (bnviz/plots/papers.py) on synthetic results: each draws exactly the numbers it is
given, partial results draw the arms that exist, and every figure passes plotly's own validation."""

import plotly.graph_objects as go
import pytest

from bnviz import papers
from bnviz.plots import papers as pp


def valid(fig: go.Figure) -> dict:
    go.Figure(fig.to_dict())  # plotly.py's validator: raises on a property plotly.js does not know
    return fig.to_dict()


def traces(fig, name):
    return [t for t in valid(fig)["data"] if t.get("name") == name]


def ioffe_arm(shift):
    return {"steps": [0, 10, 20], "test_acc": [0.1, 0.5 + shift, 0.9], "snapshot_step": [0, 10],
            "unit_percentiles": [[-1, 0, 1], [-2 + shift, 0, 2]], "median_percentiles": [[-0.5, 0, 0.5], [-1, 0, 1]]}


def test_ioffe_figures_draw_the_accuracy_and_the_bands_per_arm():
    m = {"unit": 7, "bn": ioffe_arm(0.2), "none": ioffe_arm(0.0)}
    acc = pp.ioffe_accuracy_figure(m)
    assert traces(acc, "with BN")[0]["y"] == pytest.approx([10, 70, 90])
    fig = valid(pp.ioffe_percentiles_figure(m, "bn"))
    unit = [t for t in fig["data"] if t.get("legendgroup") == "unit"]
    assert [t["y"] for t in unit] == [[-1, -1.8], [0, 0], [1, 2]]  # 15th, 50th, 85th of unit 7 over snapshots
    band = next(t for t in fig["data"] if t.get("fill") == "tonexty")
    assert band["y"] == [-0.5, -1] and "unit 7" in {t.get("name") for t in fig["data"]}
    none = valid(pp.ioffe_percentiles_figure(m, "none"))
    assert none["layout"]["yaxis"]["range"] == fig["layout"]["yaxis"]["range"]  # one scale: drift compares
    assert fig["layout"]["yaxis"]["range"][0] < -2 + 0.2 and fig["layout"]["yaxis"]["range"][1] > 2
    waiting = valid(pp.ioffe_percentiles_figure({"bn": ioffe_arm(0)}, "none"))  # live: not trained yet
    assert not waiting["data"] and waiting["layout"]["annotations"]
    assert not valid(pp.ioffe_accuracy_figure({}))["data"]


def test_wu_figure_has_error_bars_and_the_papers_curve_on_its_own_axis():
    panel = {"batches": [2, 32], "error": {"batch": [30.0, 10.0], "group": [12.0, 11.0]},
             "error_std": {"batch": [2.0, 0.5], "group": [1.0, 1.0]}}
    bn = traces(pp.wu_panel_figure({"models": ["mlp"], "mlp": panel}, "mlp"), "BN")[0]
    assert bn["x"] == [2, 32] and bn["y"] == [30.0, 10.0] and bn["error_y"]["array"] == [2.0, 0.5]
    paper = {t["name"]: t for t in valid(pp.wu_paper_figure(papers.get("wu2018").paper))["data"]}
    assert paper["BN"]["x"] == [2, 4, 8, 16, 32] and paper["BN"]["y"] == [34.7, 27.3, 24.8, 23.7, 23.6]
    assert paper["GN"]["y"][0] == 24.1
    keys = [k for k, _ in pp.figures("wu2018", {"models": ["mlp"], "mlp": panel}, papers.get("wu2018").paper)]
    assert keys == ["mlp", "paper"]  # the paper's curve on its own axis, beside ours


def test_higher_lr_marks_diverged_runs_and_the_bar():
    arm = {"rates": [0.1, 1.0, 10.0], "final_acc": [0.9, 0.8, 0.0], "diverged": [False, False, True]}
    fig = pp.higher_lr_figure({"acc_bar": 0.7, "bn": arm})
    assert traces(fig, "with BN")[0]["y"] == pytest.approx([90, 80, 0])
    assert traces(fig, "diverged, with BN")[0]["x"] == [10.0]
    assert valid(fig)["layout"]["shapes"][0]["y0"] == pytest.approx(70)


def test_small_batch_and_santurkar_figures():
    m = {"batches": [4, 64], "train_mode": [0.7, 0.95], "eval_mode": [0.9, 0.96], "recalibrated": [0.91, 0.96]}
    fig = pp.small_batch_figure(m)
    assert traces(fig, "eval mode, recalibrated")[0]["y"] == pytest.approx([91, 96])
    assert traces(fig, "train mode (batch stats)")[0]["x"] == [4, 64]
    arm = {"steps": [0, 5], "test_acc": [0.1, 0.9], "shift_step": [1, 2], "shift": [0.3, 0.2]}
    shift = pp.santurkar_shift_figure({"site": "block3.norm", "bn": arm, "noisy_bn": arm})
    assert [t["name"] for t in valid(shift)["data"]] == ["with BN", "noisy BN"]
    assert traces(shift, "noisy BN")[0]["y"] == [0.3, 0.2]


@pytest.mark.parametrize("name", papers.names())
def test_every_shipped_result_draws(name):
    result = papers.shipped(name)
    for slug, fig in pp.figures(name, result["measured"], papers.get(name).paper):
        assert valid(fig)["data"], (name, slug)
