"""The sweep chart: a metric against the grid's x knob, a line per value of the other knob, seeds as error
bars (the shape of the GroupNorm paper's Fig. 1)."""

from __future__ import annotations

import plotly.graph_objects as go

from bnviz.config import FIELDS
from bnviz.plots.style import LAYER_COLORS, base_layout, empty_figure, figure, finite
from bnviz.sweep import RunResult
from bnviz.sweep_table import METRICS, SPREADS, points, value_text

LOG_KNOBS = ("batch_size", "lr", "eps")  # knobs swept over orders of magnitude: a log x axis
NO_RESULTS_HINT = "No run has finished yet: points appear as runs finish."


def sweep_title(metric: str, x_knob: str) -> str:
    return f"{METRICS[metric].title} vs {x_knob}"


def sweep_figure(results: list[RunResult], x_knob: str, line_knob: str | None, metric: str,
                 spread: str = "std") -> go.Figure:
    """One line per value of `line_knob`: the seeds' mean at each x, bars as `spread` says (SPREADS)."""
    title = sweep_title(metric, x_knob)
    lines = points(results, x_knob, line_knob, metric, spread)
    if not any(p.n for line in lines.values() for p in line):
        return empty_figure(title, NO_RESULTS_HINT, x_knob, METRICS[metric].axis)
    numeric = FIELDS[x_knob].kind in (int, float)
    xs = sorted({p.x for line in lines.values() for p in line}) if numeric else None
    log = numeric and x_knob in LOG_KNOBS and all(x > 0 for x in xs)
    data = []
    for j, (label, line) in enumerate(lines.items()):
        mean = finite([p.mean for p in line])
        color = LAYER_COLORS[j % len(LAYER_COLORS)]
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": label or METRICS[metric].axis,
            "x": [p.x if numeric else value_text(x_knob, p.x) for p in line], "y": mean,
            "error_y": {"type": "data", "symmetric": False, "array": finite([p.high for p in line]) - mean,
                        "arrayminus": mean - finite([p.low for p in line]), "thickness": 1.5, "width": 5},
            "line": {"width": 2.5, "color": color}, "marker": {"size": 8, "color": color},
            "customdata": [[p.n, p.runs] for p in line], "connectgaps": False,
            "hovertemplate": f"{label or x_knob}<br>{x_knob}=%{{x}}<br>%{{y:.3g}} (%{{customdata[0]}} of "
                             "%{customdata[1]} runs finished)<extra></extra>"})
    xaxis = {"title": {"text": x_knob}}
    if log:
        xaxis.update(type="log", tickvals=xs, ticktext=[value_text(x_knob, x) for x in xs])
    elif not numeric:
        xaxis.update(type="category")
    yaxis = {"title": {"text": METRICS[metric].axis}}
    layout = base_layout(title, uirevision=f"sweep.{metric}.{x_knob}.{line_knob}", xaxis=xaxis, yaxis=yaxis,
                         hovermode="closest", showlegend=bool(line_knob))
    layout["meta"] = {"spread": SPREADS[spread]}
    return figure(data, layout)
