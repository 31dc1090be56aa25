"""Plot of a BatchNorm site's per-channel batch statistics against its running statistics, gamma and beta."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from bnviz.plots.style import (NO_SNAPSHOTS_HINT, POST_COLOR, PRE_COLOR, RUNNING_COLOR, axis_names, axis_refs,
                               base_layout, check_site, empty_figure, figure, finite, grid, read, snapshot_row)
from bnviz.record import RunRecord, column_key

PANELS = (("mean", ("batch_mean", "running_mean")),
          ("variance", ("batch_var", "running_var")),
          ("gamma", ("gamma",)),
          ("beta", ("beta",)))
# Batch statistics describe the norm's input (pre color); gamma and beta shape its output (post color).
STYLES = {"batch_mean": ("batch (this step)", PRE_COLOR, "circle"),
          "batch_var": ("batch (this step)", PRE_COLOR, "circle"),
          "running_mean": ("running (used in eval)", RUNNING_COLOR, "diamond-open"),
          "running_var": ("running (used in eval)", RUNNING_COLOR, "diamond-open"),
          "gamma": ("gamma", POST_COLOR, "square"),
          "beta": ("beta", POST_COLOR, "square")}


def running_stats_figure(record: RunRecord, site: str, snapshot_index: int = -1) -> go.Figure:
    """Per channel of a BatchNorm site at one snapshot: batch mean and variance (what training normalizes
    with) next to the running estimates (what eval mode uses), and the learned gamma and beta.

    A site that is not BatchNorm gets an explanatory empty chart: only BatchNorm keeps running statistics.
    """
    check_site(record, site)
    title, subtitle = site, "batch vs running statistics, per channel"
    if site not in record.batchnorm_sites:
        cfg = record.config
        which = (f"uses {cfg.norm} norm" if cfg.normalized and cfg.norm != "batch" else
                 "does not normalize" if not cfg.normalized else "is not a BatchNorm layer")
        return empty_figure(title, f"{site} {which}: only BatchNorm keeps running statistics "
                                   "(running_mean, running_var) for eval mode.", "channel", "value", subtitle=subtitle)
    if not len(record.snapshots):
        return empty_figure(title, NO_SNAPSHOTS_HINT, "channel", "value", subtitle=subtitle)
    fields = [field for _, panel_fields in PANELS for field in panel_fields]
    steps, *columns = read(record.snapshots, "step", *(column_key(site, field) for field in fields))
    values = dict(zip(fields, columns))
    row = snapshot_row(len(steps), snapshot_index)
    step = int(steps[row])
    channels = np.arange(record.sites[site])
    data, legend_done = [], set()
    for index, (_, panel_fields) in enumerate(PANELS, start=1):
        x, y = axis_refs(index)
        for field in panel_fields:
            label, color, symbol = STYLES[field]
            data.append({"type": "scatter", "mode": "markers", "x": channels,
                         "y": finite(values[field][row]), "xaxis": x, "yaxis": y,
                         "name": label, "legendgroup": label,
                         "showlegend": field not in ("gamma", "beta") and label not in legend_done,
                         "marker": {"color": color, "symbol": symbol, "size": 9,
                                    "line": {"width": 2, "color": color}},
                         "hovertemplate": f"channel %{{x}}<br>{field} %{{y:.4g}}<extra></extra>"})
            legend_done.add(label)
    layout = base_layout(f"{title} at step {step}", uirevision=f"running:{site}", subtitle=subtitle,
                         hovermode="closest", **grid(2, 2, [panel for panel, _ in PANELS], hgap=0.26, top=0.94))
    for index in range(1, 5):
        xaxis, _ = axis_names(index)
        layout[xaxis]["dtick"] = max(1, len(channels) // 4)
        if index > 2:
            layout[xaxis]["title"] = {"text": "channel"}
        else:  # the same channels as the panel below: its tick labels would run into that panel's title
            layout[xaxis].update(matches=f"x{index + 2}", showticklabels=False)
    return figure(data, layout)
