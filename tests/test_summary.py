"""Summary: the JSON-able dict and the per-step table are faithful, strict-JSON views of a record."""

import csv
import dataclasses
import io
import json
import math

import numpy as np
import pytest

from bnviz.config import RunConfig
from bnviz.record import KINDS, PERCENTILES, RunRecord
from bnviz.summary import finite_list, metrics_table, summarize

LAYERS = ["block1.conv", "block1.norm", "head"]
SITES = {"block1.norm": 4, "block2.norm": 3}


def _reject(constant):
    raise ValueError(f"non-standard JSON constant {constant}")


def strict_json(obj):
    """Round-trip through JSON as other tools read it: NaN/Infinity literals are an error."""
    return json.loads(json.dumps(obj, allow_nan=False), parse_constant=_reject)


def synthetic_record(n_steps=7, n_snapshots=3, n_evals=2, seed=0) -> RunRecord:
    """A small record filled with random rows of the documented shapes (no training, no torch)."""
    cfg = RunConfig(steps=max(n_steps, 1), record_every=3, hist_bins=8, momentum=None)
    record = RunRecord(cfg, SITES, LAYERS, batchnorm_sites=["block1.norm"])
    rng = np.random.default_rng(seed)
    expected = record.expected_columns()

    def row(table, i):
        out = {}
        for name, shape in expected[table].items():
            if name == "step":
                out[name] = np.int64(i * (3 if table == "snapshots" else 1))
            elif name.endswith(("channel_hist", "nonfinite")):
                out[name] = rng.integers(0, 50, shape).astype(np.uint16 if name.endswith("hist") else np.float32)
            elif name.endswith("range"):  # a histogram's edges: lo <= hi
                out[name] = np.sort(rng.normal(size=shape)).astype(np.float32)
            else:  # in [0, 1): valid for accuracies and fractions too
                out[name] = rng.uniform(size=shape).astype(np.float32)
        return out

    for i in range(n_steps):
        record.steps.append(**row("steps", i))
    for i in range(n_snapshots):
        record.add_snapshot(**row("snapshots", i))
    for i in range(n_evals):
        record.evals.append(**row("evals", i))
    record.validate()
    return record


def test_summary_matches_the_record_arrays():
    record = synthetic_record()
    summary = strict_json(summarize(record))
    snaps, steps = record.snapshots, record.steps
    assert summary["schema"] == 1 and summary["status"] == "running" and summary["steps"] == 7
    assert summary["config"] == dataclasses.asdict(record.config)  # every field, typed (momentum None -> null)
    assert summary["config"]["momentum"] is None
    np.testing.assert_array_equal(np.float32(summary["train_loss"]), steps["loss"])
    np.testing.assert_array_equal(summary["step"], steps["step"])
    np.testing.assert_array_equal(np.float32(summary["test_accuracy"]), record.evals["test_acc"])
    assert summary["ms_per_step"] == pytest.approx(float(np.median(steps["ms_per_step"])))
    assert set(summary["sites"]) == set(SITES)
    for site in SITES:
        for kind in KINDS:
            stats = summary["sites"][site][kind]
            np.testing.assert_array_equal(stats["step"], snaps["step"])
            np.testing.assert_array_equal(np.float32(stats["mean"]), snaps[f"{site}/{kind}/mean"])
            np.testing.assert_array_equal(np.float32(stats["std"]), snaps[f"{site}/{kind}/std"])
            for p in (15, 50, 85):
                column = snaps[f"{site}/{kind}/percentiles"][:, PERCENTILES.index(p)]
                np.testing.assert_array_equal(np.float32(stats[f"p{p}"]), column)
    assert summary["sites"]["block1.norm"]["batchnorm"] and not summary["sites"]["block2.norm"]["batchnorm"]
    assert list(summary["grad_norms"]) == LAYERS
    for i, layer in enumerate(LAYERS):
        np.testing.assert_array_equal(np.float32(summary["grad_norms"][layer]), steps["grad_norm"][:, i])


def test_non_finite_values_become_null():
    assert finite_list([1.5, math.nan, math.inf, -math.inf, 0.0]) == [1.5, None, None, None, 0.0]
    record = synthetic_record()
    record.steps["loss"][-1] = np.nan  # a diverged last step
    record.steps["grad_norm"][-1, 0] = np.inf
    record.snapshots["block2.norm/post/percentiles"][0, PERCENTILES.index(50)] = -np.inf
    record.end("diverged", 6)
    summary = strict_json(summarize(record))
    assert summary["train_loss"][-1] is None and summary["final_train_loss"] is None
    assert summary["grad_norms"]["block1.conv"][-1] is None
    assert summary["sites"]["block2.norm"]["post"]["p50"][0] is None
    assert (summary["status"], summary["status_step"]) == ("diverged", 6)


def test_empty_record_summarizes():
    record = synthetic_record(n_steps=0, n_snapshots=0, n_evals=0)
    summary = strict_json(summarize(record))
    assert summary["steps"] == 0 and summary["train_loss"] == [] and summary["ms_per_step"] is None
    assert summary["sites"]["block1.norm"]["pre"]["mean"] == []
    assert summary["grad_norms"] == {layer: [] for layer in LAYERS}
    assert metrics_table(record)[1] == []


def test_metrics_table_writes_csv_of_every_step():
    record = synthetic_record()
    record.steps["loss"][2] = np.nan
    header, rows = metrics_table(record)
    assert header == ["step", "loss", "train_acc", "ms_per_step"] + [f"grad_norm/{layer}" for layer in LAYERS]
    assert len(rows) == len(record.steps) and all(len(row) == len(header) for row in rows)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header] + rows)
    table = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert table[0] == header
    parsed = np.array(table[1:], dtype=np.float64)
    np.testing.assert_array_equal(parsed[:, 0], record.steps["step"])
    np.testing.assert_array_equal(np.float32(parsed[:, 1]), record.steps["loss"])  # nan written, read as nan
    np.testing.assert_array_equal(np.float32(parsed[:, 2]), record.steps["train_acc"])
    np.testing.assert_array_equal(np.float32(parsed[:, 3]), record.steps["ms_per_step"])
    np.testing.assert_array_equal(np.float32(parsed[:, 4:]), record.steps["grad_norm"])
