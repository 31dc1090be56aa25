"""Plots of what goes into (pre) and comes out of (post) a norm site over training: percentile bands, heatmaps."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from bnviz.plots.robust import TAIL, robust_window
from bnviz.plots.style import (KIND_COLORS, KIND_COLORSCALES, KIND_LABELS, NO_SNAPSHOTS_HINT, axis_names,
                               axis_refs, base_layout, check_kind, check_site, divergence_marks, empty_figure,
                               figure, finite, grid, joined, read, read_arrays, rgba)
from bnviz.record import KINDS, PERCENTILES, RunRecord, column_key

VALUE_TITLE = "activation value"
HEATMAP_COLUMNS = 96  # common value grid of the heatmap
# TensorBoard's distribution bands (inner bands darker) and the BN paper's 15th/85th percentiles.
BANDS = ((7, 93, 0.14), (16, 84, 0.24), (31, 69, 0.36))
PAPER_LINES = (15, 85)
_COLUMN = {p: i for i, p in enumerate(PERCENTILES)}


def percentile_bands_figure(record: RunRecord, site: str) -> go.Figure:
    """Distribution of pre and post over training, side by side, from the recorded percentiles.

    Nested shaded bands are TensorBoard's 7-93, 16-84 and 31-69th percentiles (about +-1.5, 1, 0.5 std
    for a normal) around the median line; dashed lines are the BN paper's 15th and 85th (Fig. 1b, c).
    """
    check_site(record, site)
    titles = list(KINDS)
    subtitle = "percentiles of pre (norm input) and post (output)"
    if not len(record.snapshots):
        return empty_figure(f"{site} over training", NO_SNAPSHOTS_HINT, "training step", VALUE_TITLE, subtitle=subtitle)
    steps, *percentiles = read(record.snapshots, "step", *(column_key(site, kind, "percentiles") for kind in KINDS))
    steps = steps.astype(np.float64)
    mode = "lines" if len(steps) > 1 else "lines+markers"  # a single snapshot still shows
    data = []
    for index, (kind, q) in enumerate(zip(KINDS, percentiles), start=1):
        q = finite(q)
        x, y = axis_refs(index)
        color, on_axes = KIND_COLORS[kind], {"xaxis": x, "yaxis": y, "showlegend": index == 1}
        for low, high, alpha in BANDS:
            lower, upper = q[:, _COLUMN[low]], q[:, _COLUMN[high]]
            ok = np.isfinite(lower) & np.isfinite(upper)
            # One closed polygon per band: upper edge left to right, lower edge back.
            data.append({"type": "scatter", "x": np.concatenate([steps[ok], steps[ok][::-1]]),
                         "y": np.concatenate([upper[ok], lower[ok][::-1]]), "fill": "toself",
                         "fillcolor": rgba(color, alpha), "line": {"width": 0}, "mode": "lines",
                         "name": f"p{low}-p{high}", "legendgroup": f"band{low}",
                         "hoverinfo": "skip", **on_axes})
        for p in PAPER_LINES:
            data.append({"type": "scatter", "x": steps, "y": q[:, _COLUMN[p]], "mode": mode,
                         "line": {"color": color, "width": 2, "dash": "dash"}, "name": "p15, p85 (BN paper)",
                         "legendgroup": "paper", "hovertemplate": f"{kind} p{p}: %{{y:.3g}}<extra></extra>",
                         **on_axes, "showlegend": index == 1 and p == PAPER_LINES[0]})
        data.append({"type": "scatter", "x": steps, "y": q[:, _COLUMN[50]], "mode": mode,
                     "line": {"color": color, "width": 3}, "name": "median", "legendgroup": "median",
                     "hovertemplate": f"{kind} p50: %{{y:.3g}}<extra></extra>", **on_axes})
    shapes, diverged = divergence_marks(record, [1, 2])
    layout = base_layout(f"{site} over training", uirevision=f"bands:{site}", subtitle=joined(subtitle, diverged),
                         hovermode="x unified", shapes=shapes, **grid(1, 2, titles, hgap=0.3, top=0.92))
    for index in (1, 2):
        layout[axis_names(index)[0]]["title"] = {"text": "training step"}
    layout["yaxis"]["title"] = {"text": VALUE_TITLE}  # the right panel's would run into the left one
    return figure(data, layout)


def rebin_histograms(edges: np.ndarray, counts: np.ndarray, grid_edges: np.ndarray) -> np.ndarray:
    """Counts [snapshots, bins] over per-snapshot uniform edges, moved onto one common grid of edges.

    Each bin's count is spread uniformly over the bin and split by overlap with the grid's cells (linear
    interpolation of the cumulative counts), so a grid covering every range keeps all the mass. A
    constant snapshot (lo == hi) puts its whole count in the cell containing lo; a non-finite one gives NaN.
    """
    counts = counts.astype(np.float64)
    n_bins, n_cells = counts.shape[1], len(grid_edges) - 1
    lo, hi = edges[:, 0], edges[:, -1]
    width = (hi - lo) / n_bins
    cumulative = np.concatenate([np.zeros((len(counts), 1)), np.cumsum(counts, axis=1)], axis=1)
    spread = np.isfinite(width) & (width > 0)
    safe_width = np.where(spread, width, 1.0)
    position = np.clip((grid_edges[None, :] - lo[:, None]) / safe_width[:, None], 0, n_bins)
    position = np.nan_to_num(position)  # non-finite rows are overwritten below
    left = np.minimum(np.floor(position).astype(np.int64), n_bins - 1)
    below = (np.take_along_axis(cumulative, left, axis=1)
             + (position - left) * np.take_along_axis(counts, left, axis=1))
    mass = np.diff(below, axis=1)
    point = ~spread & np.isfinite(lo) & np.isfinite(hi)
    if point.any():
        cell = np.clip(np.searchsorted(grid_edges, lo[point], side="right") - 1, 0, n_cells - 1)
        mass[point] = 0.0
        mass[np.flatnonzero(point), cell] = counts[point].sum(axis=1)
    mass[~(spread | point)] = np.nan
    return mass


def heatmap_window(edges: np.ndarray, counts: np.ndarray, robust: bool = True, tail: float = TAIL) -> tuple[float, float]:
    """The value range of the heatmap: the union over snapshots of each one's robust window (or full range)."""
    ok = np.all(np.isfinite(edges), axis=1) & (counts.sum(axis=1) > 0)
    if not ok.any():
        return 0.0, 1.0
    spans = [(e[first], e[stop]) for e, c in zip(edges[ok], counts[ok])
             for first, stop in [robust_window(c, tail) if robust else (0, len(c))]]
    lo, hi = float(min(s[0] for s in spans)), float(max(s[1] for s in spans))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def histogram_heatmap_figure(record: RunRecord, site: str, kind: str, log_density: bool = False,
                             robust: bool = True) -> go.Figure:
    """Histograms over training as a heatmap (TensorBoard's "offset" view): x value, y step, color density.

    Every snapshot is re-binned onto one grid of HEATMAP_COLUMNS cells over the union of the snapshots'
    robust windows (`robust`; else their full ranges). Each row is the density of all that step's values,
    so the share a row leaves outside the window is missing from its integral, and the subtitle says how
    much at most. The color scale stops at the 95th percentile of the densities so a spike (ReLU's zeros)
    does not wash out the rest (`log_density`: log10 colors instead); hover shows the true value.
    """
    check_site(record, site)
    check_kind(kind)
    title, subtitle = f"{site} {KIND_LABELS[kind].replace('norm ', '')}", "histograms over training"
    if not len(record.snapshots):
        return empty_figure(title, NO_SNAPSHOTS_HINT, VALUE_TITLE, "training step", subtitle=subtitle)
    edges, counts = record.hist(site, kind)
    steps, edges, counts = read_arrays(record.snapshots["step"], edges, counts)
    lo, hi = heatmap_window(edges, counts, robust)
    grid_edges = np.linspace(lo, hi, HEATMAP_COLUMNS + 1)
    mass = rebin_histograms(edges, counts, grid_edges)
    total = counts.sum(axis=1, keepdims=True).astype(np.float64)
    cell = grid_edges[1] - grid_edges[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(total > 0, mass / (total * cell), np.nan)
        hidden = np.nanmax(1 - mass.sum(axis=1) / total[:, 0]) if (total > 0).any() else 0.0
    if hidden > 5e-4:
        subtitle += f"<br>off-axis: at most {hidden:.1%} of a step's values"  # wrapped by base_layout
    shown = density[density > 0]
    z = density
    colorbar = {"title": {"text": "density"}, "thickness": 14}
    if log_density:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(density > 0, np.log10(density), np.nan)
        zmin, zmax = (float(np.percentile(np.log10(shown), q)) for q in (1, 99.5)) if shown.size else (0.0, 1.0)
        colorbar = {"title": {"text": "log10 density"}, "thickness": 14}
    else:
        zmin, zmax = 0.0, float(np.percentile(shown, 95)) if shown.size else 1.0
    heatmap = {"type": "heatmap", "x": (grid_edges[:-1] + grid_edges[1:]) / 2,
               "y": steps.astype(np.float64), "z": z.astype(np.float32), "customdata": density.astype(np.float32),
               "colorscale": KIND_COLORSCALES[kind], "zmin": zmin, "zmax": zmax, "colorbar": colorbar,
               "hovertemplate": "value %{x:.3g}<br>step %{y}<br>density %{customdata:.3g}<extra></extra>"}
    shapes, diverged = divergence_marks(record, [1], horizontal=True)
    layout = base_layout(title, uirevision=f"heatmap:{site}:{kind}:{log_density}:{robust}",
                         subtitle=joined(subtitle, diverged), shapes=shapes,
                         hovermode="closest", xaxis={"title": {"text": VALUE_TITLE}, "range": [lo, hi]},
                         yaxis={"title": {"text": "training step"}})
    return figure([heatmap], layout)
