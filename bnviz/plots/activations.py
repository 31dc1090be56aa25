"""Plots of what goes into (pre) and comes out of (post) a norm site: histograms, percentile bands, heatmaps."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from bnviz.plots.style import (KIND_COLORS, KIND_COLORSCALES, KIND_LABELS, NO_SNAPSHOTS_HINT, axis_names,
                               axis_refs, base_layout, check_channel, check_kind, check_site, divergence_marks,
                               empty_figure, figure, finite, grid, read, read_arrays, rgba, snapshot_row)
from bnviz.record import KINDS, PERCENTILES, RunRecord, column_key

VALUE_TITLE = "activation value"
DENSITY_TITLE = "density (fraction per unit value)"
HEATMAP_COLUMNS = 96  # common value grid of the heatmap
# TensorBoard's distribution bands (inner bands darker) and the BN paper's 15th/85th percentiles.
BANDS = ((7, 93, 0.14), (16, 84, 0.24), (31, 69, 0.36))
PAPER_LINES = (15, 85)
_COLUMN = {p: i for i, p in enumerate(PERCENTILES)}


def drawable_edges(edges: np.ndarray) -> np.ndarray | None:
    """Histogram edges ready to draw: None when not finite; a constant tensor (lo == hi), whose values
    the recorder puts in bin 0, is drawn over [lo, lo + 1] so its bars have a width."""
    if not np.all(np.isfinite(edges)):
        return None
    if edges[-1] <= edges[0]:
        return np.linspace(edges[0], edges[0] + 1.0, len(edges))
    return edges


def prepost_histogram_figure(record: RunRecord, site: str, snapshot_index: int = -1,
                     channel: int | None = None) -> go.Figure:
    """Pre and post histograms of one norm site at one snapshot, overlaid on one value axis.

    Bars are densities (counts / (total * bin width)) so pre and post, binned over different ranges,
    compare; each integrates to 1. Vertical lines mark the mean (solid) and mean +- std (dotted), of all
    values or, with `channel`, of that channel (channel_mean / channel_std).
    """
    check_site(record, site)
    check_channel(record, site, channel)
    which = f"all {record.sites[site]} channels" if channel is None else f"channel {channel}"
    if not len(record.snapshots):
        return empty_figure(f"{site}: pre vs post ({which})", NO_SNAPSHOTS_HINT, VALUE_TITLE, DENSITY_TITLE)
    prefix = "" if channel is None else "channel_"
    names = [column_key(site, kind, name) for kind in KINDS for name in (prefix + "mean", prefix + "std", "nonfinite")]
    steps, *columns = read(record.snapshots, "step", *names)
    hists = [record.hist(site, kind, channel) for kind in KINDS]
    row = snapshot_row(min(len(steps), *(len(counts) for _, counts in hists)), snapshot_index)
    step = int(steps[row])
    bars, moments, notes = [], [], []
    for (edges, counts), kind, (means, stds, nonfinites) in zip(hists, KINDS, (columns[:3], columns[3:])):
        edges, counts, nonfinite = drawable_edges(edges[row]), counts[row], int(nonfinites[row])
        if nonfinite:
            notes.append(f"{kind}: {nonfinite} non-finite values left out")
        if edges is None or counts.sum() == 0:
            notes.append(f"{kind}: no finite values")
            continue
        widths = np.diff(edges)
        density = counts / (counts.sum() * widths)
        mean, std = (float(m[row] if channel is None else m[row, channel]) for m in (means, stds))
        # One legend entry per kind, with its moments: four entries wrap into the title on a narrow chart.
        bars.append({"type": "bar", "x": edges[:-1] + widths / 2, "y": density, "width": widths,
                     "name": f"{KIND_LABELS[kind]}: {_moments_text(mean, std)}", "legendgroup": kind, "opacity": 0.55,
                     "marker": {"color": KIND_COLORS[kind], "line": {"width": 0}},
                     "hovertemplate": f"{kind}<br>value %{{x:.3g}}<br>density %{{y:.3g}}<extra></extra>"})
        moments.append((kind, mean, std, density.max()))
    top = 1.08 * max((m[3] for m in moments), default=1.0)
    lines = [line for kind, mean, std, _ in moments for line in _moment_lines(kind, mean, std, top)]
    layout = base_layout(f"{site} at step {step}: pre vs post ({which})", uirevision=f"hist:{site}:{channel}",
                         barmode="overlay", bargap=0, hovermode="closest",
                         xaxis={"title": {"text": VALUE_TITLE}}, yaxis={"title": {"text": DENSITY_TITLE}})
    if notes:
        layout["annotations"] = [{"text": "; ".join(notes), "x": 0, "y": 1, "xref": "paper", "yref": "paper",
                                  "xanchor": "left", "yanchor": "top", "showarrow": False}]
    return figure(bars + lines, layout)


def _moment_lines(kind: str, mean: float, std: float, top: float) -> list[dict]:
    """Vertical lines at mean (solid) and mean +- std (dotted) from 0 to `top` density."""
    if not (np.isfinite(mean) and np.isfinite(std)):
        return []
    color = KIND_COLORS[kind]
    common = {"type": "scatter", "mode": "lines", "legendgroup": kind, "hoverinfo": "skip", "showlegend": False}
    nan = np.nan
    return [{**common, "x": [mean, mean], "y": [0, top], "line": {"color": color, "width": 3},
             "name": f"{kind} {_moments_text(mean, std)}"},
            {**common, "x": [mean - std, mean - std, nan, mean + std, mean + std], "y": [0, top, nan, 0, top],
             "line": {"color": color, "width": 2, "dash": "dot"}, "name": f"{kind} mean +- std"}]


def _moments_text(mean: float, std: float) -> str:
    """'mean 0.00, std 1.01', the mean rounded at the std's scale: a normalized mean of -1e-16 reads as 0.00."""
    if not (np.isfinite(mean) and np.isfinite(std)):
        return f"mean {mean:.3g}, std {std:.3g}"
    decimals = max(0, 2 - int(np.floor(np.log10(std)))) if std > 0 else 3
    return f"mean {round(mean, decimals) + 0.0:.{decimals}f}, std {std:.3g}"


