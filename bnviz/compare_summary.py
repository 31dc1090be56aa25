"""Comparison -> per-arm summary rows, the verdict in words, `inspect --json` and a CSV with an `arm` column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnviz.comparison_record import ComparisonRecord
from bnviz.record import RunRecord
from bnviz.summary import column, finite_or_none, median_ms_per_step, metrics_table, summarize

THRESHOLDS = (0.90, 0.95)  # test accuracies whose first step the summary reports


@dataclass(frozen=True)
class ArmSummary:
    """One row of the comparison's summary table."""

    label: str
    status: str
    message: str | None
    steps_done: int
    final_test_accuracy: float | None  # eval mode (running statistics), at the last evaluation
    accuracy_gap: float | None  # train-mode minus eval-mode accuracy on the same test batches, last evaluation
    steps_to: dict[float, int | None]  # threshold -> first evaluated step at or above it (None: never)
    ms_per_step: float | None  # median


def steps_to_accuracy(record: RunRecord, threshold: float) -> int | None:
    """The first evaluated step whose test accuracy (eval mode) is >= threshold; None if none yet.
    Resolution is the evaluation cadence (cfg.eval_interval)."""
    acc = column(record.evals, "test_acc")
    hits = np.flatnonzero(acc >= threshold)
    return int(column(record.evals, "step")[hits[0]]) if len(hits) else None


def accuracy_gap(record: RunRecord) -> float | None:
    train_mode, eval_mode = column(record.evals, "train_mode_acc"), column(record.evals, "eval_mode_acc")
    return finite_or_none(train_mode[-1] - eval_mode[-1]) if len(eval_mode) else None


def arm_summaries(record: ComparisonRecord) -> list[ArmSummary]:
    rows = []
    for i, (label, run) in enumerate(zip(record.labels, record.runs)):
        acc = column(run.evals, "test_acc")
        rows.append(ArmSummary(label, record.arm_status(i), record.messages[i], len(run.steps),
                               finite_or_none(acc[-1]) if len(acc) else None, accuracy_gap(run),
                               {t: steps_to_accuracy(run, t) for t in THRESHOLDS}, median_ms_per_step(run)))
    return rows


def verdict(rows: list[ArmSummary]) -> str:
    """The comparison in words: who reached the highest threshold first and by how much, who failed."""
    notes = [f"{row.label} {row.status}" + (f": {row.message}" if row.message else "")
             for row in rows if row.status in ("diverged", "failed")]
    for threshold in sorted(THRESHOLDS, reverse=True):
        reached = [row for row in rows if row.steps_to[threshold] is not None]
        if not reached:
            continue
        best = min(reached, key=lambda row: row.steps_to[threshold])
        parts = []
        for row in rows:
            if row is best:
                continue
            theirs = row.steps_to[threshold]
            if theirs is None:
                parts.append(f"{row.label} never did in {row.steps_done} steps")
            elif theirs == best.steps_to[threshold]:
                parts.append(f"{row.label} at the same step")
            else:
                fewer = 1 - best.steps_to[threshold] / theirs
                parts.append(f"{fewer:.0%} fewer steps than {row.label} ({best.steps_to[threshold]} vs {theirs})")
        text = f"{best.label} reached {threshold:.0%} test accuracy first (step {best.steps_to[threshold]})"
        notes.insert(0, text + (": " + "; ".join(parts) if parts else ""))
        return ". ".join(notes) + "."
    scored = [row for row in rows if row.final_test_accuracy is not None]
    if scored:
        best = max(scored, key=lambda row: row.final_test_accuracy)
        notes.insert(0, f"no arm reached {min(THRESHOLDS):.0%} test accuracy; the best is {best.label} "
                        f"at {best.final_test_accuracy:.1%}")
    else:
        notes.insert(0, "no arm has been evaluated yet")
    return ". ".join(notes) + "."


def summarize_comparison(record: ComparisonRecord) -> dict:
    """`inspect --json` of a comparison: per arm, a single run's keys plus its label, message and summary row."""
    arms = []
    for i, (row, run) in enumerate(zip(arm_summaries(record), record.runs)):
        arm = {"label": row.label, **summarize(run), "status": row.status, "message": row.message,
               "accuracy_gap": row.accuracy_gap,
               **{f"steps_to_{round(t * 100)}": row.steps_to[t] for t in THRESHOLDS}}
        arms.append(arm)
    return {"kind": "comparison", "status": record.status, "verdict": verdict(arm_summaries(record)),
            "arms": arms}


def comparison_table(record: ComparisonRecord) -> tuple[list[str], list[list]]:
    """Every arm's per-step metrics (see summary.metrics_table) under one header with an `arm` column first;
    a layer one arm lacks (no norm weights without a norm) is an empty cell."""
    tables = [metrics_table(run) for run in record.runs]
    header = []
    for arm_header, _ in tables:
        header += [name for name in arm_header if name not in header]
    rows = []
    for label, (arm_header, arm_rows) in zip(record.labels, tables):
        where = [arm_header.index(name) if name in arm_header else None for name in header]
        rows += [[label] + [row[j] if j is not None else "" for j in where] for row in arm_rows]
    return ["arm"] + header, rows
