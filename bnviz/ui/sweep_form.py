"""The Sweep page's form: a preset or any grid (x knob and values, lines' knob and values), seeds, the
budget, a few base knobs and what to plot; widgets in, a SweepSpec (or the ConfigError naming the bad knob) out."""

from __future__ import annotations

import streamlit as st

from bnviz.config import FIELDS, ConfigError
from bnviz.sweep_table import METRICS, SPREADS
from bnviz.ui.sweep_job import sweep_state
from bnviz.ui.sweep_link import GRID_KNOBS
from bnviz.ui.sweep_spec import CUSTOM, PRESET_NOTES, PRESETS, SweepSpec

KEY = "sweep."
NO_LINES = "(one line)"
BUDGETS = ("images per run", "steps per run")
BASE_CHOICES = ("model", "norm", "placement", "optimizer", "dataset")  # selectboxes of the base config
BASE_NUMBERS = {"lr": 1e-3, "batch_size": 1, "groups": 1}  # number inputs, with their step


def set_widgets(spec: SweepSpec):
    """Put `spec` into the widgets (before they are drawn: the link, a preset, or coming back to the page)."""
    knobs = list(spec.grid)
    st.session_state[KEY + "preset"] = next((name for name, preset in PRESETS.items() if preset == spec), CUSTOM)
    st.session_state[KEY + "x"] = knobs[0]
    st.session_state[KEY + "x_values"] = ",".join(spec.grid[knobs[0]])
    st.session_state[KEY + "lines"] = knobs[1] if len(knobs) > 1 else NO_LINES
    st.session_state[KEY + "line_values"] = ",".join(spec.grid[knobs[1]]) if len(knobs) > 1 else ""
    st.session_state[KEY + "seeds"] = ",".join(map(str, spec.seeds))
    st.session_state[KEY + "budget"] = BUDGETS[0] if spec.images is not None else BUDGETS[1]
    st.session_state[KEY + "amount"] = spec.images if spec.images is not None else spec.base.steps
    for name in (*BASE_CHOICES, *BASE_NUMBERS):
        st.session_state[KEY + name] = getattr(spec.base, name)
    st.session_state[KEY + "metric"] = spec.metric
    st.session_state[KEY + "bars"] = spec.spread


def restore_widgets(spec: SweepSpec):
    """Streamlit drops the widgets of a page not shown: give them back the spec's values."""
    if KEY + "x" not in st.session_state:
        set_widgets(spec)


def _preset_chosen():
    name = st.session_state[KEY + "preset"]
    if name in PRESETS:
        sweep_state().spec = PRESETS[name]  # its base config too, the knobs the form does not show included
        set_widgets(PRESETS[name])


def draw(spec: SweepSpec) -> tuple[SweepSpec | None, str | None]:
    """The form; returns (spec, None) when every run validates, else (None, the message naming the knob)."""
    st.selectbox("Preset", (*PRESETS, CUSTOM), key=KEY + "preset", on_change=_preset_chosen,
                 help="A preset fills in the form; change any field for your own grid.")
    note = PRESET_NOTES.get(st.session_state.get(KEY + "preset"))
    if note:
        st.caption(note)
    left, right = st.columns(2)
    x = left.selectbox("x axis knob", GRID_KNOBS, key=KEY + "x")
    x_values = left.text_input("Its values (comma separated)", key=KEY + "x_values")
    lines = right.selectbox("A line per value of", (NO_LINES, *GRID_KNOBS), key=KEY + "lines")
    line_values = right.text_input("Their values (comma separated)", key=KEY + "line_values",
                                   disabled=lines == NO_LINES)
    left, middle, right = st.columns(3)
    seeds = left.text_input("Seeds (comma separated)", key=KEY + "seeds",
                            help="Each grid point trains once per seed; the chart's bars show their spread.")
    budget = middle.radio("Budget", BUDGETS, key=KEY + "budget", horizontal=True,
                          help="Images: every run sees the same data, steps = images / batch size (GN Fig. 1).")
    amount = right.number_input(budget.capitalize(), min_value=1, max_value=10_000_000, step=100,
                                key=KEY + "amount")
    with st.expander("Base config (the knobs not in the grid)"):
        columns = st.columns(4)
        base = {}
        for i, name in enumerate(BASE_CHOICES):
            base[name] = columns[i % 4].selectbox(name, FIELDS[name].choices, key=KEY + name,
                                                  help=FIELDS[name].help)
        for i, (name, step) in enumerate(BASE_NUMBERS.items(), start=len(BASE_CHOICES)):
            spec_field = FIELDS[name]
            base[name] = columns[i % 4].number_input(
                name, min_value=spec_field.kind(spec_field.low), max_value=spec_field.kind(spec_field.high),
                step=spec_field.kind(step), key=KEY + name, help=spec_field.help,
                format="%g" if spec_field.kind is float else "%d")
        st.caption("Every other knob keeps the value the link gave it (all of them are in the share link).")
    left, right = st.columns(2)
    metric = left.selectbox("Metric", tuple(METRICS), key=KEY + "metric", format_func=lambda m: METRICS[m].title)
    spread = right.radio("Error bars", tuple(SPREADS), key=KEY + "bars", horizontal=True,
                         format_func=lambda s: {"std": "mean ± std", "minmax": "min to max"}[s])
    try:
        grid = {x: _values(x_values)}
        if lines != NO_LINES:
            if lines == x:
                raise ConfigError("lines", lines, "a knob other than the x axis knob")
            grid[lines] = _values(line_values)
        new = spec.replace(base=spec.base.replace(**base, steps=spec.base.steps if budget == BUDGETS[0]
                                                  else int(amount)),
                           grid=grid, seeds=_seeds(seeds), images=int(amount) if budget == BUDGETS[0] else None,
                           metric=metric, spread=spread)
        new.configs()
    except ConfigError as err:
        return None, str(err)
    return new, None


def _values(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(dict.fromkeys(int(v) for v in _values(text)))
    except ValueError:
        raise ConfigError("seeds", text, "integers separated by commas, e.g. 0,1,2") from None
