"""bnviz sweep: a grid of training runs (a preset or any grid) trained in the background, its chart
filling in as runs finish, with seeds as error bars."""

import streamlit as st

from bnviz.config import ConfigError
from bnviz.ui import session, sweep_form, sweep_job, sweep_link, sweep_results, sweep_upload
from bnviz.ui.entry import through_app

through_app()  # first: at a process's first request this page is rerun through app.py

limiter = session.shared_limiter()
state = sweep_job.sweep_state()
if not state.initialized:
    params = st.query_params.to_dict()
    token = params.pop(sweep_job.SWEEP_PARAM, None)
    state.spec, state.autorun, state.problems = sweep_link.read(params)
    state.initialized = True
    if token:  # a reload, or back from another site: the sweep goes on (or its results stay), here
        problem = sweep_job.adopt(state, token)
        state.problems += [problem] if problem else []
        state.autorun = state.autorun and problem is not None
    # app.py read the same URL into the lab, which names the sweep's own parameters as unknown: not here.
    lab = session.lab_session()
    ours = {f"unknown parameter {key!r} ignored" for key in (*sweep_link.URL_FIELDS, sweep_job.SWEEP_PARAM)}
    lab.problems = [problem for problem in lab.problems if problem not in ours]
    sweep_form.set_widgets(state.spec)
sweep_form.restore_widgets(state.spec)

st.title("Sweep: one curve, many runs")
st.caption("Each point is a training run (and its seeds). Pick a preset or any grid; the sweep trains in "
           "the background on this server, queued with the lab's trainings, and the chart fills in as runs "
           "finish.")
for problem in state.problems:
    st.warning(f"Link parameter ignored: {problem}")

spec, error = sweep_form.draw(state.spec)
if spec is not None:
    state.spec = spec
    st.caption(f"{len(spec.configs())} runs: {' x '.join(f'{len(v)} {k}' for k, v in spec.grid.items())} "
               f"x {len(spec.seeds)} seed(s).")
else:
    st.error(f"This sweep cannot train: {error}")

backends = sweep_job.backends()
left, middle, right = st.columns([1, 1, 2])
backend = (right.radio("Backend", backends, horizontal=True, key="sweep.backend",
                       help="ray: the cluster at $RAY_ADDRESS; local: worker processes on this server.")
           if len(backends) > 1 else backends[0])
right.caption(f"A sweep started now runs on {sweep_job.describe(backend, limiter)}.")
run_clicked = left.button("Run sweep", type="primary", icon=":material/play_arrow:", disabled=spec is None)
if sweep_job.is_active(state) and middle.button("Stop", icon=":material/stop:"):
    state.job.stop()
if spec is not None and (run_clicked or state.autorun):
    try:
        sweep_job.start(state, spec, backend, limiter)
    except ConfigError as err:  # e.g. the server's cap
        st.error(f"This sweep cannot train: {err}")
state.autorun = False
if spec is not None:
    sweep_link.write_url(spec, state.token)  # after a start: its token is in the address bar at once

sweep_results.draw(state, state.spec)
sweep_upload.upload_box()

with st.popover("Copy link", icon=":material/link:"):
    st.caption("Opens this sweep's settings:")
    st.code(sweep_link.link(state.spec), language=None, wrap_lines=True)
    st.caption("Starts the sweep as soon as it opens (autorun=1):")
    st.code(sweep_link.link(state.spec, autorun=True), language=None, wrap_lines=True)
st.caption("bnviz · sweeps · every run validates before anything trains; the CLI is `python -m bnviz sweep`.")
