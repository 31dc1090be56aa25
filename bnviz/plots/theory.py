"""The theory page's figures: reference lines over a sweep, and overlaid densities of drawn samples."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from bnviz.plots.style import POST_COLOR, PRE_COLOR, REFERENCE_COLOR, RUNNING_COLOR, base_layout, legend_room

COLORS = (PRE_COLOR, POST_COLOR, RUNNING_COLOR, "#CC79A7", "#E69F00")


def lines_figure(title: str, x: np.ndarray, lines: dict[str, np.ndarray], x_title: str, y_title: str,
                 log_x: bool = False, marks: dict[str, float] | None = None,
                 x_marks: dict[str, float] | None = None) -> go.Figure:
    """One line per entry; `marks` are dashed horizontal reference lines (name -> y), `x_marks` dotted
    vertical ones (name -> x; drawn as traces, so they sit right on a log axis too)."""
    data = [go.Scatter(x=x, y=y, name=name, mode="lines", line={"width": 3, "color": COLORS[i % len(COLORS)]})
            for i, (name, y) in enumerate(lines.items())]
    low, high = min(float(np.min(y)) for y in lines.values()), max(float(np.max(y)) for y in lines.values())
    data += [go.Scatter(x=[v, v], y=[low, high], name=name, mode="lines", hoverinfo="name",
                        line={"width": 2, "dash": "dot", "color": REFERENCE_COLOR})
             for name, v in (x_marks or {}).items()]
    # Reference lines are legend entries, not text on the chart, where they would lie on the data lines.
    data += [go.Scatter(x=[x[0], x[-1]], y=[v, v], name=name, mode="lines", hoverinfo="name",
                        line={"width": 2, "dash": "dash", "color": REFERENCE_COLOR})
             for name, v in (marks or {}).items()]
    layout = base_layout(title, uirevision=title, height=380,
                         xaxis={"title": {"text": x_title}, "type": "log" if log_x else "linear"},
                         yaxis={"title": {"text": y_title}})
    if len(data) > 2:  # room for a legend of several rows under the chart
        layout.update(height=440)
    return go.Figure(data, legend_room(data, layout))


def samples_histogram_figure(title: str, samples: dict[str, np.ndarray], x_title: str,
                     marks: dict[str, float] | None = None, bins: int = 60) -> go.Figure:
    """Overlaid densities on shared bins; `marks` are vertical lines (name -> x)."""
    values = np.concatenate(list(samples.values()))
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high if high > low else low + 1, bins + 1)
    data = [go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=np.histogram(v, edges, density=True)[0], width=np.diff(edges),
                   name=name, opacity=0.6, marker={"color": COLORS[i % len(COLORS)], "line": {"width": 0}})
            for i, (name, v) in enumerate(samples.items())]
    top = max((float(np.max(bar.y)) for bar in data), default=1.0)
    data += [go.Scatter(x=[x, x], y=[0, top], name=name, mode="lines", hoverinfo="name",
                        line={"color": COLORS[(len(samples) + i) % len(COLORS)], "width": 3, "dash": "dash"})
             for i, (name, x) in enumerate((marks or {}).items())]
    layout = base_layout(title, uirevision=title, height=380, barmode="overlay", bargap=0,
                         xaxis={"title": {"text": x_title}}, yaxis={"title": {"text": "density"}})
    return go.Figure(data, legend_room(data, layout))
