"""The Compare page's "Open a comparison" box: a comparison file (the page's own download, `bnviz compare --out`)
read by upload.open_upload, the loader `inspect` uses, and shown as if just trained."""

from __future__ import annotations

import streamlit as st

from bnviz.compare import Comparison
from bnviz.config import ConfigError
from bnviz.opened_run import OpenedComparison, check_layout
from bnviz.record import RecordError
from bnviz.ui import compare_arms, sidebar
from bnviz.ui.compare_session import CompareState
from bnviz.ui.upload import UPLOAD_MB, open_upload, record_box

KEY = "upload.compare"


def compare_upload(state: CompareState):
    """The box (in the sidebar, as the lab's) and, in the page, what became of the last file; a bad file
    changes nothing on the page."""
    record_box("Open a comparison (.npz)", KEY, where=st.sidebar, open_file=lambda file: _open_here(state, file),
               shown=lambda file: isinstance(state.run, OpenedComparison) and state.run.name == file.name,
               help=f"A comparison saved by bnviz (this page's download, `python -m bnviz compare --out`): this "
                    f"page shows it as if just trained. At most {UPLOAD_MB} MB.")


def _open_here(state: CompareState, file) -> tuple[str, str]:
    opened = open_upload(file)
    if isinstance(opened, str):
        return "error", opened
    kind, record = opened
    if kind != "comparison":
        where = "the lab opens a run (its sidebar's Open a record)" if kind == "run" else \
            f"`python -m bnviz inspect {file.name}` summarizes a {kind}"
        return "info", f"{file.name} is a {kind} file: this page opens comparisons; {where}."
    try:
        for label, run in zip(record.labels, record.runs):
            check_layout(run, f"{file.name}, arm {label!r}")
        # An arm saved on a device this server lacks shows here, and trains again, on auto.
        configs = [cfg if cfg.device in sidebar.devices() else cfg.replace(device="auto")
                   for cfg in (run.config for run in record.runs)]
        comparison = Comparison.of_configs(record.labels, configs)
    except (RecordError, ConfigError) as err:
        return "error", f"{file.name}: not a comparison this page can show ({err})"
    run = state.run
    if run is not None and not isinstance(run, OpenedComparison) and (state.training or run.state == "paused"):
        return "warning", (f"{file.name} was not opened: the comparison is {run.state}, and opening a file "
                           "replaces it. Let it finish (or press Reset), then open the file again.")
    state.reset()
    state.run = OpenedComparison(record, comparison, file.name)
    state.comparison, state.errors = comparison, []
    compare_arms.set_widgets(comparison)  # the arms editor (and so the URL and link) shows the file's arms
    p = state.run.progress()
    return "opened", (f"Showing {file.name}, opened from a file: {len(record.labels)} arms "
                      f"({' · '.join(record.labels)}), step {p.steps_done:,} / {p.steps:,}, {p.state}. "
                      "Press Train again to run these arms anew.")
