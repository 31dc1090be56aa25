"""The lab's seven views: their controls (view, site, channel, step) and the charts laid out with captions."""

from __future__ import annotations

import math

import streamlit as st

from bnviz import plots
from bnviz.config import NORM_WIDTHS, RunConfig
from bnviz.live import LiveRun, LiveSession
from bnviz.record import KINDS, RunRecord
from bnviz.ui.live_chart import plotly_chart
from bnviz.ui.share import VIEW_NUMBERS, ViewState, site_names

TITLES = {1: "Pre vs post histograms", 2: "Distribution over time", 3: "Histograms over steps",
          4: "Gradient norms", 5: "Loss and accuracy", 6: "Running vs batch statistics", 7: "Cost per step"}
CHARTS = {1: ("histograms",), 2: ("percentiles",), 3: ("heatmap",), 4: ("grad_norm", "update_ratio"),
          5: ("training",), 6: ("running_stats",), 7: ("cost",)}
PER_SITE = (1, 2, 3, 6)
KEY = "view."
MAX_STEP_STOPS = 500  # the step slider's stops at most (a long run's slider moves in bigger strides)


def set_widgets(view: ViewState):
    st.session_state[KEY + "views"] = list(view.views)
    st.session_state[KEY + "site"] = view.site
    st.session_state[KEY + "channel"] = "all" if view.channel is None else view.channel


def controls(lab: LiveSession, cfg: RunConfig, record: RunRecord | None) -> ViewState:
    """Views, site and channel pickers, and the step scrubber once there is a record; the view they give."""
    view: ViewState = lab.view or ViewState()
    if KEY + "views" not in st.session_state:  # first run, or back from another page
        set_widgets(view)
    sites, channels = site_names(cfg.model), min(NORM_WIDTHS[cfg.model])
    for key, options in (("site", ["all", *sites]), ("channel", ["all", *range(channels)])):
        if st.session_state.get(KEY + key) not in options:  # the model changed under the choice
            st.session_state[KEY + key] = "all"
    views = st.pills("Views", VIEW_NUMBERS, selection_mode="multi", key=KEY + "views",
                     format_func=lambda n: f"{n}. {TITLES[n]}")
    left, middle, right = st.columns([1, 1, 2])
    site = left.selectbox("Norm site", ["all", *sites], key=KEY + "site",
                          help="The norm layer to look at (views 1, 2, 3 and 6); all: side by side.")
    channel = middle.selectbox("Channel", ["all", *range(channels)], key=KEY + "channel",
                               help="View 1: all channels pooled, or one channel.")
    step = _scrubber(right, cfg, view.step) if record is not None else view.step
    view = ViewState(tuple(sorted(views)), site, step, None if channel == "all" else int(channel))
    lab.view = view
    return view


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


def shown_record(lab: LiveSession, run: LiveRun | None) -> RunRecord | None:
    """The run's record as the charts show it (the latest), keeping lab.cache's figures while it is unchanged."""
    if run is None:
        lab.cache = {}
        return None
    latest = run.view()  # also asks the trainer for a fresher copy
    if lab.cache.get("run") is not run or lab.cache.get("record") is not latest:
        lab.cache = {"run": run, "record": latest}
    return latest


def charts(lab: LiveSession, view: ViewState, record: RunRecord | None, model: str):
    """The selected views, each with its caption; before the first run, labelled empty charts in the
    places (and under the keys) the real ones will take, so the browser fills them in rather than
    building new ones. Figures are kept in lab.cache with the record they show, so a refresh without
    new data rebuilds none."""
    if not view.views:
        st.info("Pick one or more views above.")
        return
    for number in view.views:
        st.subheader(f"{number}. {TITLES[number]}")
        if number in PER_SITE:
            _per_site(lab, number, view, record, site_names(model) if view.site == "all" else [view.site])
        else:
            for col, name in zip(st.columns(len(CHARTS[number])), CHARTS[number]):
                with col:
                    _chart(lab, (name,), record, lambda n=name: getattr(plots, f"{n}_figure")(record))
        for name in CHARTS[number]:
            st.caption(plots.CAPTIONS[name])


def _per_site(lab: LiveSession, number: int, view: ViewState, record: RunRecord | None, sites: list[str]):
    index = snapshot_index(record, view.step) if record is not None else -1
    if number == 3:  # pre and post heatmaps of each site, one row per site
        for site in sites:
            for col, kind in zip(st.columns(len(KINDS)), KINDS):
                with col:
                    _chart(lab, ("heatmap", site, kind), record,
                           lambda s=site, k=kind: plots.histogram_heatmap_figure(record, s, k))
        return
    for col, site in zip(st.columns(len(sites)), sites):
        with col:
            if number == 1:
                _chart(lab, ("histograms", site, view.channel, index), record,
                       lambda s=site: plots.histogram_figure(record, s, index, view.channel), place=2)
            elif number == 2:
                _chart(lab, ("percentiles", site), record, lambda s=site: plots.percentile_bands_figure(record, s))
            else:
                _chart(lab, ("running_stats", site, index), record,
                       lambda s=site: plots.running_stats_figure(record, s, index), place=2)


def _chart(lab: LiveSession, key: tuple, record: RunRecord | None, make, place: int | None = None):
    """Draw a chart (its placeholder without a record), building the figure only when the data or the
    choice changed since the last refresh. The first `place` parts of the key name the chart on the page:
    another step or channel in the same place updates that chart rather than replacing it."""
    if record is None:
        figure = plots.placeholder_figure(key[0], " ".join(part for part in key[1:] if isinstance(part, str)))
    elif (figure := lab.cache.get(key)) is None:
        figure = lab.cache[key] = make()
    plotly_chart(figure, key="chart." + ".".join(map(str, key[:place])))
