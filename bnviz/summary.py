"""Record -> plain summaries: a JSON-able dict (`python -m bnviz inspect --json`) and a per-step table (CSV)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bnviz.record import KINDS, PERCENTILES, SCHEMA, RunRecord, Series, column_key


def finite_list(values) -> list:
    """Numbers as a JSON-safe list: non-finite values (NaN, Inf) become None (null), never a NaN literal."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).reshape(-1)]


def finite_or_none(value) -> float | None:
    return finite_list([value])[0] if value is not None else None


def column(series: Series, name: str, row_shape: tuple = ()) -> np.ndarray:
    """A column, or an empty one of the right row shape when the table has no rows yet."""
    return series[name] if len(series) else np.zeros((0, *row_shape))


def median_ms_per_step(record: RunRecord) -> float | None:
    ms = column(record.steps, "ms_per_step")
    return float(np.median(ms)) if len(ms) else None


def final_train_loss(record: RunRecord) -> float | None:
    loss = column(record.steps, "loss")
    return finite_or_none(loss[-1]) if len(loss) else None


def final_test_accuracy(record: RunRecord) -> float | None:
    acc = column(record.evals, "test_acc")
    return finite_or_none(acc[-1]) if len(acc) else None


def site_summary(record: RunRecord, site: str) -> dict:
    """Per recorded snapshot: the step and, for pre and post, mean, std and every recorded percentile."""
    snaps = record.snapshots
    steps = [int(s) for s in column(snaps, "step")]
    out = {"channels": record.sites[site], "batchnorm": site in record.batchnorm_sites, "step": steps,
           "saturated": finite_list(column(snaps, column_key(site, "saturated")))}
    for kind in KINDS:
        percentiles = column(snaps, column_key(site, kind, "percentiles"), (len(PERCENTILES),))
        stats = {"step": steps, "mean": finite_list(column(snaps, column_key(site, kind, "mean"))),
                 "std": finite_list(column(snaps, column_key(site, kind, "std")))}
        stats.update({f"p{p}": finite_list(percentiles[:, i]) for i, p in enumerate(PERCENTILES)})
        stats["nonfinite"] = [int(n) for n in column(snaps, column_key(site, kind, "nonfinite"))]
        out[kind] = stats
    return out


def summarize(record: RunRecord) -> dict:
    """Everything `inspect --json` prints, as plain JSON-able values (non-finite numbers are None)."""
    steps, evals = record.steps, record.evals
    n_layers = len(record.layers)
    grad_norm = column(steps, "grad_norm", (n_layers,))
    update_ratio = column(record.snapshots, "update_ratio", (n_layers,))
    return {
        "schema": SCHEMA,
        "config": dataclasses.asdict(record.config),
        "status": record.status,
        "status_step": record.status_step,
        "message": record.message,  # why it failed (status 'failed'), else None
        "steps": len(steps),
        "ms_per_step": median_ms_per_step(record),
        "final_train_loss": final_train_loss(record),
        "final_test_accuracy": final_test_accuracy(record),
        "step": [int(s) for s in column(steps, "step")],
        "train_loss": finite_list(column(steps, "loss")),
        "train_acc": finite_list(column(steps, "train_acc")),
        "step_ms": finite_list(column(steps, "ms_per_step")),
        "eval_step": [int(s) for s in column(evals, "step")],
        "test_loss": finite_list(column(evals, "test_loss")),
        "test_accuracy": finite_list(column(evals, "test_acc")),
        "train_mode_accuracy": finite_list(column(evals, "train_mode_acc")),
        "eval_mode_accuracy": finite_list(column(evals, "eval_mode_acc")),
        "layers": list(record.layers),
        "grad_norms": {layer: finite_list(grad_norm[:, i]) for i, layer in enumerate(record.layers)},
        "snapshot_step": [int(s) for s in column(record.snapshots, "step")],
        "update_ratio": {layer: finite_list(update_ratio[:, i]) for i, layer in enumerate(record.layers)},
        "sites": {site: site_summary(record, site) for site in record.sites},
    }


def metrics_table(record: RunRecord) -> tuple[list[str], list[list]]:
    """Per-step metrics as (header, rows) for CSV: step, loss, train_acc, ms_per_step, grad_norm/<layer>.

    Values stay numbers (a diverged step's loss is float('nan')), so `csv.writer` writes them as-is.
    """
    steps = record.steps
    header = ["step", "loss", "train_acc", "ms_per_step"] + [f"grad_norm/{layer}" for layer in record.layers]
    if not len(steps):
        return header, []
    values = np.column_stack([steps["loss"], steps["train_acc"], steps["ms_per_step"],
                              steps["grad_norm"]]).astype(np.float64)
    rows = [[int(step)] + row for step, row in zip(steps["step"], values.tolist())]
    return header, rows
