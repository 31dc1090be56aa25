"""Plots of training over steps: gradient norms, update:data ratios, loss and accuracy, cost per step."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from bnviz.plots.robust import SMOOTHING, ema, log_range
from bnviz.plots.style import (LAYER_COLORS, NO_EVALS_HINT, NO_SNAPSHOTS_HINT, NO_STEPS_HINT,
                               REFERENCE_COLOR, axis_refs, base_layout, divergence_marks,
                               downsample_indices, empty_figure, figure, finite, grid, joined, nice_ceiling,
                               positive, read, rgba, rolling, wrap)
from bnviz.record import RunRecord

SMOOTH_STEPS = 20  # trailing moving average of the (noisy) per-batch loss and accuracy
COST_WINDOW = 50  # trailing rolling median of ms per step
HEALTHY_UPDATE_RATIO = -3.0  # log10 update:data ratio Karpathy calls healthy (makemore part 3)
# Not pre/post blue and orange: those mean the norm's input and output in every view.
TRAIN_COLOR, TEST_COLOR, GAP_COLOR, COST_COLOR = "#444444", "#CC79A7", "#009E73", "#332288"
HEAD, HEAD_COLOR = "head", "#444444"  # the output layer's name (bnviz.models) and its line


def _step_axis(title: str, log: bool = False) -> tuple[dict, dict]:
    y = {"title": {"text": title}}
    if log:
        y.update(type="log", exponentformat="power")
    return {"title": {"text": "training step"}}, y


def layer_styles(layers: list[str]) -> list[dict]:
    """Each layer's line: the head (often the largest gradient) thin, dashed and black, so it covers nothing;
    the other layers the palette's colors without its near-black."""
    palette, styles, j = [c for c in LAYER_COLORS if c != HEAD_COLOR], [], 0
    for layer in layers:
        if layer == HEAD:
            styles.append({"color": HEAD_COLOR, "width": 1.5, "dash": "dash"})
        else:
            styles.append({"color": palette[j % len(palette)], "width": 2.5})
            j += 1
    return styles


def _head_last(layers: list[str]) -> list[int]:
    """Layer indices in drawing order: the head first, so it lies under the others."""
    return sorted(range(len(layers)), key=lambda j: layers[j] != HEAD)


def grad_norm_figure(record: RunRecord, smoothing: float = SMOOTHING, robust: bool = True) -> go.Figure:
    """L2 norm of each layer's weight gradient per step, log y axis: the EMA of log10 norm (TensorBoard's
    smoothing, weight `smoothing`; 0 draws the raw norms) in bold over the raw norms drawn faintly.

    Smoothing in log space is a running geometric mean: a spike of 1e3 does not swamp a layer at 1e-2. With
    `robust` the y axis spans the 1st-99th percentile of the smoothed lines (plus a margin); the raw points
    left outside are counted in the subtitle. Long runs are downsampled after smoothing; zero or non-finite
    norms are gaps.
    """
    title, y_title = "Gradient norm per layer", "gradient L2 norm (log)"
    if not len(record.steps):
        return empty_figure(title, NO_STEPS_HINT, "training step", y_title)
    steps, norms = read(record.steps, "step", "grad_norm")
    raw = positive(norms)
    smooth = 10 ** ema(np.log10(raw), smoothing) if smoothing > 0 else raw
    rows = downsample_indices(len(steps))
    mode = "lines" if len(rows) > 1 else "markers"
    data, styles = [], layer_styles(record.layers)
    for j in _head_last(record.layers):
        layer, style = record.layers[j], styles[j]
        if smoothing > 0:
            data.append({"type": "scatter", "mode": mode, "x": steps[rows], "y": raw[rows, j], "name": f"{layer} raw",
                         "legendgroup": layer, "showlegend": False, "hoverinfo": "skip", "opacity": 0.25,
                         "line": {**style, "width": 1}, "marker": {"color": style["color"]}})
        data.append({"type": "scatter", "mode": mode, "x": steps[rows], "y": smooth[rows, j], "name": layer,
                     "legendgroup": layer, "line": style, "marker": {"color": style["color"]},
                     "hovertemplate": "%{y:.3g}"})
    xaxis, yaxis = _step_axis(y_title, log=True)
    notes = [f"smoothed: EMA {smoothing:g} of log10, raw faint" if smoothing > 0 else "raw norms"]
    if robust and (decades := log_range(smooth)) is not None:
        yaxis["range"] = decades
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(raw)
        off = int(np.sum((logs < decades[0]) | (logs > decades[1])))
        if off:
            notes.append(f"{off:,} raw points off-axis (range: smoothed p1-p99)")
    shapes, diverged = divergence_marks(record, [1])
    layout = base_layout(title, uirevision="grad_norm", subtitle=joined(*notes, diverged), hovermode="x unified",
                         xaxis=xaxis, yaxis=yaxis, shapes=shapes)
    return figure(data, layout)


