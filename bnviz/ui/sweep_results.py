"""The Sweep page's results: the job's state and backend, the chart and the table filling in as runs
finish (a fragment polling job.results()), and the sweep file and CSV downloads."""

from __future__ import annotations

import streamlit as st

from bnviz.plots.sweep import sweep_figure
from bnviz.sweep_table import SPREADS, results_csv, rows
from bnviz.ui.live_chart import plotly_chart
from bnviz.ui.sweep_job import SweepState, heartbeat, is_active
from bnviz.ui.sweep_spec import SweepSpec
from bnviz.ui.sweep_upload import FILE_NAME, sweep_npz

REFRESH_S = 1.0  # runs take seconds: polling once a second is enough
CHART_KEY = "sweep.chart"


def status(job) -> str:
    done, total = len(job.results()), job.total
    if job.state == "opened":
        return f"Opened from {job.name}: {done} runs."
    if job.state == "queued":
        place = job.queue_position()
        return (f"Queued: place {place} in the server's training queue; it starts when a lab training or "
                "sweep ahead of it ends." if place else "Starting…")
    if job.state == "running":
        return f"Running: {done} of {total} runs finished."
    if job.state == "failed":
        return f"The sweep stopped on an error after {done} of {total} runs: {job.error}"
    return f"{job.state.capitalize()}: {done} of {total} runs." + (f" ({job.error})" if job.error else "")


def draw(state: SweepState, spec: SweepSpec):
    """Everything below the form; while the sweep is queued or running it alone redraws every REFRESH_S."""
    active = is_active(state)

    @st.fragment(run_every=REFRESH_S if active else None)
    def live():
        heartbeat(state)
        job = state.job
        shown = (state.shown or spec).replace(metric=spec.metric, spread=spec.spread)
        knobs = list(shown.grid)
        results = job.results() if job is not None else []
        if job is None:
            st.info("Press **Run sweep**: the chart fills in as runs finish.")
        else:
            (st.error if job.state == "failed" else st.info)(status(job))
            st.progress(len(results) / max(1, job.total))
            if job.backend_name:
                st.caption(f"This sweep {'runs' if active else 'ran'} on {job.backend_name}.")
        plotly_chart(sweep_figure(results, shown.x_knob, shown.line_knob, shown.metric, shown.spread),
                     key=CHART_KEY)
        unfinished = [r for r in results if r.status != "finished"]
        st.caption(f"Points: {SPREADS[shown.spread]}."
                   + (f" {len(unfinished)} run(s) diverged or failed and are left out of the points "
                      "(see the table)." if unfinished else ""))
        if results:
            header, table = rows(results, knobs)
            st.dataframe([dict(zip(header, row)) for row in table], hide_index=True, key="sweep.table")
            left, right = st.columns(2)
            left.download_button("Sweep file (.npz)", lambda: sweep_npz(results, shown, job.backend_name),
                                 file_name=FILE_NAME, mime="application/octet-stream", icon=":material/download:",
                                 key="sweep.npz", help="Opens in this page's box below and in "
                                 "`python -m bnviz inspect`, as a `python -m bnviz sweep --out` file does.")
            right.download_button("Metrics (.csv)", results_csv(results, knobs), file_name="bnviz-sweep.csv",
                                  mime="text/csv", icon=":material/download:", key="sweep.csv")
        if active and not is_active(state):
            st.rerun()  # the sweep ended: redraw the page once, without the timer

    live()
