"""This session's sweep (one session_state entry): its spec, the link it was opened with, and the
BackgroundSweep training it on the server through the lab's shared limiter, on the local pool or on Ray."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from bnviz.backends import make_backend
from bnviz.sweep_run import BackgroundSweep
from bnviz.ui.sweep_spec import DEFAULT, SweepSpec

STATE_KEY = "bnviz.sweep"
ACTIVE = ("queued", "running")
# No poll from the page for this long: the session is gone, free the slots. Longer than the lab's 30 s:
# browsers slow the timers of a hidden tab down to about once a minute.
HEARTBEAT_TIMEOUT_S = 150.0


@dataclass
class SweepState:
    """Everything the Sweep page keeps for one browser session; stored by a single assignment."""

    spec: SweepSpec = DEFAULT
    job: BackgroundSweep | None = None
    shown: SweepSpec | None = None  # the spec the job trains (the form may have moved on since)
    problems: list[str] = field(default_factory=list)  # link parameters ignored
    initialized: bool = False  # the URL has been read
    autorun: bool = False
    last_beat: float = field(default_factory=time.monotonic)  # the page's last sign of life


def sweep_state() -> SweepState:
    state = st.session_state.get(STATE_KEY)
    if state is None:
        state = SweepState()
        st.session_state[STATE_KEY] = state
    return state


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
    state.last_beat = time.monotonic()


def start(state: SweepState, spec: SweepSpec, backend: str, limiter,
          heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S) -> BackgroundSweep:
    """Validate (ConfigError before anything trains), then queue the sweep behind the limiter's others;
    it stops when the page stops polling for `heartbeat_timeout` s (the browser is gone)."""
    spec.configs()
    if state.job is not None:
        state.job.stop()
    job = BackgroundSweep(spec.sweep(), limiter, backend_factory(backend), slots=slots_for(backend, limiter))
    heartbeat(state)
    state.job, state.shown = job.start(), spec
    threading.Thread(target=_watch, args=(state, job, heartbeat_timeout), name="bnviz-sweep-watch",
                     daemon=True).start()
    return job


def _watch(state: SweepState, job: BackgroundSweep, timeout: float):
    while job.state in ACTIVE:
        if time.monotonic() - state.last_beat > timeout:
            job.error = f"stopped: no sign of the browser for {timeout:g} s"  # set first: pollers see both
            job.stop()
            return
        time.sleep(min(1.0, timeout / 4))
