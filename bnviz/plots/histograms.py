"""Overlaid histograms a student can read: a robust value window with what it hides counted at its edges,
a clipped spike labelled with its share, a log-y option and the standard-normal reference on post."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from bnviz.plots.robust import TAIL, normal_curve, outside, robust_window
from bnviz.plots.style import (KIND_COLORS, NO_SNAPSHOTS_HINT, REFERENCE_COLOR, base_layout,
                               check_channel, check_site, empty_figure, figure, joined, read, snapshot_row)
from bnviz.record import KINDS, RunRecord, column_key

VALUE_TITLE = "activation value"
DENSITY_TITLE = "density"
NORMAL_NAME = "N(0, 1): post at init (γ=1, β=0)"
SPIKE_RATIO = 3.0  # a bar over this many times the next tallest is a spike (ReLU's zeros): clipped, labelled
HEADROOM = 1.25


@dataclass(frozen=True)
class Hist:
    """One histogram to overlay: its name, color, bin edges, counts and the moments to mark."""

    name: str
    label: str  # legend text
    color: str
    edges: np.ndarray
    counts: np.ndarray
    mean: float = np.nan
    std: float = np.nan


def drawable_edges(edges: np.ndarray) -> np.ndarray | None:
    """Histogram edges ready to draw: None when not finite; a constant tensor (lo == hi), whose values
    the recorder puts in bin 0, is drawn over [lo, lo + 1] so its bars have a width."""
    if not np.all(np.isfinite(edges)):
        return None
    if edges[-1] <= edges[0]:
        return np.linspace(edges[0], edges[0] + 1.0, len(edges))
    return edges


def window(hists: list[Hist], robust: bool = True, tail: float = TAIL) -> tuple[float, float]:
    """The value range shown: the union of each histogram's robust window (or of their full ranges)."""
    spans = []
    for h in hists:
        first, stop = robust_window(h.counts, tail) if robust else (0, len(h.counts))
        spans.append((h.edges[first], h.edges[stop]))
    return float(min(s[0] for s in spans)), float(max(s[1] for s in spans))


def overlay(hists: list[Hist], robust: bool = True, log_y: bool = False, normal: bool = False,
            hover: str = "") -> tuple[list[dict], dict, dict, str]:
    """Traces, x axis, y axis and a note (for the subtitle) of overlaid density histograms.

    Bars are densities (counts / (total * bin width)): histograms binned over different ranges compare,
    each integrates to 1. What the window leaves out is counted exactly (whole bins) and marked by a
    triangle at the edge; on a linear axis a spike is clipped and labelled with its share of the values.
    """
    lo, hi = window(hists, robust)
    data, hidden, tops, spikes = [], {}, [], []
    for h in hists:
        widths, total = np.diff(h.edges), h.counts.sum()
        density = h.counts / (total * widths)
        centers = h.edges[:-1] + widths / 2
        data.append({"type": "bar", "x": centers, "y": np.where(density > 0, density, np.nan) if log_y else density,
                     "width": widths, "name": h.label, "legendgroup": h.name, "opacity": 0.55,
                     "marker": {"color": h.color, "line": {"width": 0}}, "customdata": h.counts / total,
                     "hovertemplate": f"{h.name}{hover}<br>value %{{x:.3g}}<br>density %{{y:.3g}}<br>"
                                      "%{customdata:.2%} of the values<extra></extra>"})
        below, above = outside(h.edges, h.counts, lo, hi)
        for count, edge, side, symbol in ((below, lo, "below", "triangle-left"), (above, hi, "above", "triangle-right")):
            if count:
                hidden[h.name] = hidden.get(h.name, 0) + count / total
                data.append({"type": "scatter", "mode": "markers", "x": [edge], "y": [0], "legendgroup": h.name,
                             "showlegend": False, "cliponaxis": False, "name": f"{h.name} off-axis",
                             "marker": {"symbol": symbol, "size": 13, "color": h.color},
                             "hovertemplate": f"{h.name}: {count:,} values {side} {edge:.3g} "
                                              f"({count / total:.2%})<extra></extra>"})
        shown = np.sort(density[(h.edges[1:] > lo) & (h.edges[:-1] < hi)])[::-1]
        next_tallest = shown[1] if len(shown) > 1 else 0.0
        tops.append(max((d for d in shown if d <= SPIKE_RATIO * next_tallest), default=0.0))
        spikes.append((h, centers, density, h.counts / total))
    bottom = min((float(np.min(t["y"][t["y"] > 0])) for t in data if t["type"] == "bar" and np.any(t["y"] > 0)),
                 default=0.0) if log_y else 0.0
    for h, _, density, _ in spikes:
        data += _moment_lines(h, bottom, float(density.max()) if len(density) else 1.0)
    yaxis, notes = {"title": {"text": DENSITY_TITLE}}, []
    if normal:
        x, y = normal_curve(lo, hi)
        data.append({"type": "scatter", "mode": "lines", "x": x, "y": y, "name": NORMAL_NAME, "hoverinfo": "skip",
                     "line": {"color": REFERENCE_COLOR, "width": 2, "dash": "dash"}})
        tops.append(float(y.max()))
    if log_y:
        yaxis.update(type="log", exponentformat="power")
    else:
        cap = HEADROOM * max(tops, default=1.0)
        clipped = [(h, c, d, s) for h, centers, density, shares in spikes
                   for c, d, s in zip(centers, density, shares) if d > cap and lo <= c <= hi]
        if clipped and cap > 0:
            yaxis["range"] = [0, cap]
            h, c, _, share = max(clipped, key=lambda spike: spike[3])
            data.append({"type": "scatter", "mode": "markers", "x": [c for _, c, _, _ in clipped],
                         "y": [cap] * len(clipped), "showlegend": False, "cliponaxis": False, "name": "clipped",
                         "marker": {"symbol": "triangle-up", "size": 12, "color": [k.color for k, *_ in clipped]},
                         "customdata": [s for *_, s in clipped],
                         "hovertemplate": "a spike, clipped: %{customdata:.1%} of the values<extra></extra>"})
            notes.append(f"▲\u00a0one bar: {share:.0%} of\u00a0{h.name}")
    xaxis = {"title": {"text": VALUE_TITLE}, "range": [lo, hi]}
    if hidden:
        notes.insert(0, "◀\u00a0▶\u00a0off-axis: " + ", ".join(f"{name} {_share(v)}" for name, v in hidden.items()))
    return data, xaxis, yaxis, "; ".join(notes)


