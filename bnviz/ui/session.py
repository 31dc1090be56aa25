"""This browser session's LabSession (one session_state entry) and the limiter all sessions share."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from bnviz.config import FIELDS, RunConfig
from bnviz.estimate import StepTimes
from bnviz.live import ACTIVE, Limiter, LiveRun
from bnviz.live_registry import ENDED_GRACE_S, RunRegistry
from bnviz.live_session import LiveSession
from bnviz.ui import share, shutdown, sidebar
from bnviz.ui.share import Selection

SESSION_KEY = "bnviz"
RUN_PARAM = "run"  # the URL parameter that names this browser's run in the server's registry


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
    opened: tuple | None = None  # (config, selection) as the link set them: a problem's knob moved since is stale
    run_token: str | None = None  # the run's name in run_registry(), kept in the URL as run=

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
        before = self.live.run
        run = self.live.train(cfg, limiter)
        if run is not before:  # a new run: a reload or another tab finds it by this token
            self.run_token = run_registry().add(run)
        return run

    def adopt(self, token: str) -> bool:
        """Show the registry's run `token` (this browser's, before a reload or in another tab)."""
        run = run_registry().get(token)
        if run is None:
            return False
        run.heartbeat()  # the tab that started it may be gone: this one keeps it alive now
        self.live.run, self.run_token, self.cache = run, token, {}  # the URL's knobs stay, as before the reload
        return True

    def reset(self):
        self.live.reset()
        self.cache, self.run_token = {}, None


@st.cache_resource
def shared_limiter() -> Limiter:
    """One limiter for the whole server: at most N trainings at once, T torch threads each."""
    limiter = Limiter.from_env()  # issue 16: hosted caps and time slices from the environment
    shutdown.stop_trainings_on_shutdown(limiter)  # issue 16: at SIGTERM, before the browsers are gone
    return limiter


@st.cache_resource
def step_times() -> StepTimes:
    """ms per training step measured by every session's runs: the time estimate before Train."""
    return StepTimes()


@st.cache_resource
def run_registry() -> RunRegistry:
    """Every session's runs by token, for the whole server (bounded; ended runs leave after a grace)."""
    return RunRegistry()


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
    params = st.query_params.to_dict()
    token = params.pop(RUN_PARAM, None)
    cfg, selection, autorun, problems = share.read(params, sidebar.devices())
    lab.config, lab.selection, lab.problems, lab.initialized = cfg, selection, problems, True
    lab.opened = (cfg, selection)
    lab.autorun = autorun and autorun_allowed
    if token and lab.adopt(token):  # a reload or a second tab: the run goes on, here
        lab.autorun = False
    elif token:
        lab.problems.append(f"{RUN_PARAM}={token[:8]}…: no such run on this server (a run is kept "
                            f"{ENDED_GRACE_S / 60:.0f} min after it ends, and not across a server restart); "
                            "the link's settings are kept, ready to train")
    sidebar.set_widgets(lab.config)


def link_problems(lab: LabSession):
    """The link's parameters that were ignored, each naming its allowed values and the default used."""
    for problem in lab.problems:
        if not _moved_since(lab, problem.split("=", 1)[0]):
            st.warning(f"Link parameter ignored: {problem}")


def _moved_since(lab: LabSession, name: str) -> bool:
    """Has the user set the knob (or view choice) `name` since the link opened? Then its warning is stale."""
    if lab.opened is None:
        return False
    cfg, selection = lab.opened
    if name in FIELDS:
        return getattr(lab.config, name) != getattr(cfg, name)
    if name in share.FIELD_OF and lab.selection is not None:
        return getattr(lab.selection, share.FIELD_OF[name]) != getattr(selection, share.FIELD_OF[name])
    return False


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
