"""This session's sweep (one session_state entry) and the server's sweeps by token: the BackgroundSweep
training a spec through the lab's shared limiter, on the local pool or on Ray, found again after a reload."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from bnviz.backends import make_backend
from bnviz.live_registry import ENDED_GRACE_S, RunRegistry
from bnviz.sweep_run import BackgroundSweep
from bnviz.ui.sweep_spec import DEFAULT, SweepSpec

STATE_KEY = "bnviz.sweep"
SWEEP_PARAM = "sweep"  # the URL parameter that names the page's sweep in sweep_registry()
ACTIVE = ("queued", "running")
# No poll from any page showing it for this long: the browser is gone, free the slots. Longer than the
# lab's 30 s: browsers slow the timers of a hidden tab down to about once a minute.
HEARTBEAT_TIMEOUT_S = 150.0
BADGE_S = 5.0  # the other pages' heartbeat: well inside the timeout


@dataclass
class LiveSweep:
    """One sweep on the server, shared by every session that shows it (a reload finds it by its token): the
    job (a BackgroundSweep, or a sweep opened from a file), the spec it trains, and the last poll of a page."""

    job: object
    spec: SweepSpec
    last_beat: float = field(default_factory=time.monotonic)

    @property
    def state(self) -> str:  # what RunRegistry prunes on: an ended sweep leaves after its grace
        return self.job.state


@dataclass
class SweepState:
    """Everything the Sweep page keeps for one browser session; stored by a single assignment."""

    spec: SweepSpec = DEFAULT
    live: LiveSweep | None = None  # the sweep shown, also in sweep_registry() under `token`
    token: str | None = None  # kept in the URL as sweep=
    problems: list[str] = field(default_factory=list)  # link parameters ignored
    initialized: bool = False  # the URL has been read
    autorun: bool = False

    @property
    def job(self):
        return self.live.job if self.live is not None else None

    @property
    def shown(self) -> SweepSpec | None:
        """The spec the job trains (the form may have moved on since)."""
        return self.live.spec if self.live is not None else None


def sweep_state() -> SweepState:
    state = st.session_state.get(STATE_KEY)
    if state is None:
        state = SweepState()
        st.session_state[STATE_KEY] = state
    return state


@st.cache_resource
def sweep_registry() -> RunRegistry:
    """Every session's sweeps by token, for the whole server (bounded; ended ones leave after a grace)."""
    return RunRegistry()


def show(state: SweepState, live: LiveSweep) -> str:
    """Show `live` in this session and register it: its token, for the URL, finds it after a reload."""
    state.live, state.token = live, sweep_registry().add(live)
    return state.token


def adopt(state: SweepState, token: str) -> str | None:
    """Show the registry's sweep `token` (this browser's, before a reload); else the problem, for the page."""
    live = sweep_registry().get(token)
    if live is None:
        return (f"{SWEEP_PARAM}={token[:8]}…: no such sweep on this server (a sweep is kept "
                f"{ENDED_GRACE_S / 60:.0f} min after it ends, and not across a server restart); the link's "
                "settings are kept, ready to run")
    live.last_beat = time.monotonic()  # the tab that started it is gone: this one keeps it alive now
    state.live, state.token = live, token
    return None


def is_active(state: SweepState) -> bool:
    return state.job is not None and state.job.state in ACTIVE


def backends() -> tuple[str, ...]:
    """The local process pool always; Ray too when the server was started with $RAY_ADDRESS set."""
    return ("local", "ray") if os.environ.get("RAY_ADDRESS") else ("local",)


def slots_for(backend: str, limiter) -> int:
    """Limiter slots a sweep holds: half the server's (at least one) on the local pool, so a lab training
    still finds one on a bigger server; one on Ray, where the cluster's CPUs do the work."""
    return 1 if backend == "ray" else max(1, limiter.slots // 2)


def backend_factory(backend: str):
    """make_backend(slots, threads) for BackgroundSweep: one local worker per slot, or Ray at $RAY_ADDRESS."""
    if backend == "ray":
        return lambda slots, threads: make_backend("ray", address=os.environ.get("RAY_ADDRESS"), threads=threads)
    return lambda slots, threads: make_backend("local", workers=slots, threads=threads)


def describe(backend: str, limiter) -> str:
    """The backend a sweep started now would run on, in one line (built, not started: no process yet)."""
    return backend_factory(backend)(slots_for(backend, limiter), limiter.threads).describe()


def heartbeat(state: SweepState):
    if state.live is not None:
        state.live.last_beat = time.monotonic()


def start(state: SweepState, spec: SweepSpec, backend: str, limiter,
          heartbeat_timeout: float | None = None) -> BackgroundSweep:
    """Validate (ConfigError before anything trains), then queue the sweep behind the limiter's others;
    it stops when no page polls it for `heartbeat_timeout` s (HEARTBEAT_TIMEOUT_S: the browser is gone)."""
    spec.configs()
    timeout = HEARTBEAT_TIMEOUT_S if heartbeat_timeout is None else heartbeat_timeout
    if state.job is not None and state.job.state in ACTIVE:
        state.job.stop()
    job = BackgroundSweep(spec.sweep(), limiter, backend_factory(backend), slots=slots_for(backend, limiter))
    live = LiveSweep(job, spec)
    show(state, live)
    job.start()
    threading.Thread(target=_watch, args=(live, timeout), name="bnviz-sweep-watch",
                     daemon=True).start()
    return job


def _watch(live: LiveSweep, timeout: float):
    job = live.job
    while job.state in ACTIVE:
        if time.monotonic() - live.last_beat > timeout:
            job.error = f"stopped: no sign of the browser for {timeout:g} s"  # set first: pollers see both
            job.stop()
            return
        time.sleep(min(1.0, timeout / 4))


def badge():
    """On pages other than the Sweep page: the sweep's progress, and the heartbeat that keeps it alive."""
    state = st.session_state.get(STATE_KEY)
    if state is None or not is_active(state):
        return

    @st.fragment(run_every=BADGE_S)
    def progress():
        heartbeat(state)
        job = state.job
        st.sidebar.caption(f"A sweep is {job.state}: {len(job.results())} of {job.total} runs finished.")

    progress()
