"""Every figure of bnviz, as pure functions: data in (a RunRecord, a microscope Look, theory samples), a
plotly Figure out; no Streamlit."""

from __future__ import annotations

from bnviz.plots.activations import histogram_heatmap_figure, percentile_bands_figure, rebin_histograms
from bnviz.plots.histograms import prepost_histogram_figure
from bnviz.plots.microscope import eps_figure, look_histograms_figure, means_figure
from bnviz.plots.robust import SMOOTHING, TAIL
from bnviz.plots.running_stats import running_stats_figure
from bnviz.plots.style import (KIND_COLORS, MAX_POINTS, POST_COLOR, PRE_COLOR, downsample_indices,
                               empty_figure)
from bnviz.plots.theory import lines_figure, samples_histogram_figure
from bnviz.plots.training import cost_figure, grad_norm_figure, training_figure, update_ratio_figure

__all__ = ["KIND_COLORS", "MAX_POINTS", "POST_COLOR", "PRE_COLOR", "SMOOTHING", "TAIL", "cost_figure", "downsample_indices",
           "empty_figure", "eps_figure", "grad_norm_figure", "histogram_heatmap_figure", "lines_figure",
           "look_histograms_figure", "means_figure", "percentile_bands_figure", "prepost_histogram_figure",
           "rebin_histograms", "running_stats_figure", "samples_histogram_figure", "training_figure",
           "update_ratio_figure"]
