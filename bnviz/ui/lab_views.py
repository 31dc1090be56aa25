"""The lab's views: their pickers (views, site, channel, step) and the charts of bnviz.views.VIEWS laid out."""

from __future__ import annotations

import math

import streamlit as st

from bnviz.config import NORM_WIDTHS, RunConfig
from bnviz.live import LiveRun
from bnviz.models import site_names
from bnviz.record import KINDS, RunRecord
from bnviz.ui.live_chart import plotly_chart, prepared
from bnviz.ui.session import LabSession
from bnviz.ui.share import Selection
from bnviz.views import BY_NUMBER, VIEW_NUMBERS, At, Chart

KEY = "view."
# Captions for a run without normalization (norm=none or placement=none: the sites are the identity), where
# the view's own caption describes what a norm does. Keyed by Chart.slug (bnviz/views.py).
UNNORMALIZED_CAPTIONS = {
    "histograms": "Normalization is off in this run: post is pre unchanged (the site passes its input through), so "
                  "the two histograms coincide; nothing keeps them centred as the weights change.",
    "percentiles": "Normalization is off in this run: pre and post are the same values, and their bands are "
                   "free to drift and widen as the weights change (BN paper Fig. 1b, without BN).",
    "heatmap": "Each row is one step's histogram; without normalization a tilted or widening ridge is the "
               "drift a norm would remove; a bright column at 0 after ReLU is dead units.",
    "grad_norm": "Gradient norm per layer (log scale), without normalization: lines that fall by orders of "
                 "magnitude are vanishing gradients, that climb are exploding.",
    "running_stats": "Normalization is off in this run: there are no batch or running statistics to compare.",
}
KEPT = ("samples",)  # lab.cache entries that say themselves when they are stale (bnviz/ui/samples.py)
MAX_STEP_STOPS = 500  # the step slider's stops at most (a long run's slider moves in bigger strides)


def set_widgets(selection: Selection):
    st.session_state[KEY + "views"] = list(selection.views)
    st.session_state[KEY + "site"] = selection.site
    st.session_state[KEY + "channel"] = "all" if selection.channel is None else selection.channel
    for name in ("log_y", "full_range", "smoothing"):
        st.session_state[KEY + name] = getattr(selection, name)


def pickers(lab: LabSession, cfg: RunConfig, record: RunRecord | None) -> Selection:
    """Views, site and channel pickers, and the step scrubber once there is a record; what they select."""
    selection: Selection = lab.selection or Selection()
    if KEY + "views" not in st.session_state:  # first run, or back from another page
        set_widgets(selection)
    sites = site_names(cfg.model)
    if st.session_state.get(KEY + "site") not in ["all", *sites]:  # the model changed under the choice
        st.session_state[KEY + "site"] = "all"
    views = st.pills("Views", VIEW_NUMBERS, selection_mode="multi", key=KEY + "views",
                     format_func=lambda n: BY_NUMBER[n].label)
    per_site = ", ".join(str(v.number) for v in BY_NUMBER.values() if v.per_site)
    left, middle, right = st.columns([1, 1, 2])
    site = left.selectbox("Norm site", ["all", *sites], key=KEY + "site",
                          help=f"The norm layer to look at (views {per_site}); all: side by side.")
    channels, channel_help = site_channels(cfg.model, site)
    if st.session_state.get(KEY + "channel") not in ["all", *range(channels)]:  # past the site's width
        st.session_state[KEY + "channel"] = "all"
    channel = middle.selectbox(f"Channel (0-{channels - 1})", ["all", *range(channels)], key=KEY + "channel",
                               help=channel_help)
    step = _scrubber(right, cfg, selection.step) if record is not None else selection.step
    log_y, full_range, smoothing = _options()
    selection = Selection(tuple(sorted(views)), site, step, None if channel == "all" else int(channel), log_y,
                          full_range, smoothing)
    lab.selection = selection
    return selection


def _options() -> tuple[bool, bool, float]:
    """How the charts draw: log counts, the full range (outliers and all), the gradient-norm smoothing."""
    log_y, full, smooth = st.columns([1, 1, 2])
    return (log_y.toggle("Log counts", key=KEY + "log_y", help="Views 1 and 3: a log count axis, so the "
                         "tails and a tall spike (ReLU's zeros) show together."),
            full.toggle("Full range", key=KEY + "full_range", help="Views 1, 3 and 4: every value on the axis, "
                        "outliers included. Off: the 0.5-99.5th percentile, with what falls outside counted."),
            smooth.slider("Gradient-norm smoothing", 0.0, 0.99, step=0.01, key=KEY + "smoothing",
                          help="View 4: the EMA weight of each line (TensorBoard's slider); 0 draws the raw norms."))


