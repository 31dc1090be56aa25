"""Figures of a comparison: the single-run figures overlaid (one colour per arm), small multiples on shared
axes, and the histogram difference of an arm against arm A."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from bnviz.plots.activations import rebin_histograms
from bnviz.plots.histograms import DENSITY_TITLE, VALUE_TITLE, drawable_edges
from bnviz.plots.style import (KIND_LABELS, NO_SNAPSHOTS_HINT, REFERENCE_COLOR, base_layout, empty_figure,
                               figure, legend_room, rgba, snapshot_row, split_title)
from bnviz.record import KINDS, RunRecord

# One colour per arm on the whole page; none is the pre blue or the post vermillion (they keep their meaning).
ARM_COLORS = ("#6A3D9A", "#1B9E77", "#B8860B", "#E7298A")
# Within one arm's colour, the traces of a single-run figure (layers, train/test, p15/p50/p85) differ by dash.
DASHES = ("solid", "dot", "dash", "longdash", "dashdot", "longdashdot")
SYMBOLS = ("circle", "diamond-open", "square", "x", "triangle-up", "cross")
DIFF_POINTS = 96  # common value grid of the difference histogram


def arm_color(i: int) -> str:
    return ARM_COLORS[i % len(ARM_COLORS)]


def arm_tag(label: str, i: int) -> str:
    """The arm's label with a square of its colour, for chart titles."""
    return f"<span style='color:{arm_color(i)}'>■</span> {label}"


def _faint(trace: dict) -> bool:
    """Filled bands and faint raw lines: drawn per arm they would cover each other, so overlays leave them out."""
    color = str((trace.get("line") or {}).get("color", ""))
    return trace.get("fill") not in (None, "none") or color.startswith("rgba") or trace.get("opacity", 1) < 0.5


def overlay_figure(figures: list[go.Figure | None], labels: list[str], title: str) -> go.Figure:
    """Each arm's single-run figure drawn into one: the arm's colour on every line and marker, the
    single-run traces told apart by dash (lines) or symbol (markers). The legend has one entry per arm
    (click it to hide the arm) and one grey entry per trace style. `None` marks an arm without this chart."""
    drawn = [(i, f) for i, f in enumerate(figures) if f is not None and len(f.data)]
    if not drawn:
        first = next((f for f in figures if f is not None), None)
        return first if first is not None else empty_figure(title, NO_SNAPSHOTS_HINT)
    layout = _overlay_layout(drawn[0][1], title, shared=len({_subtitle(f) for _, f in drawn}) == 1)
    layout["legend"] = {**layout.get("legend", {}), "groupclick": "togglegroup"}
    # Divergence marks belong to one arm; each arm's are added back in its colour below.
    layout["shapes"] = [s for s in layout.get("shapes", []) if "diverged" not in str(s)
                        and s.get("line", {}).get("color") != "#CC0000"]
    layout["annotations"] = [a for a in layout.get("annotations", []) if "diverged" not in a.get("text", "")]
    styles: dict[str, int] = {}
    data = []
    for i, fig in drawn:
        color, label = arm_color(i), labels[i]
        for trace in fig.data:
            trace = trace.to_plotly_json()
            if _faint(trace):
                continue
            name = str(trace.get("name", ""))
            style = styles.setdefault(name, len(styles))
            trace.update(name=f"{label}: {name}", legendgroup=label, showlegend=False)
            if "line" in trace:
                trace["line"] = {**trace["line"], "color": color, "dash": DASHES[style % len(DASHES)]}
            if "marker" in trace:
                trace["marker"] = {**trace["marker"], "color": color,
                                   "line": {**trace["marker"].get("line", {}), "color": color}}
                if str(trace.get("mode", "")) == "markers":
                    trace["marker"]["symbol"] = SYMBOLS[style % len(SYMBOLS)]
            data.append(trace)
        for shape in fig.layout.shapes or ():
            shape = shape.to_plotly_json()
            if shape.get("line", {}).get("color") == "#CC0000":  # this arm's divergence step
                layout["shapes"].append({**shape, "line": {**shape["line"], "color": color}})
        data.append({"type": "scatter", "x": [None], "y": [None], "mode": "lines", "name": label,
                     "legendgroup": label, "line": {"color": color, "width": 4}, "hoverinfo": "skip"})
    if len(styles) > 1:  # what the dashes mean, in grey
        for name, style in styles.items():
            data.append({"type": "scatter", "x": [None], "y": [None], "mode": "lines", "name": name,
                         "line": {"color": REFERENCE_COLOR, "dash": DASHES[style % len(DASHES)], "width": 2},
                         "hoverinfo": "skip", "legendgroup": f"style:{name}"})
    # The legend (arms, then the styles) goes under the chart, as base_layout puts it; figure() gives it room.
    layout["legend"].update(orientation="h", x=0, xanchor="left", y=0, yanchor="bottom", yref="container")
    return figure(data, layout)


