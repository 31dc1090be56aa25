"""The lab's views: their pickers (views, site, channel, step) and the charts of bnviz.views.VIEWS laid out."""

from __future__ import annotations

import math

import streamlit as st

from bnviz.config import NORM_WIDTHS, RunConfig
from bnviz.live import LiveRun
from bnviz.models import site_names
from bnviz.record import KINDS, RunRecord
from bnviz.ui.live_chart import plotly_chart
from bnviz.ui.session import LabSession
from bnviz.ui.share import Selection
from bnviz.views import BY_NUMBER, VIEW_NUMBERS, At, Chart

KEY = "view."
MAX_STEP_STOPS = 500  # the step slider's stops at most (a long run's slider moves in bigger strides)


def set_widgets(selection: Selection):
    st.session_state[KEY + "views"] = list(selection.views)
    st.session_state[KEY + "site"] = selection.site
    st.session_state[KEY + "channel"] = "all" if selection.channel is None else selection.channel


def pickers(lab: LabSession, cfg: RunConfig, record: RunRecord | None) -> Selection:
    """Views, site and channel pickers, and the step scrubber once there is a record; what they select."""
    selection: Selection = lab.selection or Selection()
    if KEY + "views" not in st.session_state:  # first run, or back from another page
        set_widgets(selection)
    sites, channels = site_names(cfg.model), min(NORM_WIDTHS[cfg.model])
    for key, options in (("site", ["all", *sites]), ("channel", ["all", *range(channels)])):
        if st.session_state.get(KEY + key) not in options:  # the model changed under the choice
            st.session_state[KEY + key] = "all"
    views = st.pills("Views", VIEW_NUMBERS, selection_mode="multi", key=KEY + "views",
                     format_func=lambda n: BY_NUMBER[n].label)
    per_site = ", ".join(str(v.number) for v in BY_NUMBER.values() if v.per_site)
    left, middle, right = st.columns([1, 1, 2])
    site = left.selectbox("Norm site", ["all", *sites], key=KEY + "site",
                          help=f"The norm layer to look at (views {per_site}); all: side by side.")
    channel = middle.selectbox("Channel", ["all", *range(channels)], key=KEY + "channel",
                               help="View 1: all channels pooled, or one channel.")
    step = _scrubber(right, cfg, selection.step) if record is not None else selection.step
    selection = Selection(tuple(sorted(views)), site, step, None if channel == "all" else int(channel))
    lab.selection = selection
    return selection


def _scrubber(where, cfg: RunConfig, step: int | None) -> int | None:
    """A slider over the run's steps, starting at `step`; its right end, "latest", follows the run (None).

    Its stops come from the run's length, known before the first step, so it works while the run
    trains: a chosen step stays in views 1 and 6 as training goes on (the nearest recorded step is shown).
    """
    stride = cfg.record_every * math.ceil(cfg.steps / cfg.record_every / MAX_STEP_STOPS)
    stops = [*range(0, cfg.steps, stride), cfg.steps]
    key = f"{KEY}step.{cfg.steps}.{stride}"  # a run of another length gets a fresh slider, placed from `step`
    if key not in st.session_state:
        st.session_state[key] = cfg.steps if step is None else min(stops, key=lambda s: abs(s - step))
    chosen = where.select_slider("Step", stops, key=key, format_func=lambda s: "latest" if s == cfg.steps else str(s),
                                 help="The step shown in views 1 and 6 (the nearest recorded one). At the right "
                                      "end, latest, they follow the run as it trains.")
    return None if chosen == cfg.steps else chosen


def snapshot_index(record: RunRecord, step: int | None) -> int:
    if step is None or not len(record.snapshots):
        return -1
    steps = record.snapshots["step"]
    return int(abs(steps - step).argmin())


def shown_record(lab: LabSession, run: LiveRun | None) -> RunRecord | None:
    """The run's record as the charts show it (the latest), keeping lab.cache's figures while it is unchanged."""
    if run is None:
        lab.cache = {}
        return None
    latest = run.latest_record()  # also asks the trainer for a fresher copy
    if lab.cache.get("run") is not run or lab.cache.get("record") is not latest:
        lab.cache = {"run": run, "record": latest}
    return latest


def draw(lab: LabSession, selection: Selection, record: RunRecord | None, model: str):
    """The selected views, each with its captions; before the first run, labelled empty charts in the
    places (and under the keys) the real ones will take, so the browser fills them in rather than
    building new ones. Figures are kept in lab.cache with the record they show, so a refresh without
    new data rebuilds none."""
    if not selection.views:
        st.info("Pick one or more views above.")
        return
    sites = site_names(model) if selection.site == "all" else [selection.site]
    index = snapshot_index(record, selection.step) if record is not None else -1
    for number in selection.views:
        view = BY_NUMBER[number]
        st.subheader(view.label)
        if view.per_site:
            for chart in view.charts:
                places = chart.places(sites)
                per_row = len(KINDS) if chart.per_kind else len(places)  # per kind: one row per site
                for row in range(0, len(places), per_row):
                    for col, at in zip(st.columns(per_row), places[row:row + per_row]):
                        with col:
                            _chart(lab, chart, At(at.site, at.kind, index, selection.channel), record)
        else:
            for col, chart in zip(st.columns(len(view.charts)), view.charts):
                with col:
                    _chart(lab, chart, At(), record)
        for chart in view.charts:
            st.caption(chart.caption)


def _chart(lab: LabSession, chart: Chart, at: At, record: RunRecord | None):
    """Draw a chart (its placeholder without a record), building the figure only when the data or the
    choice changed since the last refresh. The chart's slug, site and kind name it on the page: another
    step or channel in the same place updates that chart rather than replacing it."""
    place = [part for part in (chart.slug, at.site, at.kind) if part is not None]
    if record is None:
        figure = chart.placeholder(" ".join(place[1:]))
    else:
        key = (*place, *(getattr(at, name) for name in chart.follows))
        if (figure := lab.cache.get(key)) is None:
            figure = lab.cache[key] = chart.figure(record, at)
    plotly_chart(figure, key="chart." + ".".join(place))