def update_ratio_figure(record: RunRecord) -> go.Figure:
    """log10 of each layer's update:data ratio |delta W| / |W| at every snapshot, with Karpathy's healthy
    level of -3 as a dashed reference line in the legend: far below, the layer barely learns; far above,
    it thrashes."""
    title, subtitle = "Update:data ratio per layer", "log10(|ΔW| / |W|) at each snapshot"
    y_title = "log10(|ΔW| / |W|)"
    if not len(record.snapshots):
        return empty_figure(title, NO_SNAPSHOTS_HINT, "training step", y_title, subtitle=subtitle)
    steps, ratios = read(record.snapshots, "step", "update_ratio")
    rows = downsample_indices(len(steps))
    steps, ratios = steps[rows], np.log10(positive(ratios[rows]))  # step 0 has no update yet: a gap
    styles = layer_styles(record.layers)
    data = [{"type": "scatter", "mode": "lines", "x": [steps[0], steps[-1]],
             "y": [HEALTHY_UPDATE_RATIO] * 2, "name": f"{HEALTHY_UPDATE_RATIO:g}: healthy",
             "hoverinfo": "skip", "line": {"color": REFERENCE_COLOR, "width": 2, "dash": "dot"}}]
    data += [{"type": "scatter", "mode": "lines+markers" if len(rows) < 60 else "lines", "x": steps,
              "y": ratios[:, j], "name": record.layers[j], "line": styles[j], "marker": {"color": styles[j]["color"]},
              "hovertemplate": "%{y:.2f}"} for j in _head_last(record.layers)]
    xaxis, yaxis = _step_axis(y_title)
    shapes, diverged = divergence_marks(record, [1])
    layout = base_layout(title, uirevision="update_ratio", subtitle=joined(subtitle, diverged),
                         hovermode="x unified", xaxis=xaxis, yaxis=yaxis, shapes=shapes)
    return figure(data, layout)


def _line(x, y, subplot: int, name: str, color: str, hover: str, width: float = 2.5, markers: bool = False,
          showlegend: bool = True) -> dict:
    """One scatter trace on a subplot of the training figure; a single point is drawn as a marker."""
    ax, ay = axis_refs(subplot)
    mode = "lines+markers" if markers or len(x) == 1 else "lines"
    return {"type": "scatter", "mode": mode, "x": x, "y": y, "xaxis": ax, "yaxis": ay, "name": name,
            "legendgroup": name, "showlegend": showlegend, "line": {"color": color, "width": width},
            "marker": {"color": color}, "hovertemplate": hover}


