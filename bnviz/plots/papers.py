"""The paper reproductions' figures, as pure functions of a result's `measured` dict (shipped, or live and partial:
an arm not trained yet is simply not drawn)."""

from __future__ import annotations

import plotly.graph_objects as go

from bnviz.plots.style import (DIVERGED_COLOR, LAYER_COLORS, POST_COLOR, PRE_COLOR, REFERENCE_COLOR, axis_names,
                               axis_refs, base_layout, empty_figure, figure, grid, rgba)

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


def ioffe_percentiles_figure(m: dict) -> go.Figure:
    """Fig. 1(b, c): the 15/50/85th percentiles of a last-layer sigmoid's input over training: unit `unit` as
    lines, the median over units as a shaded band; one panel per arm, on a shared y axis."""
    title, arms = "Sigmoid input: 15/50/85th percentiles", _arms(m)
    if not arms:
        return empty_figure(title, WAITING, "training step", "sigmoid input")
    layout = grid(1, 2, [f"{ARM_NAMES[a]}" for a in ("bn", "none")], hgap=0.1, top=0.88)
    data = []
    for index, arm in enumerate(("bn", "none"), start=1):
        if arm not in arms:
            continue
        x, y = axis_refs(index)
        steps, band, unit = m[arm]["snapshot_step"], m[arm]["median_percentiles"], m[arm]["unit_percentiles"]
        color, first = ARM_COLORS[arm], index == 1
        lo, mid, hi = ([row[k] for row in band] for k in range(3))
        data += [{"type": "scatter", "mode": "lines", "x": steps, "y": hi, "xaxis": x, "yaxis": y,
                  "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"},
                 {"type": "scatter", "mode": "lines", "x": steps, "y": lo, "xaxis": x, "yaxis": y, "fill": "tonexty",
                  "fillcolor": rgba(REFERENCE_COLOR, 0.25), "line": {"width": 0}, "legendgroup": "band",
                  "name": "15-85th, median over units", "showlegend": first},
                 {"type": "scatter", "mode": "lines", "x": steps, "y": mid, "xaxis": x, "yaxis": y,
                  "line": {"color": REFERENCE_COLOR, "width": 1.5, "dash": "dot"}, "legendgroup": "bandmid",
                  "name": "50th, median over units", "showlegend": first}]
        for k, dash in enumerate(("dash", "solid", "dash")):
            data.append({"type": "scatter", "mode": "lines", "x": steps, "y": [row[k] for row in unit],
                         "xaxis": x, "yaxis": y, "line": {"color": color, "width": 2, "dash": dash},
                         "legendgroup": arm, "name": f"unit {m.get('unit', 0)}, {ARM_NAMES[arm]}", "showlegend": k == 1})
        xaxis, yaxis = axis_names(index)
        layout[xaxis]["title"] = {"text": "training step"}
        if index == 2:
            layout[yaxis]["matches"] = "y"
        else:
            layout[yaxis]["title"] = {"text": "sigmoid input"}
    return figure(data, base_layout(title, "ioffe.pct", height=480, **layout))


def wu_figure(m: dict, paper: dict) -> go.Figure:
    """GN Fig. 1: eval-mode test error against batch size per norm, mean over seeds with their std as error bars,
    one panel per model, and the paper's ImageNet curve on its own axis."""
    title = "Test error vs batch size"
    models = [model for model in m.get("models", []) if isinstance(m.get(model), dict)]
    panels = models + ["paper"]
    layout = grid(1, len(panels), [f"ours: {model}" for model in models] + ["paper: ResNet-50, ImageNet"],
                  hgap=0.08, top=0.86)
    data, shown = [], set()
    for index, model in enumerate(panels, start=1):
        x, y = axis_refs(index)
        if model == "paper":
            curves = {norm: (sorted(err, key=int), [err[b] for b in sorted(err, key=int)])
                      for norm, err in paper.get("error_pct", {}).items()}
            std = {}
        else:
            p = m[model]
            curves = {norm: (p["batches"], err) for norm, err in p["error"].items()}
            std = p.get("error_std", {})
        for norm, (batches, err) in curves.items():
            trace = _line([int(b) for b in batches], err, NORM_NAMES.get(norm, norm), NORM_COLORS.get(norm, "#000"),
                          dash="dot" if model == "paper" else None, xaxis=x, yaxis=y, legendgroup=norm,
                          showlegend=norm not in shown)
            if norm in std:
                trace["error_y"] = {"type": "data", "array": std[norm], "visible": True}
            shown.add(norm)
            data.append(trace)
        xaxis, yaxis = axis_names(index)
        layout[xaxis].update({"type": "log", "title": {"text": "batch size"}, "tickvals": [2, 4, 8, 16, 32]})
        if index == 1:
            layout[yaxis]["title"] = {"text": "test error (%)"}
    if not models:
        layout["annotations"].append({"text": WAITING, "x": 0.3, "y": 0.5, "xref": "paper", "yref": "paper",
                                      "showarrow": False, "font": {"color": REFERENCE_COLOR}})
    return figure(data, base_layout(title, "wu.err", height=480, **layout))


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
    layout = base_layout(title, "lr.acc", xaxis={"type": "log", "title": {"text": "learning rate (log)"}},
                         yaxis={"title": {"text": "final test accuracy (%)"}, "range": [0, 100]})
    layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": bar, "y1": bar,
                         "line": {"color": REFERENCE_COLOR, "dash": "dash"}}]
    layout["annotations"] = [{"text": f"trains: >= {bar:.0f}%", "xref": "paper", "x": 0.01, "xanchor": "left",
                              "y": bar, "yanchor": "top", "showarrow": False, "font": {"color": REFERENCE_COLOR}}]
    return figure(data, layout)


def small_batch_figure(m: dict) -> go.Figure:
    """Train-mode vs eval-mode test accuracy against batch size, and eval mode after recalibration."""
    title = "Train mode vs eval mode, and recalibrated"
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
        return [("acc", ioffe_accuracy_figure(m)), ("pct", ioffe_percentiles_figure(m))]
    if name == "wu2018":
        return [("err", wu_figure(m, paper))]
    if name == "higher_lr":
        return [("acc", higher_lr_figure(m))]
    if name == "small_batch":
        return [("acc", small_batch_figure(m))]
    if name == "santurkar2018":
        return [("acc", santurkar_accuracy_figure(m)), ("shift", santurkar_shift_figure(m))]
    raise KeyError(f"no figures for reproduction {name!r}")
