"""Downloads of a run: the record as .npz and its metrics as CSV."""

from __future__ import annotations

import io

import streamlit as st

from bnviz.record import RunRecord
from bnviz.summary import metrics_table


def record_npz(record: RunRecord) -> bytes:
    """The record exactly as RunRecord.save writes it (RunRecord.load reads it back)."""
    buffer = io.BytesIO()
    record.save(buffer)
    return buffer.getvalue()


def metrics_csv(record: RunRecord) -> str:
    """summary.metrics_table (one row per training step: loss, accuracy, ms/step, each layer's gradient
    norm) as CSV, with the test metrics on the steps where they were evaluated (empty elsewhere)."""
    header, rows = metrics_table(record)
    eval_names = ["test_loss", "test_acc", "train_mode_acc", "eval_mode_acc"]
    evals = {}
    if len(record.evals):
        for i, step in enumerate(record.evals["step"]):
            evals[int(step)] = [record.evals[name][i] for name in eval_names]
    lines = [",".join(header + eval_names)]
    for step, *values in rows:
        # Evaluations run after a step: the one logged at step s+1 follows training step s.
        extra = evals.get(step + 1, [""] * len(eval_names))
        lines.append(",".join([str(step)] + [f"{v:.6g}" for v in values] +
                              [v if v == "" else f"{v:.6g}" for v in extra]))
    return "\n".join(lines) + "\n"


def file_stem(record: RunRecord, kind: str = "bnviz") -> str:
    """A download's name that says what it holds: bnviz-seed_cnn-batch-after-bs32-step420."""
    cfg = record.config
    return f"{kind}-{cfg.model}-{cfg.norm}-{cfg.placement}-bs{cfg.batch_size}-step{len(record.steps)}"


def as_paused(record: RunRecord) -> RunRecord:
    """A copy of a paused run's record that says so (its own record still says running: it may resume)."""
    copy = record.frozen()
    copy.end("paused")
    return copy


def downloads(record: RunRecord, name: str | None = None, paused: bool = False):
    """Two download buttons named after the run (or `name`); the files are built only when clicked."""
    name = name or file_stem(record)
    left, right = st.columns(2)
    left.download_button("Run record (.npz)", lambda: record_npz(as_paused(record) if paused else record), file_name=f"{name}.npz",
                         mime="application/octet-stream", icon=":material/download:", on_click="ignore",
                         key="download.npz", help="Every number of the run; `python -m bnviz inspect` reads it.")
    right.download_button("Metrics (.csv)", lambda: metrics_csv(record), file_name=f"{name}-metrics.csv",
                          mime="text/csv", icon=":material/table:", on_click="ignore", key="download.csv",
                          help="Loss, accuracy, ms/step and gradient norm per step; test metrics where evaluated.")
