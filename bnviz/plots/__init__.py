"""Pure plot functions: a RunRecord in, a plotly Figure out; no Streamlit, no torch."""

from __future__ import annotations

import plotly.graph_objects as go

from bnviz.plots.activations import (histogram_figure, histogram_heatmap_figure, percentile_bands_figure,
                                     rebin_histograms)
from bnviz.plots.running_stats import running_stats_figure
from bnviz.plots.style import (KIND_COLORS, MAX_POINTS, POST_COLOR, PRE_COLOR, downsample_indices,
                               empty_figure)
from bnviz.plots.training import cost_figure, grad_norm_figure, training_figure, update_ratio_figure

# One line per view: what to look for. The app shows it under the chart.
CAPTIONS = {
    "histograms": "Pre (blue) vs post (orange) at one step: normalization keeps post centred and scaled "
                  "(mean 0, std 1 at init; later set by beta and gamma) wherever pre drifts.",
    "percentiles": "Percentile bands over training: pre bands drift and widen as weights change; with "
                   "normalization the post bands stay put (BN paper Fig. 1b, c).",
    "heatmap": "Each row is one step's histogram: a tilted or widening ridge is drift; a bright column "
               "at 0 after ReLU is dead or saturated units.",
    "grad_norm": "Gradient norm per layer (log scale): lines that fall by orders of magnitude are "
                 "vanishing gradients, that climb are exploding; normalization keeps them level.",
    "update_ratio": "log10 of update size over weight size per layer: around -3 is healthy; far below, "
                    "the layer barely learns; far above, it thrashes.",
    "training": "Loss and accuracy; the right panel is train-mode minus eval-mode accuracy on the same "
                "images: a large gap means the running statistics do not match the batches (small batch, "
                "momentum 0).",
    "running_stats": "Per channel: the batch statistics training normalizes with vs the running averages "
                     "eval mode uses; at tiny batch sizes the batch points scatter around the running ones.",
    "cost": "Milliseconds per training step with a rolling median: normalization costs time; a climb "
            "late in training points at denormal floats or a busy machine.",
}

# Axis titles of each view, for the charts shown before the first run.
_PLACEHOLDER_AXES = {
    "histograms": ("Pre vs post histograms", "activation value", "density"),
    "percentiles": ("Distribution over training", "training step", "activation value"),
    "heatmap": ("Histograms over training", "activation value", "training step"),
    "grad_norm": ("Gradient norm per layer", "training step", "gradient L2 norm (log)"),
    "update_ratio": ("Update:data ratio per layer", "training step", "log10(|ΔW| / |W|)"),
    "training": ("Loss and accuracy", "training step", "loss / accuracy"),
    "running_stats": ("Batch vs running statistics", "channel", "value"),
    "cost": ("Cost: ms per training step", "training step", "ms per step"),
}


PLACEHOLDER_HINT = "Press Train: this chart fills in live."


def placeholder_figure(view: str, where: str = "", hint: str = PLACEHOLDER_HINT) -> go.Figure:
    """The empty, labelled chart of a view (a CAPTIONS key) shown before the first run; `where` names the
    site (and kind) of a per-site chart."""
    title, x_title, y_title = _PLACEHOLDER_AXES[view]
    return empty_figure(f"{where}: {title}" if where else title, hint, x_title, y_title)


__all__ = ["CAPTIONS", "KIND_COLORS", "MAX_POINTS", "POST_COLOR", "PRE_COLOR", "cost_figure",
           "downsample_indices", "empty_figure", "grad_norm_figure", "histogram_figure",
           "histogram_heatmap_figure", "percentile_bands_figure", "placeholder_figure", "rebin_histograms",
           "running_stats_figure", "training_figure", "update_ratio_figure"]