def site_channels(model: str, site: str) -> tuple[int, str]:
    """How many channels the channel picker offers for `site` (all: those every site has), and its help."""
    widths = dict(zip(site_names(model), NORM_WIDTHS[model]))
    each = ", ".join(f"{name} {width}" for name, width in widths.items())
    if site != "all":
        return widths[site], f"View 1: all of {site}'s {widths[site]} channels pooled, or one of them."
    narrowest = min(widths.values())
    more = "" if len(set(widths.values())) == 1 else f" Pick one site to choose among all its channels ({each})."
    return narrowest, f"View 1: all channels pooled, or one channel of every site (0-{narrowest - 1}).{more}"


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
        kept = {key: lab.cache[key] for key in KEPT if key in lab.cache}  # figures keyed by their own data
        lab.cache = {"run": run, "record": latest, **kept}
    return latest


def draw(lab: LabSession, selection: Selection, record: RunRecord | None, cfg: RunConfig):
    """The selected views, each with its captions; before the first run, labelled empty charts in the
    places (and under the keys) the real ones will take, so the browser fills them in rather than
    building new ones. Every figure of one refresh comes from the one frozen `record`, and all are built
    before the first is sent: the browser then gets the whole refresh in one burst, instead of one chart
    at a time while the rest wait, marked stale (faded) by Streamlit, showing the previous step.
    Figures are kept in lab.cache (as JSON) with the record they show, so a refresh without new data
    rebuilds none."""
    if not selection.views:
        st.info("Pick one or more views above.")
        return
    sites = site_names(cfg.model) if selection.site == "all" else [selection.site]
    index = snapshot_index(record, selection.step) if record is not None else -1
    layout = _layout(selection, sites, index, cfg.normalized)
    figures = {id(at_chart): _figure(lab, *at_chart, record) for _, rows, _ in layout for row in rows
               for at_chart in row}
    for view, rows, captions in layout:
        st.subheader(view.label)
        for row in rows:
            for col, at_chart in zip(st.columns(len(row)), row):
                with col:
                    key, figure = figures[id(at_chart)]
                    plotly_chart(figure, key=key)
        for caption in captions:
            st.caption(caption)


def caption(chart: Chart, normalized: bool) -> str:
    """The chart's caption; without normalization, the one that says what this run lacks instead."""
    return chart.caption if normalized else UNNORMALIZED_CAPTIONS.get(chart.slug, chart.caption)


def _layout(selection: Selection, sites: list[str], index: int, normalized: bool) -> list[tuple]:
    """(view, rows of (chart, at), captions) for each selected view, in page order."""
    layout = []
    options = {"log_scale": selection.log_y, "robust": not selection.full_range, "smoothing": selection.smoothing}
    for number in selection.views:
        view, rows = BY_NUMBER[number], []
        if view.per_site:
            for chart in view.charts:
                places = chart.places(sites)
                per_row = len(KINDS) if chart.per_kind else len(places)  # per kind: one row per site
                rows += [[(chart, At(at.site, at.kind, index, selection.channel, **options))
                          for at in places[r:r + per_row]] for r in range(0, len(places), per_row)]
        else:
            rows.append([(chart, At(**options)) for chart in view.charts])
        layout.append((view, rows, [caption(chart, normalized) for chart in view.charts]))
    return layout


def _figure(lab: LabSession, chart: Chart, at: At, record: RunRecord | None) -> tuple[str, object]:
    """(page key, figure as JSON) of a chart (its placeholder without a record), built only when the data
    or the choice changed since the last refresh. The chart's slug, site and kind name it on the page:
    another step or channel in the same place updates that chart rather than replacing it."""
    place = [part for part in (chart.slug, at.site, at.kind) if part is not None]
    key = "chart." + ".".join(place)
    if record is None:
        return key, prepared(chart.placeholder(" ".join(place[1:])))
    cache_key = (*place, *(getattr(at, name) for name in chart.follows))
    if (figure := lab.cache.get(cache_key)) is None:
        figure = lab.cache[cache_key] = prepared(chart.figure(record, at))
    return key, figure
