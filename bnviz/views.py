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
    # How the figures read (the charts that use one list it in `follows`): a log density axis; the
    # 0.5-99.5th percentile window (False: the full range); the gradient norms' EMA weight (0: raw).
    log_scale: bool = False
    robust: bool = True
    smoothing: float = plots.SMOOTHING


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
        if where:  # the place is the title, what it will show the subtitle: both fit a narrow chart
            return plots.empty_figure(where, hint, x_title, y_title, subtitle=title)
        return plots.empty_figure(title, hint, x_title, y_title)

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
        "histograms", "Pre (blue) vs post (orange) at one step, over the 0.5-99.5th percentile (◀ ▶ count what "
                      "lies beyond). With normalization post starts as the dashed N(0, 1) (gamma 1, beta 0 at "
                      "init), later shifted and scaled by beta and gamma, wherever pre drifts; ▲ marks a clipped "
                      "spike, such as ReLU's zeros.",
        ("Pre vs post histograms", "activation value", "density"),
        lambda r, at: plots.prepost_histogram_figure(r, at.site, at.index, at.channel, log_y=at.log_scale,
                                                     robust=at.robust),
        follows=("channel", "index", "log_scale", "robust")),)),
    View(2, "percentiles", "Distribution over time", per_site=True, charts=(Chart(
        "percentiles", "Percentile bands over training: pre bands drift and widen as weights change; with "
                       "normalization the post bands stay put (BN paper Fig. 1b, c).",
        ("Distribution over training", "training step", "activation value"),
        lambda r, at: plots.percentile_bands_figure(r, at.site)),)),
    View(3, "heatmap", "Histograms over steps", per_site=True, charts=(Chart(
        "heatmap", "Each row is one step's histogram (over the 0.5-99.5th percentile of all steps): a tilted or "
                   "widening ridge is drift; a bright column at 0 after ReLU is dead or saturated units.",
        ("Histograms over training", "activation value", "training step"),
        lambda r, at: plots.histogram_heatmap_figure(r, at.site, at.kind, log_density=at.log_scale,
                                                     robust=at.robust),
        follows=("log_scale", "robust"), per_kind=True),)),
    View(4, "gradients", "Gradient norms", charts=(Chart(
        "grad_norm", "Gradient norm per layer (log scale, smoothed as TensorBoard does; raw faint, the head "
                     "dashed): lines that fall by orders of magnitude are vanishing gradients, that climb are "
                     "exploding; normalization keeps them level.",
        ("Gradient norm per layer", "training step", "gradient L2 norm (log)"),
        lambda r, at: plots.grad_norm_figure(r, smoothing=at.smoothing, robust=at.robust),
        follows=("smoothing", "robust")), Chart(
        "update_ratio", "log10 of update size over weight size per layer: around -3 (dotted) is healthy; far "
                        "below, the layer barely learns; far above, it thrashes.",
        ("Update:data ratio per layer", "training step", "log10(|ΔW| / |W|)"),
        lambda r, at: plots.update_ratio_figure(r)))),
    View(5, "training", "Loss and accuracy", charts=(Chart(
        "training", "Loss and accuracy; the bottom panel is train-mode minus eval-mode accuracy on the same "
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
        ("Cost per training step", "training step", "ms per step"),
        lambda r, at: plots.cost_figure(r)),)),
)
VIEW_NUMBERS = tuple(view.number for view in VIEWS)
BY_NUMBER = {view.number: view for view in VIEWS}
DEFAULT_VIEWS = (1, 4)  # pre/post histograms and gradient norms: what BatchNorm does, and why it helps
assert len(BY_NUMBER) == len(VIEWS) and len({v.slug for v in VIEWS}) == len(VIEWS), "view numbers, slugs unique"