def _subtitle(fig: go.Figure) -> str:
    return str(fig.layout.title.subtitle.text or "")


def _overlay_layout(first: go.Figure, title: str, shared: bool) -> dict:
    """The first arm's layout retitled `title` the way base_layout titles a chart (one line, the rest leading
    the subtitle, the top margin following the subtitle's lines) and without the bottom room legend_room gave
    its own legend: figure() adds the room the overlay's legend needs instead. Its subtitle is kept only when
    `shared` by every arm: one that differs says something of arm A alone (its median ms, its off-axis count)."""
    layout = first.layout.to_plotly_json()
    old = layout.get("title", {})
    subtitle = _subtitle(first) if shared else ""
    head, rest = split_title(title)
    if rest and rest.lower() in subtitle.lower().replace("<br>", " "):
        title = head  # the subtitle says it already ("Batch vs running statistics" twice)
    fresh = base_layout(title, "", subtitle=subtitle)
    before = base_layout(str(old.get("text", "")), "", subtitle=_subtitle(first))  # the room the arm's title had
    margin = {**layout.get("margin", {})}
    margin["t"] = margin.get("t", 0) + fresh["margin"]["t"] - before["margin"]["t"]
    own = legend_room([t.to_plotly_json() for t in first.data], {"margin": {"b": 0}})["margin"]["b"]
    margin["b"] = margin.get("b", 0) - own
    layout.update(title={**{k: v for k, v in old.items() if k != "subtitle"}, **fresh["title"]}, margin=margin)
    if layout.get("height"):
        layout["height"] -= own
    return layout


def arm_figure(fig: go.Figure, label: str, i: int) -> go.Figure:
    """One arm's small multiple, titled in place "■ BN · block1.norm at step 40": the arm's colour square and
    label, then the figure's title up to its colon (the legend and the view say the rest)."""
    fig.layout.title.text = f"{arm_tag(label, i)} · {str(fig.layout.title.text).partition(': ')[0]}"
    return fig


def _extent(trace) -> tuple[list[float], list[float]]:
    """Finite x and y extents a trace covers (bars by their edges)."""
    xs, ys = [], []
    x, y, width = trace.x, trace.y, getattr(trace, "width", None)
    if x is not None and len(x) and not isinstance(x[0], str):
        x = np.asarray(x, dtype=np.float64)
        half = np.asarray(width, dtype=np.float64) / 2 if width is not None else 0.0
        if np.isfinite(x).any():
            xs = [np.nanmin(x - half), np.nanmax(x + half)]
    if y is not None and len(y) and not isinstance(y[0], str):
        y = np.asarray(y, dtype=np.float64)
        if np.isfinite(y).any():
            ys = [np.nanmin(y), np.nanmax(y)]
    return [v for v in xs if np.isfinite(v)], [v for v in ys if np.isfinite(v)]


