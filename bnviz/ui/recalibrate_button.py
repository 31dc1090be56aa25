"""The recalibration (PreciseBN) button of the lab and the microscope: recompute the BatchNorm running statistics
of a copy of the lab's model over many training batches and show eval-mode test accuracy before and after.

A copy, not the live model: the lab's run keeps its own weights and running statistics, so its record (and what
a shared link reproduces) is what training alone made; the button only shows what recalibration would buy."""

from __future__ import annotations

import copy

import streamlit as st

from bnviz.ui.session import LabSession

RECALIBRATION_IMAGES = 2_000  # training images the statistics are recomputed from, in batches of the run's size


def _measure(lab: LabSession) -> dict | None:
    from bnviz.recalibrate import recalibration_gain, train_mode_accuracy  # torch: only once pressed
    run = lab.run
    with run.holding_trainer() as trainer:  # between two chunks; copied so training goes on at once
        if trainer is None:
            return None
        model, step, cfg = copy.deepcopy(trainer.model), trainer.steps_done, trainer.cfg
        x_train, x_test, y_test = trainer.x_train, trainer.x_test, trainer.y_test
    b = cfg.batch_size
    gain = recalibration_gain(model, x_train, x_test, y_test, batch_size=b,
                              n_batches=max(1, RECALIBRATION_IMAGES // b), seed=cfg.seed)
    return {"run": id(run), "step": step, "batch_size": b, "before": gain["before"], "after": gain["after"],
            "train_mode": train_mode_accuracy(model, x_test, y_test, b)}


def recalibrate_button(lab: LabSession, key: str):
    """The button and, once pressed, the before/after accuracy of the lab's model at the step it was pressed."""
    run = lab.run
    trainer = run.trainer if run is not None else None
    if trainer is None:
        st.caption("Recalibration (PreciseBN) needs the lab's model: train it in the lab first.")
        return
    if not any(hasattr(m, "running_var") and m.running_var is not None for m in trainer.model.modules()):
        st.caption("Recalibration (PreciseBN) applies to BatchNorm only: this model keeps no running statistics.")
        return
    if st.button("Recalibrate a copy (PreciseBN)", key=key,
                 help=f"Recompute the running mean and variance of every BatchNorm of a copy of the lab's model "
                      f"as a cumulative average over {RECALIBRATION_IMAGES:,} training images, no weight change; "
                      "the lab's model itself is left as it is."):
        with st.spinner("Recalibrating a copy of the lab's model..."):
            st.session_state[key + ".result"] = _measure(lab)
    result = st.session_state.get(key + ".result")
    if not result or result["run"] != id(run):
        return
    a, b, c = st.columns(3)
    a.metric("Eval mode, running stats", f"{result['before']:.1%}")
    gain = 100 * (result["after"] - result["before"])
    b.metric("Eval mode, recalibrated", f"{result['after']:.1%}", delta=f"{gain:+.1f} points")
    c.metric(f"Train mode (batches of {result['batch_size']})", f"{result['train_mode']:.1%}")
    st.caption(f"Test accuracy of the lab's model at step {result['step']:,}, on a copy recalibrated over "
               f"{RECALIBRATION_IMAGES:,} training images in batches of {result['batch_size']}; the lab's model, "
               "its weights and its running statistics are unchanged.")
