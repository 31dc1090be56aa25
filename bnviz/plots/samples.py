"""Sample test digits with the model's guess over each: the numbers of a run tied to the images they are about."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from bnviz.plots.style import base_layout, figure

RIGHT_COLOR, WRONG_COLOR = "#117733", "#CC0000"
TITLE = "Test digits"


def samples_figure(samples) -> go.Figure:
    """One small grayscale image per sample (a bnviz.samples.Samples), four to a row so a phone's width
    holds a row's labels, each titled with the guess, its confidence and the true label, green when right
    and red when wrong."""
    n = len(samples.labels)
    per_row = 4
    rows = -(-n // per_row)
    gap, row_height = 0.03, 1 / rows
    width = (1 - gap * (per_row - 1)) / per_row
    data, annotations, layout = [], [], {}
    for i in range(n):
        axis = "" if i == 0 else str(i + 1)
        left, bottom = (i % per_row) * (width + gap), (rows - 1 - i // per_row) * row_height
        layout[f"xaxis{axis}"] = {"domain": [left, left + width], "visible": False, "constrain": "domain"}
        layout[f"yaxis{axis}"] = {"domain": [bottom, bottom + row_height * 0.68], "visible": False,
                                  "autorange": "reversed", "scaleanchor": f"x{axis}"}
        data.append({"type": "heatmap", "z": samples.images[i].tolist(), "colorscale": "Greys", "reversescale": True,
                     "showscale": False, "xaxis": f"x{axis}", "yaxis": f"y{axis}", "hoverinfo": "skip"})
        right = samples.predictions[i] == samples.labels[i]
        confidence = samples.confidence[i]
        sure = f"{confidence:.0%}" if math.isfinite(confidence) else "–"  # a diverged model gives NaN
        annotations.append({"text": f"<b>{samples.predictions[i]}</b> {sure}<br>"
                                    f"({samples.labels[i]}){'' if right else ' ✗'}",
                            "x": left + width / 2, "y": bottom + row_height * 0.70, "xref": "paper", "yref": "paper",
                            "xanchor": "center", "yanchor": "bottom", "showarrow": False,
                            "font": {"color": RIGHT_COLOR if right else WRONG_COLOR, "size": 13}})
    right = int((samples.predictions == samples.labels).sum())
    title = f"{TITLE}, step {samples.step}: {right}/{n} right"
    layout.update(base_layout(title, uirevision="samples", height=150 + 150 * rows, annotations=annotations,
                              margin={"l": 10, "r": 10, "t": 60, "b": 10}))
    return figure(data, layout)
