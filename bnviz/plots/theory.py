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
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": y, "y1": y,
               "line": {"color": REFERENCE_COLOR, "dash": "dash", "width": 2}} for y in (marks or {}).values()]
    notes = [{"text": name, "xref": "paper", "x": 1, "xanchor": "right", "y": y, "yanchor": "bottom",
              "showarrow": False, "font": {"color": REFERENCE_COLOR}} for name, y in (marks or {}).items()]
    layout = base_layout(title, uirevision=title, height=380, shapes=shapes, annotations=notes,
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
    shapes = [{"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": x, "x1": x,
               "line": {"color": COLORS[(len(samples) + i) % len(COLORS)], "width": 3, "dash": "dash"}}
              for i, x in enumerate((marks or {}).values())]
    notes = [{"text": name, "yref": "paper", "y": 1, "x": x, "xanchor": ("left", "right")[i % 2], "showarrow": False,
              "font": {"color": COLORS[(len(samples) + i) % len(COLORS)]}}
             for i, (name, x) in enumerate((marks or {}).items())]
    layout = base_layout(title, uirevision=title, height=380, barmode="overlay", bargap=0, shapes=shapes,
                         annotations=notes, xaxis={"title": {"text": x_title}}, yaxis={"title": {"text": "density"}})
    return go.Figure(data, legend_room(data, layout))
