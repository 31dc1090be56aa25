"""Shared look and helpers of the plots: colors, layout, subplot grids, empty charts, downsampling, checks."""

from __future__ import annotations

import math
import textwrap
import warnings

import numpy as np
import plotly.graph_objects as go
from plotly.colors import make_colorscale, sequential

from bnviz.config import EVAL_IMAGES
from bnviz.record import KINDS, RunRecord, Series

# Okabe-Ito colors (colorblind-safe, readable on a projector); pre and post keep theirs in every view.
PRE_COLOR = "#0072B2"  # blue: the norm's input
POST_COLOR = "#D55E00"  # vermillion: the norm's output
KIND_COLORS = {"pre": PRE_COLOR, "post": POST_COLOR}
KIND_LABELS = {"pre": "pre (norm input)", "post": "post (norm output)"}
# Explicit scales: figures skip plotly.py's validation, which expands names plotly.js lacks ("Oranges").
KIND_COLORSCALES = {"pre": make_colorscale(sequential.Blues), "post": make_colorscale(sequential.Oranges)}
RUNNING_COLOR = "#009E73"  # green: running (EMA) statistics
DIVERGED_COLOR = "#CC0000"
REFERENCE_COLOR = "#666666"
LAYER_COLORS = ("#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#444444", "#882255", "#117733", "#332288")

MAX_POINTS = 2000  # most points drawn per step series (see downsample_indices)
FONT_SIZE = 15
HINT_CHARS = 30  # a hint's line at most: fits a third of a desktop page, or a phone
SUBTITLE_CHARS = 38  # a subtitle's line at most, for the same reason
TITLE_CHARS = 32  # a title's length at most (18 px): a longer one continues in the subtitle
LEGEND_PX = 330  # the legend's width it is laid out for: a phone's chart
DEFAULT_HEIGHT = 450  # plotly's height of a figure that sets none

# Hints of charts with nothing to draw yet.
NO_STEPS_HINT = "No training steps yet: press Train and this chart fills in live."
NO_SNAPSHOTS_HINT = "No snapshots yet: press Train; the first one is taken at step 0, before any update."
NO_EVALS_HINT = (f"No evaluation yet: test accuracy is measured every eval_every steps (auto: every "
                 f"{EVAL_IMAGES:,} training images) and at the end.")

# A small explicit template: building plotly's named templates costs ~10 ms per figure.
_TEMPLATE = {"layout": {
    "paper_bgcolor": "white", "plot_bgcolor": "white", "colorway": list(LAYER_COLORS),
    # automargin: the axis title keeps a standoff from the tick labels instead of touching them.
    "xaxis": {"gridcolor": "#e6e6e6", "linecolor": "#888888", "zerolinecolor": "#bbbbbb", "ticks": "outside",
              "automargin": True, "title": {"standoff": 6}},
    "yaxis": {"gridcolor": "#e6e6e6", "linecolor": "#888888", "zerolinecolor": "#bbbbbb", "ticks": "outside",
              "automargin": True},
}}


def rgba(color: str, alpha: float) -> str:
    """'#rrggbb' with an opacity, for fills."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


MODEBAR_PX = 34  # the toolbar's row at the top right: titles start below it, so it never covers them


def base_layout(title: str, uirevision: str, subtitle: str = "", **more) -> dict:
    """Projector-friendly layout; `uirevision` keeps the user's zoom across live refreshes of one view.

    The title sits below the toolbar's row, with the detail in a smaller subtitle so a narrow chart cuts
    neither; the legend goes under the plot, where a legend that wraps to several rows pushes the margin
    instead of running into the title.
    """
    title, rest = split_title(title)
    subtitle = joined(rest, subtitle)
    title_spec = {"text": title, "x": 0, "xanchor": "left", "xref": "container", "y": 1, "yanchor": "top",
                  "yref": "container", "pad": {"t": MODEBAR_PX, "l": 8}, "font": {"size": 18}}
    if subtitle:
        subtitle = "<br>".join(wrap(line, SUBTITLE_CHARS) for line in subtitle.split("<br>"))
        title_spec["subtitle"] = {"text": subtitle, "font": {"size": FONT_SIZE - 1, "color": REFERENCE_COLOR}}
    # The toolbar's row, the title's lines, then each subtitle line.
    top = MODEBAR_PX + 44 + 21 * (subtitle.count("<br>") + 1 if subtitle else 0)
    layout = {
        "template": _TEMPLATE, "title": title_spec,
        "font": {"size": FONT_SIZE}, "margin": {"l": 70, "r": 20, "t": top, "b": 56},
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 0, "yref": "container", "yanchor": "bottom"},
        "uirevision": uirevision, "hoverlabel": {"font": {"size": FONT_SIZE}},
    }
    layout.update(more)
    return layout


def axis_names(index: int) -> tuple[str, str]:
    """Layout keys of the index-th (1-based) subplot's axes: ('xaxis', 'yaxis') or ('xaxis2', 'yaxis2')."""
    suffix = "" if index == 1 else str(index)
    return "xaxis" + suffix, "yaxis" + suffix


