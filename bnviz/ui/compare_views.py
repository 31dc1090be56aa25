"""The Compare page's views: the lab's registry (bnviz.views) drawn for every arm at the same step, curves
overlaid and histograms as small multiples (or each arm minus arm A), plus the run's progress and summary."""

from __future__ import annotations

import math

import streamlit as st

from bnviz.compare import Comparison
from bnviz.compare_summary import arm_summaries, verdict
from bnviz.comparison_record import ComparisonRecord
from bnviz.models import site_names
from bnviz.plots import compare as cplots
from bnviz.record import KINDS
from bnviz.ui.compare_session import HIST_MODES, CompareState
from bnviz.ui.lab_views import MAX_STEP_STOPS, snapshot_index
from bnviz.ui.live_chart import plotly_chart
from bnviz.ui.share import Selection
from bnviz.views import BY_NUMBER, VIEW_NUMBERS, At, Chart, View

KEY = "cmp.view."
HISTOGRAM_VIEWS = (1, 3)  # small multiples (a row per arm); the others are overlaid curves


def pickers(state: CompareState, comparison: Comparison) -> Selection:
    """Views, histogram mode, norm site and the one step scrubber that moves every arm together."""
    if KEY + "views" not in st.session_state:
        st.session_state[KEY + "views"] = list(state.selection.views)
        st.session_state[KEY + "site"] = state.selection.site
        st.session_state[KEY + "hist"] = state.hist
    sites = _sites(comparison)
    if st.session_state.get(KEY + "site") not in ["all", *sites]:
        st.session_state[KEY + "site"] = "all"
    views = st.pills("Views", VIEW_NUMBERS, selection_mode="multi", key=KEY + "views",
                     format_func=lambda n: BY_NUMBER[n].label)
    left, middle, right = st.columns([1, 1, 2])
    site = left.selectbox("Norm site", ["all", *sites], key=KEY + "site",
                          help="The norm layer to look at in the per-site views; all: one after the other.")
    state.hist = middle.radio("Histograms", HIST_MODES, key=KEY + "hist", horizontal=True,
                              format_func=lambda m: {"arms": "a row per arm", "difference": "minus arm A"}[m],
                              help="View 1: each arm's pre and post histograms on shared axes, or each arm's "
                                   "density minus arm A's at the same step.")
    step = _scrubber(right, comparison, state.selection.step)
    state.selection = Selection(tuple(sorted(views)), site, step, state.selection.channel)  # channel: from the link
    return state.selection


def _sites(comparison: Comparison) -> list[str]:
    names: list[str] = []
    for cfg in comparison.configs:
        names += [s for s in site_names(cfg.model) if s not in names]
    return names


def step_stops(comparison: Comparison) -> list[int]:
    """The scrubber's steps: at most MAX_STEP_STOPS, on the arms' shortest snapshot cadence, the last the end."""
    steps = comparison.steps
    every = min(cfg.record_every for cfg in comparison.configs)
    return [*range(0, steps, every * math.ceil(steps / every / MAX_STEP_STOPS)), steps]


def _scrubber(where, comparison: Comparison, step: int | None) -> int | None:
    """One slider over the comparison's steps; each arm shows its snapshot nearest the chosen step."""
    stops, steps = step_stops(comparison), comparison.steps
    key = f"{KEY}step.{steps}.{len(stops)}"  # a new slider when the stops change
    if key not in st.session_state:
        st.session_state[key] = steps if step is None else min(stops, key=lambda s: abs(s - step))
    chosen = where.select_slider("Step (every arm)", stops, key=key,
                                 format_func=lambda s: "latest" if s == steps else str(s),
                                 help="The step every arm shows in views 1, 3 and 6 (each arm's nearest "
                                      "snapshot). At the right end, latest, they follow training.")
    return None if chosen == steps else chosen


def arm_status(state: CompareState, record: ComparisonRecord | None):
    """Progress of the comparison, and one line per arm that diverged or failed (the others train on)."""
    run = state.run
    if run is None:
        st.progress(0.0, text="Not started: pick the arms above and press Train.")
        return
    p = run.progress()
    if p.state in ("queued", "starting"):
        st.progress(0.0, text="Waiting for a free training slot…" if p.state == "queued" else
                    "Loading the data and building the arms' models…")
        return
    text = f"step {p.steps_done:,} / {p.steps:,}"
    if p.steps_per_s:
        text += f" · {p.steps_per_s:,.1f} steps/s (every arm)"
    st.progress(p.fraction, text=f"{text} · {p.state}")
    if p.state == "failed":
        st.error(f"Training failed: {p.message}")
    elif p.message:
        st.info(p.message.capitalize())
    if record is None:
        return
    for i, (label, arm) in enumerate(zip(record.labels, record.runs)):
        status = record.arm_status(i)
        if status == "failed":
            st.error(f"{label} failed and stopped; the other arms go on. {record.messages[i]}")
        elif status == "diverged":
            st.warning(f"{label} diverged at step {arm.status_step}: its loss became NaN or infinite, so it "
                       "stopped; the other arms go on.")


