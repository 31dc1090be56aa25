"""The sweep chart and table on synthetic results: error bars equal the seeds' closed-form mean and std
(or min and max), one line per value of the other knob, unfinished runs counted but not averaged."""

import base64
import csv
import io
import math
import statistics

import numpy as np
import plotly.graph_objects as go
import pytest

from bnviz.config import RunConfig
from bnviz.plots.sweep import NO_RESULTS_HINT, sweep_figure
from bnviz.sweep import RunResult
from bnviz.sweep_table import results_csv

BATCHES, NORMS, SEEDS = (2, 4, 8, 16, 32), ("batch", "group", "layer"), (0, 1, 2)


def acc(batch: int, norm: int, seed: int) -> float:
    """A made-up accuracy, different per point and per seed."""
    return 0.6 + 0.01 * math.log2(batch) * (norm + 1) + 0.013 * seed * seed


def synthetic() -> list[RunResult]:
    return [RunResult(RunConfig(model="mlp", groups=4, batch_size=b, norm=n, seed=s), "finished",
                      test_acc=acc(b, j, s), train_mode_acc=acc(b, j, s) + 0.01 * s, eval_mode_acc=acc(b, j, s),
                      ms_per_step=1.0 + b)
            for j, n in enumerate(NORMS) for b in BATCHES for s in SEEDS]


def validated(figure: go.Figure) -> dict:
    """The figure through plotly's validator (which rejects a malformed spec), arrays decoded."""
    spec = go.Figure(figure.to_dict()).to_dict()
    for trace in spec["data"]:
        for key in ("y",):
            trace[key] = array(trace[key])
        for key in ("array", "arrayminus"):
            trace["error_y"][key] = array(trace["error_y"][key])
    return spec


def array(values) -> np.ndarray:
    """Plotly sends numpy arrays base64-encoded ({"dtype", "bdata"})."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
    return np.asarray(values, dtype=float)


def test_error_bars_are_the_seeds_mean_and_sample_std():
    figure = validated(sweep_figure(synthetic(), "batch_size", "norm", "error", "std"))
    traces = figure["data"]
    assert [t["name"] for t in traces] == [f"norm={n}" for n in NORMS]
    for j, trace in enumerate(traces):
        assert list(trace["x"]) == list(BATCHES)
        errors = [[100 * (1 - acc(b, j, s)) for s in SEEDS] for b in BATCHES]
        np.testing.assert_allclose(trace["y"], [statistics.mean(e) for e in errors], rtol=1e-12)
        np.testing.assert_allclose(trace["error_y"]["array"], [statistics.stdev(e) for e in errors], rtol=1e-9)
        np.testing.assert_allclose(trace["error_y"]["arrayminus"], [statistics.stdev(e) for e in errors],
                                   rtol=1e-9)
    xaxis = figure["layout"]["xaxis"]
    assert xaxis["type"] == "log" and list(xaxis["tickvals"]) == list(BATCHES)


def test_min_max_bars_and_the_gap_metric():
    figure = validated(sweep_figure(synthetic(), "batch_size", "norm", "gap", "minmax"))
    trace = figure["data"][1]
    gaps = [100 * 0.01 * s for s in SEEDS]  # train-mode minus eval-mode accuracy, in % points
    np.testing.assert_allclose(trace["y"], [statistics.mean(gaps)] * len(BATCHES), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(trace["y"]) + trace["error_y"]["array"], [max(gaps)] * 5, atol=1e-9)
    np.testing.assert_allclose(np.asarray(trace["y"]) - trace["error_y"]["arrayminus"], [min(gaps)] * 5,
                               atol=1e-9)


def test_unfinished_runs_are_counted_not_averaged_and_one_seed_has_no_bar():
    results = synthetic()
    for r in results:
        if r.config.seed == 2 and r.config.batch_size == 2:
            r.status, r.test_acc = "diverged", math.nan
    figure = validated(sweep_figure([r for r in results if r.config.seed != 1], "batch_size", "norm", "error"))
    trace = figure["data"][0]
    assert trace["customdata"][0] == [1, 2]  # 1 of the 2 runs at batch 2 finished
    assert trace["y"][0] == pytest.approx(100 * (1 - acc(2, 0, 0))) and trace["error_y"]["array"][0] == 0


def test_a_categorical_x_knob_and_a_single_line():
    results = [r for r in synthetic() if r.config.batch_size == 8]
    figure = validated(sweep_figure(results, "norm", None, "ms"))
    assert len(figure["data"]) == 1 and list(figure["data"][0]["x"]) == list(NORMS)
    assert figure["layout"]["xaxis"]["type"] == "category" and not figure["layout"]["showlegend"]
    np.testing.assert_allclose(figure["data"][0]["y"], [9.0] * 3)


def test_no_finished_run_draws_the_hint():
    figure = validated(sweep_figure([], "lr", "norm", "accuracy"))
    hint = figure["layout"]["annotations"][0]["text"].replace("<br>", " ")  # the hint wraps to fit a phone
    assert figure["data"] == [] and NO_RESULTS_HINT in hint
    assert figure["layout"]["title"]["text"] == "Test accuracy (eval mode) vs lr"


def test_csv_has_a_row_per_run_with_its_knobs_and_metrics():
    results = synthetic()
    results[0].status, results[0].test_acc, results[0].message = "failed", math.nan, "boom"
    table = list(csv.DictReader(io.StringIO(results_csv(results, ["batch_size", "norm"]))))
    assert len(table) == len(results)
    assert table[0]["test_acc"] == "" and table[0]["message"] == "boom" and table[0]["status"] == "failed"
    row, run = table[7], results[7]
    assert (int(row["batch_size"]), row["norm"], int(row["seed"])) == (run.config.batch_size, run.config.norm,
                                                                       run.config.seed)
    assert float(row["test_acc"]) == pytest.approx(run.test_acc, rel=1e-5)
