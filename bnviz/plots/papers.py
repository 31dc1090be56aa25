"""The paper reproductions' figures, as pure functions of a result's `measured` dict (shipped, or live and partial:
an arm not trained yet is simply not drawn)."""

from __future__ import annotations

import plotly.graph_objects as go

from bnviz.plots.style import (DIVERGED_COLOR, LAYER_COLORS, POST_COLOR, PRE_COLOR, REFERENCE_COLOR, base_layout,
                               empty_figure, figure, rgba)

ARM_COLORS = {"bn": POST_COLOR, "none": PRE_COLOR, "noisy_bn": LAYER_COLORS[2]}
ARM_NAMES = {"bn": "with BN", "none": "without BN", "noisy_bn": "noisy BN"}
NORM_COLORS = {"batch": POST_COLOR, "group": LAYER_COLORS[1], "layer": LAYER_COLORS[0], "instance": LAYER_COLORS[2],
               "none": PRE_COLOR}
NORM_NAMES = {"batch": "BN", "group": "GN", "layer": "LN", "instance": "IN", "none": "none"}
WAITING = "No data yet: press Run it here, or wait for the first runs."


def _arms(m: dict, arms=("bn", "none")) -> list[str]:
    return [arm for arm in arms if isinstance(m.get(arm), dict)]


def _line(x, y, name, color, dash=None, **more) -> dict:
    return {"type": "scatter", "mode": "lines+markers", "x": list(x), "y": list(y), "name": name,
            "line": {"color": color, "width": 2, "dash": dash}, "marker": {"size": 6}, **more}


def _pct(values) -> list:
    return [None if v is None else 100 * v for v in values]


def ioffe_accuracy_figure(m: dict) -> go.Figure:
    """Fig. 1(a): test accuracy against training steps, with and without BN."""
    title, arms = "Test accuracy vs steps", _arms(m)
    if not arms:
        return empty_figure(title, WAITING, "training step", "test accuracy (%)")
    data = [_line(m[a]["steps"], _pct(m[a]["test_acc"]), ARM_NAMES[a], ARM_COLORS[a]) for a in arms]
    return figure(data, base_layout(title, "ioffe.acc", xaxis={"title": {"text": "training step"}},
                                    yaxis={"title": {"text": "test accuracy (%)"}, "range": [0, 100]}))


def _band_range(m: dict) -> list[float]:
    """One y range for both arms' percentile figures, so their drift compares by eye."""
    values = [v for arm in _arms(m) for key in ("median_percentiles", "unit_percentiles")
              for row in m[arm][key] for v in row if v is not None]
    lo, hi = (min(values), max(values)) if values else (-1.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    return [lo - pad, hi + pad]


def ioffe_percentiles_figure(m: dict, arm: str) -> go.Figure:
    """Fig. 1(b, c): the 15/50/85th percentiles of a last-layer sigmoid's input over training for one arm: unit
    `unit` as lines, the median over units as a shaded band; both arms on the same y range."""
    title = f"Sigmoid input, {ARM_NAMES[arm]}"
    if arm not in _arms(m):
        return empty_figure(title, WAITING, "training step", "sigmoid input")
    steps, band, unit = m[arm]["snapshot_step"], m[arm]["median_percentiles"], m[arm]["unit_percentiles"]
    lo, mid, hi = ([row[k] for row in band] for k in range(3))
    data = [{"type": "scatter", "mode": "lines", "x": steps, "y": hi, "line": {"width": 0}, "showlegend": False,
             "hoverinfo": "skip"},
            {"type": "scatter", "mode": "lines", "x": steps, "y": lo, "fill": "tonexty", "name": "units 15-85th",
             "fillcolor": rgba(REFERENCE_COLOR, 0.25), "line": {"width": 0}},
            {"type": "scatter", "mode": "lines", "x": steps, "y": mid, "name": "units 50th",
             "line": {"color": REFERENCE_COLOR, "width": 1.5, "dash": "dot"}}]
    for k, dash in enumerate(("dash", "solid", "dash")):
        data.append({"type": "scatter", "mode": "lines", "x": steps, "y": [row[k] for row in unit],
                     "legendgroup": "unit", "line": {"color": ARM_COLORS[arm], "width": 2, "dash": dash}, "showlegend": k == 1,
                     "name": f"unit {m.get('unit', 0)}"})
    return figure(data, base_layout(title, f"ioffe.pct.{arm}", xaxis={"title": {"text": "training step"}},
                                    yaxis={"title": {"text": "sigmoid input"}, "range": _band_range(m)}))


def _error_axes(batches) -> dict:
    return {"xaxis": {"type": "log", "title": {"text": "batch size"}, "tickvals": [int(b) for b in batches],
                      "ticktext": [str(int(b)) for b in batches]},
            "yaxis": {"title": {"text": "test error (%)"}}}


def wu_panel_figure(m: dict, model: str) -> go.Figure:
    """GN Fig. 1, ours: eval-mode test error against batch size per norm on `model`, the mean over seeds with
    their std as error bars."""
    title = f"Ours: {model}"
    if not isinstance(m.get(model), dict):
        return empty_figure(title, WAITING, "batch size", "test error (%)")
    p = m[model]
    data = []
    for norm, err in p["error"].items():
        trace = _line(p["batches"], err, NORM_NAMES.get(norm, norm), NORM_COLORS.get(norm, "#000"))
        if norm in p.get("error_std", {}):
            trace["error_y"] = {"type": "data", "array": p["error_std"][norm], "visible": True}
        data.append(trace)
    return figure(data, base_layout(title, f"wu.{model}", **_error_axes(p["batches"])))


def wu_paper_figure(paper: dict) -> go.Figure:
    """The paper's ImageNet curve (ResNet-50, top-1 error), on its own axis."""
    curves = paper.get("error_pct", {})
    data, batches = [], []
    for norm, err in curves.items():
        batches = sorted(err, key=int)
        data.append(_line([int(b) for b in batches], [err[b] for b in batches], NORM_NAMES.get(norm, norm),
                          NORM_COLORS.get(norm, "#000"), dash="dot"))
    return figure(data, base_layout("Paper: ResNet-50, ImageNet", "wu.paper", **_error_axes(batches)))


def higher_lr_figure(m: dict) -> go.Figure:
    """Final test accuracy against the SGD rate per arm; diverged runs as crosses at 0, the bar as a line."""
    title, arms = "Final test accuracy vs learning rate", _arms(m)
    if not arms:
        return empty_figure(title, WAITING, "learning rate (log)", "final test accuracy (%)")
    data = [_line(m[a]["rates"], _pct(m[a]["final_acc"]), ARM_NAMES[a], ARM_COLORS[a]) for a in arms]
    for a in arms:
        bad = [(r, 100 * acc) for r, acc, d in zip(m[a]["rates"], m[a]["final_acc"], m[a]["diverged"]) if d]
        if bad:
            data.append({"type": "scatter", "mode": "markers", "x": [r for r, _ in bad], "y": [v for _, v in bad],
                         "name": f"diverged, {ARM_NAMES[a]}", "marker": {"symbol": "x", "size": 12,
                                                                          "color": DIVERGED_COLOR}})
    bar = 100 * m.get("acc_bar", 0.7)
    rates = sorted({r for a in arms for r in m[a]["rates"]})
    layout = base_layout(title, "lr.acc", xaxis={"type": "log", "title": {"text": "learning rate (log)"},
                                                 "tickvals": rates, "ticktext": [f"{r:g}" for r in rates]},
                         yaxis={"title": {"text": "final test accuracy (%)"}, "range": [0, 100]})
    layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": bar, "y1": bar,
                         "line": {"color": REFERENCE_COLOR, "dash": "dash"}}]
    layout["annotations"] = [{"text": f"trains: >= {bar:.0f}%", "xref": "paper", "x": 0.01, "xanchor": "left",
                              "y": bar, "yanchor": "top", "showarrow": False, "font": {"color": REFERENCE_COLOR}}]
    return figure(data, layout)


