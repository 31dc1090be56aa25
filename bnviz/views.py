"""The registry of views: each numbered view of a run, its charts, their captions, axes and figure functions.

The lab's pills, its charts, the URL's `view=` and the tests all read VIEWS; a page that shows a run (the
lab, a comparison) lays these out. Adding a view is one entry here and its figure function in bnviz.plots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import plotly.graph_objects as go

from bnviz import plots
from bnviz.record import KINDS, RunRecord

PLACEHOLDER_HINT = "Press Train: this chart fills in live."


@dataclass(frozen=True)
class At:
    """Where a chart looks: its norm site and kind (per-site charts), the snapshot row and the channel."""

    site: str | None = None
    kind: str | None = None
    index: int = -1  # snapshot row; -1 is the latest
    channel: int | None = None  # None: all channels pooled


@dataclass(frozen=True)
class Chart:
    """One figure of a view: what it is called, what to look for, its empty axes and how it is drawn."""

    slug: str  # names the chart on the page and in its cache
    caption: str  # one line: what to look for, shown under the chart
    axes: tuple[str, str, str]  # title, x and y axis titles of the chart shown before the first run
    draw: Callable[[RunRecord, At], go.Figure]
    follows: tuple[str, ...] = ()  # At fields the figure depends on beyond its site and kind; a change
    # of these redraws the chart in place instead of replacing it
    per_kind: bool = False  # one chart per kind (pre, post) of each site

    def figure(self, record: RunRecord, at: At) -> go.Figure:
        return self.draw(record, at)

    def placeholder(self, where: str = "", hint: str = PLACEHOLDER_HINT) -> go.Figure:
        """The empty, labelled chart shown before the first run; `where` names the site (and kind)."""
        title, x_title, y_title = self.axes
        return plots.empty_figure(f"{where}: {title}" if where else title, hint, x_title, y_title)

    def places(self, sites: list[str]) -> list[At]:
        """Each place this chart takes on a page that shows `sites` ([At()] for a whole-run chart)."""
        if not sites:
            return [At()]
        return [At(site, kind) for site in sites for kind in KINDS] if self.per_kind else [At(s) for s in sites]


@dataclass(frozen=True)
class View:
    """A numbered view: a title and one or more charts; per_site views draw each chart once per norm site."""

    number: int
    slug: str
    title: str
    charts: tuple[Chart, ...]
    per_site: bool = False

    @property
    def label(self) -> str:
        return f"{self.number}. {self.title}"


VIEWS: tuple[View, ...] = (
    View(1, "histograms", "Pre vs post histograms", per_site=True, charts=(Chart(
        "histograms", "Pre (blue) vs post (orange) at one step: normalization keeps post centred and scaled "
                      "(mean 0, std 1 at init; later set by beta and gamma) wherever pre drifts.",
        ("Pre vs post histograms", "activation value", "density"),
        lambda r, at: plots.prepost_histogram_figure(r, at.site, at.index, at.channel),
        follows=("channel", "index")),)),
    View(2, "percentiles", "Distribution over time", per_site=True, charts=(Chart(
        "percentiles", "Percentile bands over training: pre bands drift and widen as weights change; with "
                       "normalization the post bands stay put (BN paper Fig. 1b, c).",
        ("Distribution over training", "training step", "activation value"),
        lambda r, at: plots.percentile_bands_figure(r, at.site)),)),
    View(3, "heatmap", "Histograms over steps", per_site=True, charts=(Chart(
        "heatmap", "Each row is one step's histogram: a tilted or widening ridge is drift; a bright column "
                   "at 0 after ReLU is dead or saturated units.",
        ("Histograms over training", "activation value", "training step"),
        lambda r, at: plots.histogram_heatmap_figure(r, at.site, at.kind), per_kind=True),)),
    View(4, "gradients", "Gradient norms", charts=(Chart(
        "grad_norm", "Gradient norm per layer (log scale): lines that fall by orders of magnitude are "
                     "vanishing gradients, that climb are exploding; normalization keeps them level.",
        ("Gradient norm per layer", "training step", "gradient L2 norm (log)"),
        lambda r, at: plots.grad_norm_figure(r)), Chart(
        "update_ratio", "log10 of update size over weight size per layer: around -3 is healthy; far below, "
                        "the layer barely learns; far above, it thrashes.",
        ("Update:data ratio per layer", "training step", "log10(|ΔW| / |W|)"),
        lambda r, at: plots.update_ratio_figure(r)))),
    View(5, "training", "Loss and accuracy", charts=(Chart(
        "training", "Loss and accuracy; the right panel is train-mode minus eval-mode accuracy on the same "
                    "images: a large gap means the running statistics do not match the batches (small batch, "
                    "momentum 0).",
        ("Loss and accuracy", "training step", "loss / accuracy"),
        lambda r, at: plots.training_figure(r)),)),
    View(6, "running_stats", "Running vs batch statistics", per_site=True, charts=(Chart(
        "running_stats", "Per channel: the batch statistics training normalizes with vs the running averages "
                         "eval mode uses; at tiny batch sizes the batch points scatter around the running ones.",
        ("Batch vs running statistics", "channel", "value"),
        lambda r, at: plots.running_stats_figure(r, at.site, at.index), follows=("index",)),)),
    View(7, "cost", "Cost per step", charts=(Chart(
        "cost", "Milliseconds per training step with a rolling median: normalization costs time; a climb "
                "late in training points at denormal floats or a busy machine.",
        ("Cost: ms per training step", "training step", "ms per step"),
        lambda r, at: plots.cost_figure(r)),)),
)
VIEW_NUMBERS = tuple(view.number for view in VIEWS)
BY_NUMBER = {view.number: view for view in VIEWS}
DEFAULT_VIEWS = (1, 4)  # pre/post histograms and gradient norms: what BatchNorm does, and why it helps
assert len(BY_NUMBER) == len(VIEWS) and len({v.slug for v in VIEWS}) == len(VIEWS), "view numbers, slugs unique"