def axis_refs(index: int) -> tuple[str, str]:
    """Trace references of the index-th subplot's axes: ('x', 'y') or ('x2', 'y2')."""
    suffix = "" if index == 1 else str(index)
    return "x" + suffix, "y" + suffix


def grid(rows: int, cols: int, titles: list[str], hgap: float = 0.09, vgap: float = 0.2,
         top: float = 0.9) -> dict:
    """Layout entries for a rows x cols grid of subplots (row-major, top first) with a title above each;
    the grid ends at `top` (paper fraction) so the titles stay clear of the legend.

    Written out instead of plotly's make_subplots, which costs ~15 ms per figure.
    """
    width, height = (1 - hgap * (cols - 1)) / cols, (top - vgap * (rows - 1)) / rows
    layout, annotations = {}, []
    for index in range(1, rows * cols + 1):
        row, col = divmod(index - 1, cols)
        x0, cell_top = col * (width + hgap), top - row * (height + vgap)
        (xaxis, yaxis), (x, y) = axis_names(index), axis_refs(index)
        layout[xaxis] = {"domain": [x0, x0 + width], "anchor": y}
        layout[yaxis] = {"domain": [max(0.0, cell_top - height), cell_top], "anchor": x}  # no -1e-16
        if index <= len(titles):
            annotations.append({"text": f"<b>{titles[index - 1]}</b>", "x": x0 + width / 2, "y": cell_top,
                                "xref": "paper", "yref": "paper", "xanchor": "center", "yanchor": "bottom",
                                "showarrow": False, "font": {"size": FONT_SIZE + 1}})
    layout["annotations"] = annotations
    return layout