def training_figure(record: RunRecord) -> go.Figure:
    """Three panels over steps: loss (per batch, faint, with its SMOOTH_STEPS moving average; test loss),
    accuracy (train batch accuracy smoothed; test accuracy), and the train-mode minus eval-mode accuracy
    on the same test images in percentage points (batch statistics vs running statistics)."""
    title = "Loss and accuracy"
    if not len(record.steps):
        return empty_figure(title, NO_STEPS_HINT, "training step", "loss / accuracy")
    steps, loss, acc = read(record.steps, "step", "loss", "train_acc")
    rows = downsample_indices(len(steps))
    steps = steps[rows]
    # One legend entry per color (train, test, gap); each panel says what it shows.
    smooth = f"train, {SMOOTH_STEPS}-step mean"
    data = [
        _line(steps, finite(loss[rows]), 1, "train, per batch", rgba(TRAIN_COLOR, 0.3), "%{y:.3g}", width=1),
        _line(steps, rolling(loss, SMOOTH_STEPS, rows, np.nanmean), 1, smooth, TRAIN_COLOR, "%{y:.3g}"),
        _line(steps, 100 * rolling(acc, SMOOTH_STEPS, rows, np.nanmean), 2, smooth, TRAIN_COLOR, "%{y:.1f}%",
              showlegend=False),
    ]
    has_evals = len(record.evals) > 0
    if has_evals:
        e_steps, test_loss, test_acc, train_mode, eval_mode = read(
            record.evals, "step", "test_loss", "test_acc", "train_mode_acc", "eval_mode_acc")
        gap = finite(train_mode) - finite(eval_mode)
        data += [_line(e_steps, finite(test_loss), 1, "test", TEST_COLOR, "%{y:.3g}", markers=True),
                 _line(e_steps, 100 * finite(test_acc), 2, "test", TEST_COLOR, "%{y:.1f}%",
                       markers=True, showlegend=False),
                 _line(e_steps, 100 * gap, 3, "train-mode − eval-mode", GAP_COLOR, "%{y:+.1f} pp", markers=True)]
    shapes, diverged = divergence_marks(record, [1, 2, 3])
    # Three panels stacked, so each keeps a phone's full width; units in the panel titles, one x title.
    layout = base_layout(title, uirevision="training", hovermode="x unified", shapes=shapes, height=720,
                         subtitle=joined("gap: train-mode − eval-mode accuracy on the same test images", diverged),
                         **grid(3, 1, ["loss", "accuracy (%)", "train − eval gap (pp)"], vgap=0.1,
                                top=0.95))
    layout["xaxis3"]["title"] = {"text": "training step"}
    for axis in ("xaxis", "xaxis2"):
        layout[axis].update(matches="x3", showticklabels=False)  # zoom the steps of all three together
    if has_evals:
        shapes.append({"type": "line", "xref": "x3 domain", "x0": 0, "x1": 1, "yref": "y3", "y0": 0, "y1": 0,
                       "line": {"color": REFERENCE_COLOR, "width": 1.5, "dash": "dot"}})
    else:  # in place of the gap's curve, within its panel (a third of the chart's width)
        layout["annotations"].append({"text": wrap(NO_EVALS_HINT, 40), "xref": "x3 domain", "x": 0.5,
                                      "yref": "y3 domain", "y": 0.5, "showarrow": False,
                                      "font": {"color": REFERENCE_COLOR, "size": 13}})
        layout["yaxis3"]["showticklabels"] = False
    return figure(data, layout)


def cost_figure(record: RunRecord) -> go.Figure:
    """Measured wall-clock ms per training step (faint) and its COST_WINDOW-step rolling median (bold).

    Autorange stops at a round number above 1.2 x the 99th percentile (style.nice_ceiling: stable across
    live refreshes) so a slow first step does not flatten the rest; the title gives the run's median.
    """
    title, subtitle = "Cost per training step", ""
    if not len(record.steps):
        return empty_figure(title, NO_STEPS_HINT, "training step", "ms per step")
    steps, ms = read(record.steps, "step", "ms_per_step")
    ms = finite(ms)
    rows = downsample_indices(len(ms))
    steps = steps[rows]
    median = np.nanmedian(ms) if np.isfinite(ms).any() else np.nan
    data = [{"type": "scatter", "mode": "lines", "x": steps, "y": ms[rows], "name": "ms per step",
             "line": {"color": rgba(TRAIN_COLOR, 0.35), "width": 1}, "hovertemplate": "%{y:.2f} ms"},
            {"type": "scatter", "mode": "lines" if len(rows) > 1 else "markers", "x": steps,
             "y": rolling(ms, COST_WINDOW, rows, np.nanmedian), "name": f"{COST_WINDOW}-step rolling median",
             "line": {"color": COST_COLOR, "width": 3}, "marker": {"color": COST_COLOR},
             "hovertemplate": "%{y:.2f} ms"}]
    xaxis, yaxis = _step_axis("ms per step")
    if np.isfinite(median):
        subtitle = f"median {median:.3g} ms, {1000 / median:.0f} steps/s" if median > 0 else ""
        yaxis.update(rangemode="tozero",
                     autorangeoptions={"clipmax": nice_ceiling(1.2 * float(np.nanpercentile(ms, 99)))})
    shapes, diverged = divergence_marks(record, [1])
    layout = base_layout(title, uirevision="cost", subtitle=joined(subtitle, diverged), hovermode="x unified",
                         xaxis=xaxis, yaxis=yaxis, shapes=shapes)
    return figure(data, layout)