def small_batch_figure(m: dict) -> go.Figure:
    """Train-mode vs eval-mode test accuracy against batch size, and eval mode after recalibration."""
    title = "Train vs eval mode, recalibrated"
    if not m.get("batches"):
        return empty_figure(title, WAITING, "batch size", "test accuracy (%)")
    series = (("train_mode", "train mode (batch stats)", PRE_COLOR, None),
              ("eval_mode", "eval mode (running stats)", POST_COLOR, None),
              ("recalibrated", "eval mode, recalibrated", LAYER_COLORS[1], "dash"))
    data = [_line(m["batches"], _pct(m[key]), name, color, dash) for key, name, color, dash in series if key in m]
    return figure(data, base_layout(title, "small.acc",
                                    xaxis={"type": "log", "title": {"text": "batch size"}, "tickvals": m["batches"]},
                                    yaxis={"title": {"text": "test accuracy (%)"}}))


def santurkar_accuracy_figure(m: dict) -> go.Figure:
    title, arms = "Test accuracy vs steps", _arms(m, ("bn", "noisy_bn", "none"))
    if not arms:
        return empty_figure(title, WAITING, "training step", "test accuracy (%)")
    data = [_line(m[a]["steps"], _pct(m[a]["test_acc"]), ARM_NAMES[a], ARM_COLORS[a]) for a in arms]
    return figure(data, base_layout(title, "sant.acc", xaxis={"title": {"text": "training step"}},
                                    yaxis={"title": {"text": "test accuracy (%)"}, "range": [0, 100]}))


def santurkar_shift_figure(m: dict) -> go.Figure:
    """Per-step distribution shift of the last layer's inputs: how far each unit's mean and std moved between
    consecutive steps, in units of its std (mean over units), per arm."""
    title, arms = "Distribution shift per step", _arms(m, ("bn", "noisy_bn", "none"))
    if not arms:
        return empty_figure(title, WAITING, "training step", "shift (in stds)")
    data = [{"type": "scatter", "mode": "lines", "x": m[a]["shift_step"], "y": m[a]["shift"], "name": ARM_NAMES[a],
             "line": {"color": ARM_COLORS[a], "width": 1.5}} for a in arms]
    return figure(data, base_layout(title, "sant.shift", xaxis={"title": {"text": "training step"}},
                                    yaxis={"title": {"text": f"shift at {m.get('site', '')} input (stds)"},
                                           "type": "log"}))


def figures(name: str, m: dict, paper: dict) -> list[tuple[str, go.Figure]]:
    """(slug, figure) of reproduction `name` from its measured numbers (shipped or live)."""
    if name == "ioffe2015":
        return [("acc", ioffe_accuracy_figure(m)), ("pct_bn", ioffe_percentiles_figure(m, "bn")),
                ("pct_none", ioffe_percentiles_figure(m, "none"))]
    if name == "wu2018":
        models = m.get("models", ["seed_cnn", "mlp"])
        return [(model, wu_panel_figure(m, model)) for model in models] + [("paper", wu_paper_figure(paper))]
    if name == "higher_lr":
        return [("acc", higher_lr_figure(m))]
    if name == "small_batch":
        return [("acc", small_batch_figure(m))]
    if name == "santurkar2018":
        return [("acc", santurkar_accuracy_figure(m)), ("shift", santurkar_shift_figure(m))]
    raise KeyError(f"no figures for reproduction {name!r}")
