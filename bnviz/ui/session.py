"""This browser session's LiveSession (one session_state entry) and the limiter all sessions share."""

from __future__ import annotations

import atexit

import streamlit as st

from bnviz.live import ACTIVE, Limiter, LiveSession
from bnviz.ui import share, sidebar

SESSION_KEY = "bnviz"


@st.cache_resource
def shared_limiter() -> Limiter:
    """One limiter for the whole server: at most N trainings at once, T torch threads each."""
    limiter = Limiter.from_env()  # issue 16: hosted caps and time slices from the environment
    atexit.register(limiter.stop_all)  # end training threads before the interpreter goes away
    return limiter


def lab_session() -> LiveSession:
    """This session's state, created on its first run by a single session_state assignment."""
    lab = st.session_state.get(SESSION_KEY)
    if lab is None:
        lab = LiveSession()
        st.session_state[SESSION_KEY] = lab
    return lab


def open_lab(lab: LiveSession) -> bool:
    """On the session's first run, read the URL into the widgets; True when the URL asks to train at once."""
    if lab.initialized:
        sidebar.restore_widgets(lab.config)  # Streamlit drops the widgets of a page not shown
        return False
    cfg, view, autorun, problems = share.read(st.query_params.to_dict(), sidebar.devices())
    lab.config, lab.view, lab.problems, lab.initialized = cfg, view, problems, True
    sidebar.set_widgets(cfg)
    return autorun


def heartbeat(lab: LiveSession):
    """Tell the training thread the browser is still here."""
    if lab.run is not None:
        lab.run.heartbeat()


def is_training(lab: LiveSession) -> bool:
    return lab.run is not None and lab.run.state in ACTIVE


def nav():
    """Links to the pages at the top of the sidebar (Streamlit's own list would call the lab "app")."""
    with st.sidebar:
        st.page_link("app.py", label="Lab: live training", icon=":material/insights:")
        st.page_link("pages/1_Microscope.py", label="Microscope: one batch", icon=":material/biotech:")
        st.page_link("pages/2_Theory.py", label="Theory: BatchNorm done right", icon=":material/functions:")


def training_badge(lab: LiveSession):
    """On pages other than the lab: the lab's progress, and the heartbeat that keeps its training alive."""
    if not is_training(lab):
        return

    @st.fragment(run_every=2.0)
    def badge():
        heartbeat(lab)
        p = lab.run.progress()
        st.sidebar.caption(f"The lab is training: step {p.steps_done:,} / {p.steps:,} ({p.state}).")

    badge()
