"""The lab's sidebar: one widget per RunConfig knob, the presets, and the config the widgets build."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from bnviz.batchnorm import keras_momentum
from bnviz.config import FIELDS, ConfigError, RunConfig

KEY = "cfg."  # widget key of a knob: KEY + field name
SLIDER = "slider."
VIEWS_KEY = "view.views"  # the lab's view pills (bnviz/ui/lab_views.py), which a preset sets  # the log-scale slider next to an exact entry: SLIDER + field name

# Log-scale slider stops: every power of two, 1.5x between them, and the BN paper's 60.
BATCH_SIZES = sorted({2 ** k for k in range(11)} | {3 * 2 ** k for k in range(9)} | {10, 60, 100})
EPS_STOPS = sorted({round(m * 10.0 ** e, 12) for e in range(-8, 0) for m in (1, 2, 5)} | {1.0})
LR_STOPS = sorted({round(m * 10.0 ** e, 12) for e in range(-6, 1) for m in (1, 2, 3, 5)} | {10.0})
LOG_KNOBS = {"batch_size": BATCH_SIZES, "eps": EPS_STOPS, "lr": LR_STOPS}

@dataclass(frozen=True)
class Preset:
    """A whole config (from the defaults, so it gives the same run wherever it is applied), the views that
    show its lesson, and one line saying what to look for."""

    cfg: RunConfig
    views: tuple[int, ...]
    lesson: str


PRESETS: dict[str, Preset] = {
    # Keras defaults: epsilon 1e-3, momentum 0.99 (= 0.01 in PyTorch's convention); BN after ReLU.
    "Article's Keras model": Preset(RunConfig(eps=1e-3, momentum=0.01), (1, 6),
                                    "Look at view 6: with Keras's momentum 0.99 the running averages (green) trail "
                                    "the batch statistics for hundreds of steps; view 1 shows BN after ReLU "
                                    "taking a half-zero input."),
    # Ioffe & Szegedy Fig. 1: 3 x 100 sigmoid units, BN before the nonlinearity, batch 60.
    "BN paper (before activation)": Preset(RunConfig(model="mlp", placement="before", activation="sigmoid",
                                                     batch_size=60, optimizer="sgd", lr=0.5, steps=1000), (2, 5),
                                           "Look at view 2: the post bands of each sigmoid input stay put while "
                                           "pre drifts (BN paper Fig. 1b, c); view 5 shows the accuracy it buys."),
    "No normalization": Preset(RunConfig(norm="none", placement="none"), (2, 4),
                               "Look at views 2 and 4: with no norm the activations drift and the layers' "
                               "gradient norms spread apart; train the Article's preset next to compare."),
    # Its lesson is the train-mode vs eval-mode gap: 20 evaluations draw it as a curve, not a dot.
    "Tiny batch (2)": Preset(RunConfig(batch_size=2, steps=1500, eval_every=75), (5, 6),
                             "Look at view 5's right panel: at batch 2 the batch statistics are noise, so "
                             "train-mode and eval-mode accuracy on the same images disagree; view 6 shows why."),
}

LABELS = {
    "model": "Model", "norm": "Normalization", "placement": "Placement", "eps": "eps",
    "momentum": "momentum (PyTorch)", "affine": "Learnable gamma and beta (affine)", "groups": "Groups",
    "activation": "Activation", "optimizer": "Optimizer", "lr": "Learning rate", "weight_decay": "Weight decay",
    "batch_size": "Batch size", "dataset": "Dataset", "steps": "Steps", "seed": "Seed", "device": "Device",
    "record_every": "Snapshot every (steps)", "hist_bins": "Histogram bins", "eval_every": "Evaluate every (steps)",
}


def devices() -> list[str]:
    """Device choices: auto and those present on this machine."""
    from bnviz.trainer import available_devices
    return ["auto"] + available_devices()


def nearest(stops: list, value) -> object:
    """The slider stop closest to `value` on a log scale (0 goes to the smallest)."""
    if value <= 0:
        return stops[0]
    logs = np.log(np.asarray(stops, dtype=float))
    return stops[int(np.argmin(np.abs(logs - np.log(value))))]


def set_widgets(cfg: RunConfig):
    """Put `cfg` into the widgets (before they are drawn: URL, preset, or coming back to the page)."""
    for name in FIELDS:
        value = getattr(cfg, name)
        if name == "momentum":
            st.session_state[KEY + "cumulative"] = value is None
            value = 0.1 if value is None else value
        st.session_state[KEY + name] = value
        if name in LOG_KNOBS:
            st.session_state[SLIDER + name] = nearest(LOG_KNOBS[name], value)


def restore_widgets(cfg: RunConfig):
    """Widgets that Streamlit forgot (their page was not shown) get their value back from `cfg`."""
    if any(KEY + name not in st.session_state for name in FIELDS):
        set_widgets(cfg)


def _slider_moved(name: str):
    st.session_state[KEY + name] = st.session_state[SLIDER + name]


def _entry_typed(name: str):
    st.session_state[SLIDER + name] = nearest(LOG_KNOBS[name], st.session_state[KEY + name])


def _log_knob(name: str, fmt: str, step, disabled: bool = False):
    """A log-scale slider over common values plus an exact entry: the entry is the knob's value."""
    spec = FIELDS[name]
    st.select_slider(f"{LABELS[name]} (log scale)", LOG_KNOBS[name], key=SLIDER + name,
                     format_func=lambda v: f"{v:g}", on_change=_slider_moved, args=(name,), help=spec.help,
                     disabled=disabled)
    st.number_input(f"{LABELS[name]}, exact", min_value=spec.kind(spec.low), max_value=spec.kind(spec.high),
                    step=step, format=fmt, key=KEY + name, on_change=_entry_typed, args=(name,), disabled=disabled)


