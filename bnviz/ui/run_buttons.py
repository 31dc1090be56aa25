"""Train / Pause / Reset, the offer to restart when a knob changed mid-run, and the live progress line."""

from __future__ import annotations

import streamlit as st

from bnviz.config import FIELDS, RunConfig
from bnviz.estimate import StepTimes
from bnviz.live import ACTIVE, Limiter, LiveRun
from bnviz.record import RunRecord
from bnviz.summary import final_test_accuracy, final_train_loss
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


def progress(run: LiveRun | None, limiter: Limiter, record: RunRecord | None, step_times: StepTimes):
    """Steps done, steps/s and time left; the queue position while waiting for a training slot; the test
    accuracy as a number. A diverged run names the step whose loss was not finite, as everywhere else.

    Each place below the progress line holds the same kind of thing in every state (a block, or nothing):
    a time-sliced run flips between waiting and running at every refresh, and a place that was an element
    in one refresh and a block in the next crashed the Streamlit 1.67 frontend under load ("'setIn' cannot
    be called on an ElementNode", a blank page; 8 visitors at once, tests/browser/test_hosted_load.py)."""
    if run is None:
        st.progress(0.0, text="Not started: pick the settings in the sidebar and press Train.")
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
    if p.steps_per_s and p.state == "running":
        step_times.observe(run.cfg, p.steps_per_s)
    if p.state == "diverged" and record is not None:
        text = f"diverged at step {record.status_step:,} of {p.steps:,}"
        st.progress(min(1.0, (record.status_step + 1) / p.steps), text=text)
    else:
        text = f"step {p.steps_done:,} / {p.steps:,}"
        if p.steps_per_s:
            text += f" · {p.steps_per_s:,.1f} steps/s"
        if p.seconds_left is not None:
            text += f" · {_duration(p.seconds_left)} left"
        st.progress(p.fraction, text=f"{text} · {p.state}")
    with st.container():  # the message, if any: a block either way
        if p.state == "failed":
            st.error(f"Training failed: {p.message}")
        elif p.state == "diverged":
            st.warning(f"Diverged at step {record.status_step}: the loss became NaN or infinite, so the run "
                       "stopped. Try a smaller learning rate, or normalization.")
        elif p.message:
            st.info(p.message.capitalize())
    if record is not None:
        results(record)


def results(record: RunRecord):
    """The run's latest test accuracy and train loss as numbers, readable without hovering a chart."""
    accuracy, loss = final_test_accuracy(record), final_train_loss(record)
    evaluated = int(record.evals["step"][-1]) if len(record.evals) else None
    left, right, _ = st.columns([1, 1, 2])
    left.metric("Test accuracy", "not yet" if accuracy is None else f"{accuracy:.1%}",
                help="On the test set in eval mode" + ("" if evaluated is None else f", after {evaluated:,} steps")
                + "; measured every eval_every steps and at the end.")
    right.metric("Train loss", "n/a" if loss is None else f"{loss:.3g}",
                 help="The last training batch's loss (view 5 smooths it).")


def estimate(cfg: RunConfig, step_times: StepTimes):
    """Before Train: how long cfg.steps steps should take, and what the estimate is based on."""
    seconds, basis = step_times.estimate(cfg)
    images = cfg.steps * cfg.batch_size
    st.caption(f"About {_duration(seconds)} for {cfg.steps:,} steps of batch {cfg.batch_size} "
               f"({images:,} training images) on this server ({basis}; evaluations come on top).")


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
