"""A sweep's results as numbers to show: one row per run (table, CSV) and, per line and x value, the seeds'
mean and spread of a metric (the points of the sweep chart)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bnviz.config import FIELDS
from bnviz.sweep import FINAL, RunResult


@dataclass(frozen=True)
class Metric:
    title: str  # chart title and selector label
    axis: str  # y axis title
    of: Callable[[RunResult], float]


# Accuracies are fractions in the results; the chart shows percent, as the papers do.
METRICS = {
    "error": Metric("Test error (eval mode)", "test error, %", lambda r: 100 * (1 - r.test_acc)),
    "accuracy": Metric("Test accuracy (eval mode)", "test accuracy, %", lambda r: 100 * r.test_acc),
    "gap": Metric("Train-mode minus eval-mode accuracy", "train − eval accuracy, % points",
                  lambda r: 100 * (r.train_mode_acc - r.eval_mode_acc)),
    "ms": Metric("Milliseconds per step", "ms per step (median)", lambda r: r.ms_per_step),
}
SPREADS = {"std": "mean ± sample std over seeds (n−1; 0 with one seed)",
           "minmax": "mean over seeds, bars from the lowest to the highest seed"}


@dataclass(frozen=True)
class Point:
    """One x value of one line: the metric over the seeds that finished there."""

    x: object
    mean: float
    low: float
    high: float
    n: int  # runs with a finite value (finished)
    runs: int  # runs at this point, whatever their status


def value_text(knob: str, value) -> str:
    return FIELDS[knob].format(value)


def points(results: list[RunResult], x_knob: str, line_knob: str | None, metric: str,
           spread: str = "std") -> dict[str, list[Point]]:
    """{line label: points in x order}; a line per value of `line_knob` (one line "" without it), in the
    order the runs came. Unfinished runs (diverged, failed) count in `runs` but not in the mean."""
    of = METRICS[metric].of
    groups: dict[str, dict[object, list[float]]] = {}
    for result in results:
        label = f"{line_knob}={value_text(line_knob, getattr(result.config, line_knob))}" if line_knob else ""
        value = of(result) if result.status == "finished" else math.nan
        groups.setdefault(label, {}).setdefault(getattr(result.config, x_knob), []).append(value)
    lines = {}
    for label, by_x in groups.items():
        order = sorted(by_x) if _numeric(by_x) else list(by_x)
        lines[label] = [_point(x, by_x[x], spread) for x in order]
    return lines


def _numeric(by_x: dict) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in by_x)


def _point(x, values: list[float], spread: str) -> Point:
    finite = np.array([v for v in values if np.isfinite(v)], dtype=np.float64)
    if not len(finite):
        return Point(x, math.nan, math.nan, math.nan, 0, len(values))
    mean = float(finite.mean())
    if spread == "minmax":
        low, high = float(finite.min()), float(finite.max())
    else:
        std = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
        low, high = mean - std, mean + std
    return Point(x, mean, low, high, len(finite), len(values))


COLUMNS = ("seed", "status", *FINAL, "ms_per_step", "attempts", "message")


def rows(results: list[RunResult], knobs: list[str]) -> tuple[list[str], list[list]]:
    """(header, one row per run): the grid's knobs, the seed, the outcome and the final metrics."""
    header = [*knobs, *COLUMNS]
    table = []
    for r in results:
        numbers = [None if not np.isfinite(v) else float(v) for v in (*(getattr(r, n) for n in FINAL),
                                                                          r.ms_per_step)]
        table.append([value_text(k, getattr(r.config, k)) for k in knobs] +
                     [r.config.seed, r.status, *numbers, r.attempts, r.message])
    return header, table


def results_csv(results: list[RunResult], knobs: list[str]) -> str:
    """The table as CSV; a value a run did not reach (diverged, failed) is an empty cell."""
    header, table = rows(results, knobs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in table:
        writer.writerow(["" if v is None else f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return buffer.getvalue()