def summary(record: ComparisonRecord):
    """The per-arm table (compare_summary.arm_summaries) and the verdict in words."""
    rows = arm_summaries(record)
    pct = lambda v: "–" if v is None else f"{v:.1%}"  # noqa: E731
    st.dataframe([{"arm": r.label, "status": r.status, "steps": r.steps_done,
                   "test accuracy (eval mode)": pct(r.final_test_accuracy),
                   "train − eval accuracy": "–" if r.accuracy_gap is None else f"{100 * r.accuracy_gap:+.1f} pp",
                   **{f"steps to {t:.0%}": "never" if s is None else s for t, s in r.steps_to.items()},
                   "ms / step (median)": "–" if r.ms_per_step is None else f"{r.ms_per_step:.3g}"}
                  for r in rows], hide_index=True, key="cmp.summary")
    st.markdown(f"**Verdict:** {verdict(rows)}")


def draw(state: CompareState, selection: Selection, record: ComparisonRecord | None, comparison: Comparison):
    """Each selected view for every arm; before the first record, labelled empty charts under the same keys."""
    if not selection.views:
        st.info("Pick one or more views above.")
        return
    if state.cache.get("record") is not record:
        state.cache = {"record": record}
    labels = record.labels if record is not None else comparison.labels
    sites = _sites(comparison) if selection.site == "all" else [selection.site]
    for number in selection.views:
        view = BY_NUMBER[number]
        st.subheader(view.label)
        if number in HISTOGRAM_VIEWS:
            _small_multiples(state, view, sites, labels, record, selection)
        elif view.per_site:
            for chart in view.charts:
                for row in range(0, len(sites), 2):
                    for col, site in zip(st.columns(2), sites[row:row + 2]):
                        with col:
                            _overlay(state, chart, site, labels, record, selection)
        else:
            for col, chart in zip(st.columns(len(view.charts)), view.charts):
                with col:
                    _overlay(state, chart, None, labels, record, selection)
        for chart in view.charts:
            st.caption(chart.caption + (" Colours: one per arm; dashes tell the lines of one arm apart."
                                        if number not in HISTOGRAM_VIEWS else ""))


def _at(record, i: int, site: str | None, kind: str | None, selection: Selection) -> At:
    return At(site, kind, snapshot_index(record.runs[i], selection.step), selection.channel)


def _cached(state: CompareState, key: tuple, make):
    if (figure := state.cache.get(key)) is None:
        figure = state.cache[key] = make()
    return figure


def _arm_figure(chart: Chart, record: ComparisonRecord, i: int, site: str | None, kind: str | None,
                selection: Selection):
    run = record.runs[i]
    if site is not None and site not in run.sites:
        return None  # this arm's model has no such site
    return chart.figure(run, _at(record, i, site, kind, selection))


def _overlay(state, chart: Chart, site: str | None, labels, record, selection: Selection):
    place = [p for p in (chart.slug, site) if p is not None]
    title = f"{site}: {chart.axes[0]}" if site else chart.axes[0]
    if record is None:
        figure = chart.placeholder(site or "")
    else:
        figure = _cached(state, ("overlay", *place, selection.step), lambda: cplots.overlay_figure(
            [_arm_figure(chart, record, i, site, None, selection) for i in range(len(labels))], labels,
            title + (f" at step {selection.step}" if selection.step is not None and "index" in chart.follows else "")))
    plotly_chart(figure, key="cmp.chart." + ".".join(place))


def _small_multiples(state, view: View, sites: list[str], labels, record, selection: Selection):
    """A row per arm on shared axes: view 1 a column per site (pre and post in each chart), view 3 a block per
    site with pre and post side by side. In difference mode view 1 draws each arm minus arm A instead."""
    chart = view.charts[0]
    difference = state.hist == "difference" and view.number == 1
    blocks = [[(site, kind) for kind in KINDS] for site in sites] if chart.per_kind else [[(s, None) for s in sites]]
    for block in blocks:
        for i, label in enumerate(labels):
            if difference and i == 0:
                continue
            for col, (site, kind) in zip(st.columns(len(block)), block):
                place = [p for p in (chart.slug, site, kind, f"arm{i}") if p is not None]
                with col:
                    if record is None:
                        figure = chart.placeholder(f"{label} · {' '.join(p for p in (site, kind) if p)}")
                    elif difference:
                        figure = _cached(state, ("diff", site, i, selection.step), lambda: _difference(
                            record, i, site, labels, selection))
                    else:
                        figure = _cached(state, ("multiples", site, kind, selection.step), lambda: _shared(
                            chart, record, site, kind, labels, selection))[i]
                    plotly_chart(figure, key="cmp.chart." + ".".join(place + (["diff"] if difference else [])))


def _shared(chart: Chart, record, site: str, kind: str | None, labels, selection: Selection) -> list:
    figures = [_arm_figure(chart, record, i, site, kind, selection) for i in range(len(labels))]
    drawn = cplots.share_axes([f for f in figures if f is not None])
    it = iter(drawn)
    hint = "this arm's model has no such norm site"
    return [cplots.arm_figure(next(it), labels[i], i) if f is not None else
            chart.placeholder(f"{labels[i]} · {site}", hint) for i, f in enumerate(figures)]


def _difference(record: ComparisonRecord, i: int, site: str, labels, selection: Selection):
    base, other = record.runs[0], record.runs[i]
    if site not in base.sites or site not in other.sites:
        return BY_NUMBER[1].charts[0].placeholder(f"{labels[i]} · {site}", "one of the two arms has no such site")
    return cplots.histogram_difference_figure(
        base, other, site, (labels[0], labels[i]), snapshot_index(base, selection.step),
        snapshot_index(other, selection.step), selection.channel, color=cplots.arm_color(i))