def share_axes(figures: list[go.Figure]) -> list[go.Figure]:
    """The same x and y ranges (and, for heatmaps, colour range) on every figure, so small multiples compare
    at a glance; single-axis figures only (histograms, heatmaps). Changes the figures in place."""
    xs, ys, zmax = [], [], []
    for fig in figures:
        for trace in fig.data:
            x, y = _extent(trace)
            xs, ys = xs + x, ys + y
            if trace.type == "heatmap" and trace.zmax is not None:
                zmax.append(trace.zmax)
    for fig in figures:  # in place: a copy of each figure would cost more than building it
        heatmap = any(t.type == "heatmap" for t in fig.data)
        if xs and fig.data:
            fig.layout.xaxis.range = [min(xs), max(xs)]
        if ys and fig.data:
            fig.layout.yaxis.range = [min(ys), max(ys)] if heatmap else [min(0.0, min(ys)), 1.05 * max(ys)]
        if zmax and heatmap:
            fig.update_traces(zmax=max(zmax), selector={"type": "heatmap"})
    return figures


def _density(record: RunRecord, site: str, kind: str, index: int, channel: int | None, grid_edges: np.ndarray):
    edges, counts = record.hist(site, kind, channel)
    row = snapshot_row(min(len(edges), len(counts)), index)
    edges = drawable_edges(edges[row])
    if edges is None or counts[row].sum() == 0:
        return None, row
    mass = rebin_histograms(edges[None, :], counts[row][None, :], grid_edges)[0]
    return mass / (mass.sum() * (grid_edges[1] - grid_edges[0])), row


def histogram_difference_figure(base: RunRecord, other: RunRecord, site: str, labels: tuple[str, str],
                                index_base: int = -1, index_other: int = -1, channel: int | None = None,
                                color: str = ARM_COLORS[1]) -> go.Figure:
    """Density of `other` minus density of `base` (arm A) at one site, pre and post, on one common value grid:
    above zero the arm has more mass there than arm A. Each histogram is re-binned onto the grid spanning
    both (plots.rebin_histograms), so the two subtract cell by cell."""
    # Short enough for a third of the page: the step goes under the value axis.
    title = f"<span style='color:{color}'>■</span> {labels[1]} − {labels[0]} · {site}"
    if not (len(base.snapshots) and len(other.snapshots)):
        return empty_figure(title, NO_SNAPSHOTS_HINT, VALUE_TITLE, "density difference")
    data, steps = [], set()
    for k, kind in enumerate(KINDS):
        ranges = []
        for record, index in ((base, index_base), (other, index_other)):
            edges, _ = record.hist(site, kind, channel)
            e = drawable_edges(edges[snapshot_row(len(edges), index)])
            if e is not None:
                ranges += [e[0], e[-1]]
        if not ranges:
            continue
        lo, hi = min(ranges), max(ranges)
        grid_edges = np.linspace(lo, hi if hi > lo else lo + 1.0, DIFF_POINTS + 1)
        (a, row_a), (b, row_b) = (_density(r, site, kind, i, channel, grid_edges)
                                  for r, i in ((base, index_base), (other, index_other)))
        steps.add((int(base.snapshots["step"][row_a]), int(other.snapshots["step"][row_b])))
        if a is None or b is None:
            continue
        data.append({"type": "scatter", "mode": "lines", "x": (grid_edges[:-1] + grid_edges[1:]) / 2, "y": b - a,
                     "name": KIND_LABELS[kind], "line": {"color": color, "width": 3, "dash": DASHES[k]},
                     "fill": "tozeroy", "fillcolor": rgba(color, 0.12 if k else 0.25),
                     "hovertemplate": f"{kind}<br>value %{{x:.3g}}<br>difference %{{y:+.3g}}<extra></extra>"})
    at = ", ".join(f"step {a}" if a == b else f"steps {a} / {b}" for a, b in sorted(steps))
    layout = base_layout(title, uirevision=f"diff:{site}:{channel}", hovermode="closest",
                         xaxis={"title": {"text": f"{VALUE_TITLE} ({at})" if at else VALUE_TITLE}},
                         yaxis={"title": {"text": f"Δ {DENSITY_TITLE}"}, "zeroline": True,
                                "zerolinecolor": REFERENCE_COLOR})
    return figure(data, layout)