def _apply_preset(preset: Preset):
    set_widgets(preset.cfg.replace(device=st.session_state.get(KEY + "device", "auto")))
    st.session_state[VIEWS_KEY] = list(preset.views)


def lesson(cfg: RunConfig) -> str | None:
    """What to look for, when the knobs are a preset's (on any device)."""
    for preset in PRESETS.values():
        if cfg.replace(device="auto") == preset.cfg:
            return preset.lesson
    return None


def draw() -> tuple[RunConfig | None, str | None]:
    """Draw every knob in the sidebar; the config they give, or None and the reason it is invalid."""
    sb = st.sidebar
    with sb:
        st.subheader("Presets")
        for i, (label, preset) in enumerate(PRESETS.items()):
            st.button(label, key=f"preset.{i}", on_click=_apply_preset, args=(preset,), width="stretch")

        st.subheader("Model")
        for name in ("model", "norm", "placement", "activation"):
            st.selectbox(LABELS[name], FIELDS[name].choices, key=KEY + name, help=FIELDS[name].help)

        st.subheader("Normalization")
        norm, placement = st.session_state.get(KEY + "norm"), st.session_state.get(KEY + "placement")
        normalized = norm != "none" and placement != "none"
        if not normalized:
            st.caption(f"{'Placement' if placement == 'none' else 'Normalization'} is none: the blocks have no "
                       f"norm layer{f', so norm={norm} does nothing' if norm != 'none' else ''}, nor do the "
                       "knobs below.")
        _log_knob("eps", "%g", 1e-6, disabled=not normalized)
        batchnorm = normalized and norm == "batch"
        cumulative = st.checkbox("Cumulative average (momentum = None)", key=KEY + "cumulative",
                                 disabled=not batchnorm)
        momentum = st.number_input(LABELS["momentum"], 0.0, 1.0, step=0.01, format="%g", key=KEY + "momentum",
                                   disabled=cumulative or not batchnorm, help=FIELDS["momentum"].help)
        if normalized and not batchnorm:
            st.caption(f"momentum does nothing with {norm} norm: it normalizes each sample by itself and keeps "
                       "no running statistics (only BatchNorm does).")
        elif batchnorm:
            st.caption("running = (1 - m) * running + m * batch. " + (
                "Cumulative average: every batch weighs the same." if cumulative else
                f"Keras convention: momentum = 1 - m = **{keras_momentum(momentum):g}**"))
        st.checkbox(LABELS["affine"], key=KEY + "affine", help=FIELDS["affine"].help, disabled=not normalized)
        st.number_input(LABELS["groups"], int(FIELDS["groups"].low), int(FIELDS["groups"].high), step=1,
                        key=KEY + "groups", disabled=not normalized or norm != "group",
                        help=FIELDS["groups"].help)

        st.subheader("Training")
        _log_knob("batch_size", "%d", 1)
        st.selectbox(LABELS["optimizer"], FIELDS["optimizer"].choices, key=KEY + "optimizer")
        _log_knob("lr", "%g", 1e-4)
        st.number_input(LABELS["weight_decay"], 0.0, 1.0, step=1e-4, format="%g", key=KEY + "weight_decay",
                        help=FIELDS["weight_decay"].help)
        st.number_input(LABELS["steps"], 1, int(FIELDS["steps"].high), step=100, key=KEY + "steps")
        st.selectbox(LABELS["dataset"], FIELDS["dataset"].choices, key=KEY + "dataset",
                     help=FIELDS["dataset"].help)
        st.number_input(LABELS["seed"], 0, int(FIELDS["seed"].high), step=1, key=KEY + "seed")
        st.selectbox(LABELS["device"], devices(), key=KEY + "device", help=FIELDS["device"].help)
        with st.expander("Recording"):
            for name, step in (("record_every", 1), ("hist_bins", 8), ("eval_every", 50)):
                st.number_input(LABELS[name], int(FIELDS[name].low), int(FIELDS[name].high), step=step,
                                key=KEY + name, help=FIELDS[name].help,
                                placeholder=FIELDS[name].none_word if FIELDS[name].optional else None)
    return config_from_state()


def config_from_state() -> tuple[RunConfig | None, str | None]:
    """The RunConfig the widgets hold; None and the message naming the knob when it is not trainable."""
    values = {name: st.session_state[KEY + name] for name in FIELDS}
    if st.session_state.get(KEY + "cumulative"):
        values["momentum"] = None
    for name, spec in FIELDS.items():  # number_input gives floats where the field is an int
        if spec.kind is int and values[name] is not None:
            values[name] = int(values[name])
    try:
        return RunConfig(**values), None
    except ConfigError as err:
        return None, f"{LABELS.get(err.field, err.field)} ({err.field}): {err}"