def legend_room(data: list, layout: dict) -> dict:
    """The layout with its bottom margin and height grown by the rows the legend takes on a phone-wide chart.

    A horizontal plotly legend that does not fit one row lays its entries out in columns as wide as the
    widest; left to plotly's automatic margins it then lies over the x axis's ticks and title. The rows are
    counted for LEGEND_PX of width, so the legend fits on a phone (a wider chart has room to spare).
    """
    entry = (lambda t: t.get("name") if t.get("showlegend", True) is not False else None)
    names = {n for t in data if (n := entry(t if isinstance(t, dict) else t.to_plotly_json()))}
    if not names or layout.get("showlegend") is False:
        return layout
    widest = 44 + 7.6 * max(len(n) for n in names)  # swatch and gap, then ~7.6 px per character at 15 px
    rows = math.ceil(len(names) / max(1, int(LEGEND_PX // widest))) if 44 + sum(44 + 7.6 * len(n) for n in names) > LEGEND_PX else 1
    extra = 26 * rows + 8
    margin = {**layout.get("margin", {})}
    margin["b"] = margin.get("b", 56) + extra
    return {**layout, "margin": margin, "height": (layout.get("height") or DEFAULT_HEIGHT) + extra}


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure without plotly.py's validation of every property, which took 3-15x the time of building
    the spec (the tests run each view's figure through the validator instead), its legend given room."""
    return go.Figure({"data": data, "layout": legend_room(data, layout)}, _validate=False)


def split_title(title: str, width: int = TITLE_CHARS) -> tuple[str, str]:
    """A title too long for a phone, cut at its last ': ' or ', ' outside brackets (else at a space) within
    `width` visible characters: (title, the rest, which leads the subtitle). HTML markup (a coloured swatch)
    counts for nothing and is never cut. Plotly grows a multi-line title upwards, under the toolbar, so a
    title stays one line."""
    depth, in_tag, seen, cut, space = 0, False, 0, None, None
    for i, char in enumerate(title):
        if char == "<":
            in_tag = True
        if in_tag:
            in_tag = char != ">"
            continue
        if seen > width:
            break
        depth += (char in "([") - (char in ")]")
        if depth == 0 and title.startswith((": ", ", "), i) and seen >= 8:
            cut = i
        if char == " " and seen <= width:
            space = i
        seen += 1
    else:
        return title, ""  # fits
    if cut is not None:
        return title[:cut], title[cut + 2:]
    if space is None:
        return title, ""
    return title[:space], title[space + 1:].strip()


def wrap(text: str, width: int = HINT_CHARS) -> str:
    """Text broken into lines of at most `width` characters (plotly never wraps text on its own)."""
    return "<br>".join(textwrap.wrap(text, width))


def empty_figure(title: str, hint: str, x_title: str = "", y_title: str = "", subtitle: str = "") -> go.Figure:
    """An empty chart with its axes named and a centered hint, so a page is never blank."""
    layout = base_layout(title, uirevision="empty", subtitle=subtitle)
    layout["xaxis"] = {"title": {"text": x_title}, "showticklabels": False, "zeroline": False}
    layout["yaxis"] = {"title": {"text": y_title}, "showticklabels": False, "zeroline": False}
    layout["annotations"] = [{"text": wrap(hint), "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
                              "showarrow": False, "font": {"size": FONT_SIZE + 2, "color": REFERENCE_COLOR}}]
    return figure([], layout)


# --- data helpers ------------------------------------------------------------------------------
def downsample_indices(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Rows to draw of an n-row series: all of them when n <= max_points, otherwise every k-th row
    from row 0 with k = ceil(n / (max_points - 1)), plus the last row; at most max_points rows,
    evenly spaced, first and last always kept. Smoothed lines are computed on all rows first.
    """
    if n <= max_points:
        return np.arange(n)
    k = math.ceil(n / (max_points - 1))
    kept = np.arange(0, n, k)
    return kept if kept[-1] == n - 1 else np.append(kept, n - 1)


def finite(values) -> np.ndarray:
    """As float64 with inf turned into NaN, which plotly draws as a gap."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def positive(values) -> np.ndarray:
    """For log axes: non-finite and non-positive values become NaN (gaps)."""
    values = finite(values)
    return np.where(values > 0, values, np.nan)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 1.5, 2, 3, 5 or 7.5 x 10^k at or above a positive value (a round axis limit that
    rarely moves as a live series grows)."""
    if not (np.isfinite(value) and value > 0):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 1.5, 2, 3, 5, 7.5, 10) if m * power >= value * (1 - 1e-12))


def rolling(values: np.ndarray, window: int, rows: np.ndarray, reduce) -> np.ndarray:
    """`reduce` (np.nanmean, np.nanmedian) of the trailing window of `window` rows ending at each of `rows`.

    NaN-aware: a window with no finite value gives NaN. Only the requested rows are computed.
    """
    values = finite(values)
    padded = np.concatenate([np.full(window - 1, np.nan), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        return reduce(windows, axis=1)


def read(series: Series, *names: str) -> list[np.ndarray]:
    """Columns of one table cut to their common length: a trainer thread may append between the reads."""
    return read_arrays(*(series[name] for name in names))


def read_arrays(*columns: np.ndarray) -> list[np.ndarray]:
    n = min(len(column) for column in columns)
    return [column[:n] for column in columns]


def divergence_step(record: RunRecord) -> int | None:
    """The step a diverged run blew up at (its last step if the record does not say), else None."""
    if record.status != "diverged":
        return None
    if record.status_step is not None:
        return int(record.status_step)
    return int(record.steps["step"][-1]) if len(record.steps) else None


def divergence_marks(record: RunRecord, subplots: list[int], horizontal: bool = False) -> tuple[list, str]:
    """Lines marking the divergence step on the given subplots (vertical at x = step; horizontal at
    y = step where steps run up the y axis), and the words for the subtitle: text inside a panel would
    cross the lines or the next panel's axis title. Empty when the run did not diverge."""
    step = divergence_step(record)
    if step is None:
        return [], ""
    shapes = []
    for index in subplots:
        x, y = axis_refs(index)
        line = {"type": "line", "line": {"color": DIVERGED_COLOR, "width": 2, "dash": "dash"}}
        if horizontal:
            line.update(xref=f"{x} domain", x0=0, x1=1, yref=y, y0=step, y1=step)
        else:
            line.update(xref=x, x0=step, x1=step, yref=f"{y} domain", y0=0, y1=1)
        shapes.append(line)
    return shapes, f"diverged at step {step} (red dashes)"


def joined(*parts: str) -> str:
    """Subtitle lines, the empty ones left out (base_layout wraps each to fit a narrow chart)."""
    return "<br>".join(part for part in parts if part)


# --- argument checks ---------------------------------------------------------------------------
def check_site(record: RunRecord, site: str):
    if site not in record.sites:
        raise ValueError(f"site={site!r} is not a norm site of this record; one of: {', '.join(record.sites)}")


def check_kind(kind: str):
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed; one of: {', '.join(KINDS)}")


def check_channel(record: RunRecord, site: str, channel: int | None):
    channels = record.sites[site]
    if channel is not None and not (isinstance(channel, (int, np.integer)) and 0 <= channel < channels):
        raise ValueError(f"channel={channel!r} is out of range for {site}: None (all) or 0..{channels - 1}")


def snapshot_row(n: int, snapshot_index: int) -> int:
    """The non-negative row of `snapshot_index` among n snapshots (negative counts from the end)."""
    if not isinstance(snapshot_index, (int, np.integer)) or not -n <= snapshot_index < n:
        raise ValueError(f"snapshot_index={snapshot_index!r} is out of range: {-n}..{n - 1} "
                         f"({n} snapshots recorded)")
    return int(snapshot_index) % n
