"""This browser session's LabSession (one session_state entry) and the limiter all sessions share."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from bnviz.config import RunConfig
from bnviz.live import ACTIVE, Limiter, LiveRun
from bnviz.live_session import LiveSession
from bnviz.ui import share, shutdown, sidebar
from bnviz.ui.share import Selection

SESSION_KEY = "bnviz"


@dataclass
class LabSession:
    """Everything one browser session keeps: its training (a plain LiveSession) and what the pages show."""

    live: LiveSession = field(default_factory=LiveSession)
    selection: Selection | None = None  # the lab's views, site, step and channel
    problems: list[str] = field(default_factory=list)  # invalid URL parameters, shown as warnings
    initialized: bool = False  # the URL has been read into the widgets
    autorun: bool = False  # the link asks the lab to train as soon as it opens
    cache: dict = field(default_factory=dict)  # the record the charts show and its figures
    microscope: object = None  # the microscope page's bnviz.ui.scope.Scope: its model and last forward pass

    @property
    def run(self) -> LiveRun | None:
        return self.live.run

    @property
    def config(self) -> RunConfig:
        return self.live.config

    @config.setter
    def config(self, cfg: RunConfig):
        self.live.config = cfg

    def train(self, cfg: RunConfig, limiter: Limiter) -> LiveRun:
        return self.live.train(cfg, limiter)

    def reset(self):
        self.live.reset()
        self.cache = {}


@st.cache_resource
def shared_limiter() -> Limiter:
    """One limiter for the whole server: at most N trainings at once, T torch threads each."""
    limiter = Limiter.from_env()  # issue 16: hosted caps and time slices from the environment
    shutdown.stop_trainings_on_shutdown(limiter)  # issue 16: at SIGTERM, before the browsers are gone
    return limiter


def lab_session() -> LabSession:
    """This session's state, created on its first run by a single session_state assignment."""
    lab = st.session_state.get(SESSION_KEY)
    if lab is None:
        lab = LabSession()
        st.session_state[SESSION_KEY] = lab
    return lab


def open_lab(lab: LabSession, autorun_allowed: bool):
    """On the session's first run, whatever page it opens on, read the URL into the lab's widgets."""
    if lab.initialized:
        sidebar.restore_widgets(lab.config)  # Streamlit drops the widgets of a page not shown
        return
    cfg, selection, autorun, problems = share.read(st.query_params.to_dict(), sidebar.devices())
    lab.config, lab.selection, lab.problems, lab.initialized = cfg, selection, problems, True
    lab.autorun = autorun and autorun_allowed
    sidebar.set_widgets(cfg)


def link_problems(lab: LabSession):
    """The link's parameters that were ignored, each naming its allowed values and the default used."""
    for problem in lab.problems:
        st.warning(f"Link parameter ignored: {problem}")


def heartbeat(lab: LabSession):
    """Tell the training thread the browser is still here."""
    if lab.run is not None:
        lab.run.heartbeat()


def is_training(lab: LabSession) -> bool:
    return lab.run is not None and lab.run.state in ACTIVE


def training_badge(lab: LabSession):
    """On pages other than the lab: the lab's progress, and the heartbeat that keeps its training alive."""
    if not is_training(lab):
        return

    @st.fragment(run_every=2.0)
    def badge():
        heartbeat(lab)
        p = lab.run.progress()
        st.sidebar.caption(f"The lab is training: step {p.steps_done:,} / {p.steps:,} ({p.state}).")

    badge()
