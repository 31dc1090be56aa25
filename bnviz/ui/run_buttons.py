"""Train / Pause / Reset, the offer to restart when a knob changed mid-run, and the live progress line."""

from __future__ import annotations

import streamlit as st

from bnviz.config import FIELDS, RunConfig
from bnviz.live import ACTIVE, Limiter, LiveRun
from bnviz.ui import sidebar
from bnviz.ui.session import LabSession

FIRST_RECORD_WAIT_S = 0.8


def changed_knobs(old: RunConfig, new: RunConfig) -> list[str]:
    """'name old → new' for each knob that differs."""
    a, b = old.to_params(), new.to_params()
    return [f"{name} {a[name]} → {b[name]}" for name in FIELDS if a[name] != b[name]]


def buttons(lab: LabSession, cfg: RunConfig | None, limiter: Limiter):
    """The run's buttons. A run keeps the config it started with: new knobs mean a new run."""
    run = lab.run
    active = run is not None and run.state in ACTIVE
    paused = run is not None and run.state == "paused"
    differs = run is not None and cfg is not None and run.cfg != cfg
    if differs and (active or paused):
        st.warning("The settings changed since this run started (" + ", ".join(changed_knobs(run.cfg, cfg)) +
                   "). The charts keep showing the run as it started; restart to train with the new settings.")
    elif differs:
        st.info("The charts show the last run; its settings differ from the sidebar's ("
                + ", ".join(changed_knobs(run.cfg, cfg)) + "). Train to start a run with the sidebar's.")
    if differs and (active or paused):
        label = "Restart with new settings"
    elif paused:
        label = "Resume"
    elif run is not None and not active:
        label = "Train again"
    else:
        label = "Train"
    # Callbacks run before the next script run, so the whole page is drawn in the new state.
    train, pause, reset = st.columns([2, 1, 1])
    train.button(label, type="primary", icon=":material/play_arrow:", key="run.train", width="stretch",
                 disabled=cfg is None or (active and not differs), on_click=_train, args=(lab, limiter))
    pause.button("Pause", icon=":material/pause:", key="run.pause", width="stretch", disabled=not active,
                 on_click=lambda: lab.run and lab.run.pause())
    reset.button("Reset", icon=":material/restart_alt:", key="run.reset", width="stretch",
                 disabled=run is None, on_click=lab.reset)


def _train(lab: LabSession, limiter: Limiter):
    cfg, _ = sidebar.config_from_state()  # the knobs as they are now, even if changed with this click
    if cfg is not None:
        # Step 0 is usually recorded within half a second: waiting for it here puts the first charts in
        # this click's own redraw instead of the next timer tick's.
        lab.train(cfg, limiter).wait_for_first_record(FIRST_RECORD_WAIT_S)


def progress(run: LiveRun | None, limiter: Limiter):
    """Steps done, steps/s and time left; the queue position while waiting for a training slot."""
    if run is None:
        st.progress(0.0, text="Not started: pick the settings on the left and press Train.")
        return
    p = run.progress()
    if p.state == "queued":
        wait = f", about {_duration(p.wait_s)} to wait" if p.wait_s is not None else ""  # issue 16
        done = f"step {p.steps_done:,} / {p.steps:,} · " if p.steps_done else ""  # issue 16: a slice was trained
        st.progress(p.fraction, text=f"{done}Waiting for a free training slot: number {p.queue_position or 1} in "
                                     f"the queue ({limiter.running} of {limiter.slots} slots busy{wait}).")
        return
    if p.state == "starting":
        st.progress(0.0, text="Loading the data and building the model…")
        return
    text = f"step {p.steps_done:,} / {p.steps:,}"
    if p.steps_per_s:
        text += f" · {p.steps_per_s:,.1f} steps/s"
    if p.seconds_left is not None:
        text += f" · {_duration(p.seconds_left)} left"
    st.progress(p.fraction, text=f"{text} · {p.state}")
    record = run.latest_record()
    if p.state == "failed":
        st.error(f"Training failed: {p.message}")
    elif p.state == "diverged":
        st.warning(f"Diverged at step {record.status_step}: the loss became NaN or infinite, so the run stopped. "
                   "Try a smaller learning rate, or normalization.")
    elif p.message:
        st.info(p.message.capitalize())


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
