"""Pure plotly figures of one microscope Look: pre vs post, train vs eval mode, and where eps bites."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from bnviz.batchnorm import post_std
from bnviz.plots.histograms import Hist, look_figure, moments_text
from bnviz.plots.style import POST_COLOR, PRE_COLOR, REFERENCE_COLOR, RUNNING_COLOR, base_layout, legend_room

if TYPE_CHECKING:  # bnviz.microscope needs torch; these figures only read the Look's numpy arrays
    from bnviz.microscope import Look

LABELS = {"pre": "pre (norm input)", "post": "post, train mode (batch stats)",
          "eval": "post, eval mode (running stats)"}
SHORT = {"pre": "pre", "post": "post, train mode", "eval": "post, eval mode"}  # legends fit a phone
COLORS = {"pre": PRE_COLOR, "post": POST_COLOR, "eval": RUNNING_COLOR}


def _which(look: Look) -> str:
    return "all channels" if look.channel is None else f"channel {look.channel}"


def look_histograms_figure(look: Look, kinds: tuple[str, ...], title: str, log_y: bool = False,
                           robust: bool = True, normal: bool = True) -> go.Figure:
    """Overlaid histograms (densities on shared bins) with each one's mean and std marked, in the lab's
    treatment (plots.histograms.overlay): robust window, log-y option, N(0, 1) over train-mode post."""
    hists = [Hist(kind, f"{SHORT[kind]}: {moments_text(*look.stats[kind])}", COLORS[kind], look.edges,
                  np.asarray(look.counts[kind]), *map(float, look.stats[kind])) for kind in kinds]
    return look_figure([h for h in hists if h.counts.sum() > 0], f"{look.site}: {title}", _which(look),
                       f"micro:{title}", robust=robust, log_y=log_y, normal=normal and "post" in kinds)


def eps_figure(look: Look) -> go.Figure:
    """Per channel: batch variance (log x) against the std that normalization leaves, with eps marked.

    A channel with variance far above eps comes out with std |gamma| (1 at init); one near or below eps
    is squashed towards 0 by sqrt(var / (var + eps)) instead of being scaled up."""
    var = np.maximum(look.channel_var, 1e-30)  # a dead channel (var 0) still gets a place on the log axis
    grid = np.logspace(np.log10(var.min()) - 1, np.log10(max(var.max(), look.eps, 1e-30)) + 1, 200)
    data = [go.Scatter(x=grid, y=post_std(grid, look.eps), mode="lines", name="sqrt(var / (var + eps))",
                       line={"color": REFERENCE_COLOR, "dash": "dot"}),
            go.Scatter(x=var, y=look.channel_post_std, mode="markers", name="measured std of post, per channel",
                       marker={"color": POST_COLOR, "size": 9}, text=[f"channel {c}" for c in range(len(var))],
                       hovertemplate="%{text}<br>batch var %{x:.3g}<br>post std %{y:.3g}<extra></extra>")]
    marked = {look.smallest_var_channel: "smallest variance"}
    if look.channel is not None:
        marked[look.channel] = "shown channel"
    for c, label in marked.items():
        data.append(go.Scatter(x=[var[c]], y=[look.channel_post_std[c]], mode="markers", name=f"{label}: {c}",
                               marker={"size": 16, "symbol": "circle-open", "line": {"width": 3},
                                       "color": PRE_COLOR}))
    if look.eps > 0:  # a trace, not a shape: plain data coordinates on the log axis
        data.append(go.Scatter(x=[look.eps, look.eps], y=[0, 1.05], mode="lines", name=f"eps = {look.eps:g}",
                               line={"color": REFERENCE_COLOR, "width": 2}))
    layout = base_layout(f"{look.site}: where eps bites", uirevision="micro:eps", subtitle="each dot is a channel",
                         height=420, xaxis={"type": "log", "title": {"text": "batch variance of pre (log)"}},
                         yaxis={"title": {"text": "std of post"}, "rangemode": "tozero"})
    return go.Figure(data, legend_room(data, layout))


def means_figure(look: Look) -> go.Figure:
    """Per channel: the batch mean train mode subtracts against the running mean eval mode subtracts."""
    channels = np.arange(len(look.batch_mean))
    data = [go.Scatter(x=channels, y=look.batch_mean, mode="markers", name="batch mean (train mode)",
                       marker={"color": POST_COLOR, "size": 8})]
    if look.running_mean is not None:
        data.append(go.Scatter(x=channels, y=look.running_mean, mode="markers", name="running mean (eval mode)",
                               marker={"color": RUNNING_COLOR, "size": 10, "symbol": "diamond-open"}))
    layout = base_layout(f"{look.site}: means", uirevision="micro:means", subtitle="the mean each mode subtracts",
                         height=420,
                         xaxis={"title": {"text": "channel"}}, yaxis={"title": {"text": "mean of pre"}})
    return go.Figure(data, legend_room(data, layout))
