"""The Compare page's arms editor: start from the lab's config, a preset, "vary one knob", per-arm overrides."""

from __future__ import annotations

import streamlit as st

from bnviz.compare import MAX_ARMS, PRESETS, Arm, Comparison, label_for, vary
from bnviz.config import FIELDS, ConfigError, RunConfig
from bnviz.ui.compare_session import CompareState

KEY = "cmp.arms."
KNOBS = [name for name in FIELDS if name not in ("device", "threads")]


def set_widgets(comparison: Comparison):
    """The per-arm fields show `comparison`'s arms (called before the widgets are drawn)."""
    for i in range(MAX_ARMS):
        arm = comparison.arms[i] if i < len(comparison.arms) else None
        st.session_state[f"{KEY}{i}.label"] = arm.label if arm else ""
        st.session_state[f"{KEY}{i}.overrides"] = (", ".join(f"{k}={v}" for k, v in arm.overrides.items())
                                                    if arm else "")


def _apply(state: CompareState, make):
    """Replace the comparison by make(); a ConfigError (naming the arm and the field) is kept to show."""
    try:
        comparison = make()
    except ConfigError as err:
        state.errors = [str(err)]
        return
    state.comparison, state.errors = comparison, []
    set_widgets(comparison)


def parse_overrides(arm: int, text: str) -> dict[str, str]:
    """'norm=none, batch-size=2' -> {'norm': 'none', 'batch_size': '2'}; a part without '=' is named."""
    overrides = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, equals, value = part.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise ConfigError(f"arm{arm}.overrides", part, "knob=value pairs separated by commas, "
                                                           "as norm=none, batch_size=2")
        overrides[name.strip().replace("-", "_")] = value.strip()
    return overrides


def _arms_from_widgets(base: RunConfig) -> Comparison:
    arms = []
    for i in range(MAX_ARMS):
        label = st.session_state.get(f"{KEY}{i}.label", "").strip()
        text = st.session_state.get(f"{KEY}{i}.overrides", "")
        if not label and not text.strip():
            continue  # an empty row: no arm
        overrides = parse_overrides(len(arms) + 1, text)
        arms.append(Arm(label or label_for(overrides), overrides))
    return Comparison(base, tuple(arms))


def _vary_values() -> list[str]:
    return [v.strip() for v in st.session_state.get(KEY + "values", "").split(",") if v.strip()]


def editor(state: CompareState, lab_config: RunConfig):
    """Every way to make the arms; each applies at once (a callback), so the page is drawn with the new arms."""
    if f"{KEY}0.label" not in st.session_state:
        set_widgets(state.comparison)
    base = state.comparison.base
    differs = base != lab_config
    left, right = st.columns(2)
    with left:
        names = list(PRESETS)
        st.selectbox("Preset", names, key=KEY + "preset", format_func=lambda n: PRESETS[n].title,
                     help="The classic comparisons, applied to the base.")
        st.button("Use preset", key=KEY + "use_preset", icon=":material/science:",
                  on_click=lambda: _apply(state, lambda: PRESETS[st.session_state[KEY + "preset"]]
                                          .comparison(state.comparison.base)))
    with right:
        knob_col, values_col = st.columns([1, 2])
        knob_col.selectbox("Vary one knob", KNOBS, key=KEY + "knob", index=KNOBS.index("norm"))
        knob = st.session_state.get(KEY + "knob", "norm")
        spec = FIELDS[knob]
        hint = ", ".join(map(str, spec.choices)) if spec.choices else spec.allowed()
        values_col.text_input("Values (2 to 4, separated by commas)", key=KEY + "values",
                              placeholder="batch, none" if knob == "norm" else "", help=f"{knob}: {hint}")
        st.button("Make the arms", key=KEY + "vary", icon=":material/call_split:",
                  on_click=lambda: _apply(state, lambda: vary(state.comparison.base,
                                                              st.session_state[KEY + "knob"], _vary_values())))
    with st.form(KEY + "form", border=True):
        st.markdown("**Arms**: a short label and the knobs it changes (`knob=value, ...`); leave a row empty "
                    f"for fewer arms (2 to {MAX_ARMS}).")
        for i in range(MAX_ARMS):
            label_col, overrides_col = st.columns([1, 2])
            label_col.text_input(f"Arm {'ABCD'[i]} label", key=f"{KEY}{i}.label", max_chars=40)
            overrides_col.text_input(f"Arm {'ABCD'[i]} overrides", key=f"{KEY}{i}.overrides",
                                     placeholder="norm=none, batch_size=2")
        st.form_submit_button("Apply the arms", icon=":material/check:",
                              on_click=lambda: _apply(state, lambda: _arms_from_widgets(state.comparison.base)))
    base_text = ", ".join(f"{k}={v}" for k, v in base.to_params().items())
    st.caption(f"Base: {base_text}")
    if differs:
        st.button("Start from the lab's current settings", key=KEY + "from_lab", icon=":material/sync:",
                  help="The lab's knobs changed since; use them as the base, keeping the arms.",
                  on_click=lambda: _apply(state, lambda: Comparison(lab_config, state.comparison.arms)))
    for error in state.errors:
        st.error(f"These arms cannot train: {error}")