def _share(fraction: float) -> str:
    return f"{fraction:.1%}" if fraction >= 0.001 else "<0.1%"


def _moment_lines(h: Hist, bottom: float, top: float) -> list[dict]:
    """Vertical lines at mean (solid) and mean +- std (dotted) from `bottom` (above 0 on a log axis) to `top`."""
    mean, std = h.mean, h.std
    if not (np.isfinite(mean) and np.isfinite(std)):
        return []
    common = {"type": "scatter", "mode": "lines", "legendgroup": h.name, "hoverinfo": "skip", "showlegend": False}
    nan = np.nan
    return [{**common, "x": [mean, mean], "y": [bottom, top], "line": {"color": h.color, "width": 3},
             "name": f"{h.name} mean"},
            {**common, "x": [mean - std, mean - std, nan, mean + std, mean + std], "y": [bottom, top, nan, bottom, top],
             "line": {"color": h.color, "width": 2, "dash": "dot"}, "name": f"{h.name} mean +- std"}]


def moments_text(mean: float, std: float) -> str:
    """'mean 0.00, std 1.01', the mean rounded at the std's scale: a normalized mean of -1e-16 reads as 0.00."""
    if not (np.isfinite(mean) and np.isfinite(std)) or max(abs(mean), std) >= 1e4:
        return f"mean {mean:.3g}, std {std:.3g}"
    decimals = max(0, 2 - int(np.floor(np.log10(std)))) if std > 0 else 3
    return f"mean {round(mean, decimals) + 0.0:.{decimals}f}, std {std:.3g}"


def prepost_histogram_figure(record: RunRecord, site: str, snapshot_index: int = -1, channel: int | None = None,
                             log_y: bool = False, robust: bool = True, normal: bool = True) -> go.Figure:
    """Pre and post histograms of one norm site at one snapshot, overlaid on one value axis (see overlay).

    `robust` shows the 0.5-99.5th percentile window, `log_y` a log density axis, `normal` the standard
    normal over post (what normalization gives at init; only when the run normalizes). Vertical lines mark
    the mean and mean +- std of all values or, with `channel`, of that channel (channel_mean / channel_std).
    """
    check_site(record, site)
    check_channel(record, site, channel)
    which = f"all {record.sites[site]} channels" if channel is None else f"channel {channel}"
    if not len(record.snapshots):
        return empty_figure(site, NO_SNAPSHOTS_HINT, VALUE_TITLE, DENSITY_TITLE, subtitle=f"pre vs post, {which}")
    prefix = "" if channel is None else "channel_"
    names = [column_key(site, kind, name) for kind in KINDS for name in (prefix + "mean", prefix + "std", "nonfinite")]
    steps, *columns = read(record.snapshots, "step", *names)
    hists = [record.hist(site, kind, channel) for kind in KINDS]
    row = snapshot_row(min(len(steps), *(len(counts) for _, counts in hists)), snapshot_index)
    drawn, notes = [], []
    for (edges, counts), kind, (means, stds, nonfinites) in zip(hists, KINDS, (columns[:3], columns[3:])):
        edges, counts, nonfinite = drawable_edges(edges[row]), counts[row], int(nonfinites[row])
        if nonfinite:
            notes.append(f"{kind}: {nonfinite} non-finite left out")
        if edges is None or counts.sum() == 0:
            notes.append(f"{kind}: no finite values")
            continue
        mean, std = (float(m[row] if channel is None else m[row, channel]) for m in (means, stds))
        drawn.append(Hist(kind, f"{kind}: {moments_text(mean, std)}", KIND_COLORS[kind], edges, counts, mean, std))
    subtitle = f"pre vs post, {which}"
    if not drawn:
        return empty_figure(f"{site} at step {int(steps[row])}", "; ".join(notes), VALUE_TITLE, DENSITY_TITLE,
                            subtitle=subtitle)
    normal = normal and record.config.normalized and any(h.name == "post" for h in drawn)
    data, xaxis, yaxis, note = overlay(drawn, robust, log_y, normal)
    subtitle = joined(subtitle, note, "; ".join(notes))
    layout = base_layout(f"{site} at step {int(steps[row])}", uirevision=f"hist:{site}:{channel}:{log_y}:{robust}",
                         subtitle=subtitle, barmode="overlay", bargap=0, hovermode="closest", xaxis=xaxis, yaxis=yaxis)
    return figure(data, layout)


def look_figure(hists: list[Hist], title: str, subtitle: str, uirevision: str, robust: bool = True,
                log_y: bool = False, normal: bool = False, height: int = 420) -> go.Figure:
    """Overlaid histograms of given counts (the microscope's one batch) with the same treatment."""
    data, xaxis, yaxis, note = overlay(hists, robust, log_y, normal)
    layout = base_layout(title, uirevision=f"{uirevision}:{log_y}:{robust}",
                         subtitle=joined(subtitle, note), barmode="overlay", bargap=0,
                         hovermode="closest", height=height, xaxis=xaxis, yaxis=yaxis)
    return figure(data, layout)