def percentile_bands_figure(record: RunRecord, site: str) -> go.Figure:
    """Distribution of pre and post over training, side by side, from the recorded percentiles.

    Nested shaded bands are TensorBoard's 7-93, 16-84 and 31-69th percentiles (about +-1.5, 1, 0.5 std
    for a normal) around the median line; dashed lines are the BN paper's 15th and 85th (Fig. 1b, c).
    """
    check_site(record, site)
    titles = [KIND_LABELS[kind] for kind in KINDS]
    if not len(record.snapshots):
        return empty_figure(f"{site}: distribution over training", NO_SNAPSHOTS_HINT, "training step",
                            VALUE_TITLE)
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
    layout = base_layout(f"{site}: distribution over training", uirevision=f"bands:{site}",
                         hovermode="x unified", **grid(1, 2, titles))
    for index in (1, 2):
        layout[axis_names(index)[0]]["title"] = {"text": "training step"}
    layout["yaxis"]["title"] = {"text": VALUE_TITLE}  # the right panel's would run into the left one
    layout["shapes"], marks = divergence_marks(record, [1, 2])
    layout["annotations"] += marks
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


def histogram_heatmap_figure(record: RunRecord, site: str, kind: str) -> go.Figure:
    """Histograms over training as a heatmap (TensorBoard's "offset" view): x value, y step, color density.

    Every snapshot is re-binned onto one grid of HEATMAP_COLUMNS cells spanning all snapshots' ranges,
    and each row is a density (integrates to 1). The color scale stops at the 95th percentile of the
    densities so a spike (ReLU's zeros) does not wash out the rest; hover shows the true value.
    """
    check_site(record, site)
    check_kind(kind)
    title = f"{site} {KIND_LABELS[kind]}: histograms over training"
    if not len(record.snapshots):
        return empty_figure(title, NO_SNAPSHOTS_HINT, VALUE_TITLE, "training step")
    edges, counts = record.hist(site, kind)
    steps, edges, counts = read_arrays(record.snapshots["step"], edges, counts)
    ok = np.all(np.isfinite(edges), axis=1)
    lo = float(edges[ok, 0].min()) if ok.any() else 0.0
    hi = float(edges[ok, -1].max()) if ok.any() else 1.0
    grid_edges = np.linspace(lo, hi if hi > lo else lo + 1.0, HEATMAP_COLUMNS + 1)
    mass = rebin_histograms(edges, counts, grid_edges)
    total = mass.sum(axis=1, keepdims=True)
    cell = grid_edges[1] - grid_edges[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(total > 0, mass / (total * cell), np.nan)
    shown = density[density > 0]
    heatmap = {"type": "heatmap", "x": (grid_edges[:-1] + grid_edges[1:]) / 2,
               "y": steps.astype(np.float64), "z": density.astype(np.float32),
               "colorscale": KIND_COLORSCALES[kind], "zmin": 0,
               "zmax": float(np.percentile(shown, 95)) if shown.size else 1.0,
               "colorbar": {"title": {"text": "density"}, "thickness": 14},
               "hovertemplate": "value %{x:.3g}<br>step %{y}<br>density %{z:.3g}<extra></extra>"}
    layout = base_layout(title, uirevision=f"heatmap:{site}:{kind}", hovermode="closest",
                         xaxis={"title": {"text": VALUE_TITLE}}, yaxis={"title": {"text": "training step"}})
    layout["shapes"], layout["annotations"] = divergence_marks(record, [1], horizontal=True)
    return figure([heatmap], layout)
