"""Share links: every knob (RunConfig field names) and the chosen views, site, step and channel in the URL,
parsed by the config's own parser (config.parse_lenient) from Field specs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from bnviz.config import FIELDS, NORM_WIDTHS, ConfigError, Field, RunConfig, parse_lenient
from bnviz.models import site_names
from bnviz.plots.robust import SMOOTHING
from bnviz.views import DEFAULT_VIEWS, VIEW_NUMBERS

AUTORUN = "autorun"
FIELD_OF = {"view": "views", "site": "site", "step": "step", "channel": "channel",  # URL parameter -> Selection
            "log_y": "log_y", "full_range": "full_range", "smoothing": "smoothing"}


@dataclass(frozen=True)
class ViewsField(Field):
    """A set of view numbers separated by commas; none at all is allowed (the user chose none)."""

    def allowed(self) -> str:
        return f"view numbers {min(self.choices)}..{max(self.choices)} separated by commas"

    def parse(self, name: str, raw: str):
        try:
            return tuple(dict.fromkeys(int(v) for v in str(raw).split(",") if v.strip()))
        except ValueError:
            raise ConfigError(name, raw, self.allowed()) from None

    def check(self, name: str, value):
        if not set(value) <= set(self.choices):
            raise ConfigError(name, ",".join(map(str, value)), self.allowed())

    def format(self, value) -> str:
        return ",".join(map(str, value))


def url_fields(model: str) -> dict[str, Field]:
    """The lab's view parameters, typed and bounded like the run's knobs (their range depends on the model)."""
    return {
        "view": ViewsField(tuple, "the views shown", VIEW_NUMBERS),
        "site": Field(str, "the norm site shown in the per-site views", ("all", *site_names(model))),
        "step": Field(int, "the step shown in views 1 and 6", low=0, high=FIELDS["steps"].high, optional=True,
                      none_word="latest"),
        "channel": Field(int, "the channel shown in view 1", low=0, high=max(NORM_WIDTHS[model]) - 1,
                         optional=True, none_word="all"),
        "log_y": Field(bool, "histograms on a log count axis (views 1 and 3)"),
        "full_range": Field(bool, "histograms and gradient norms over every value, outliers included"),
        "smoothing": Field(float, "EMA weight of the gradient-norm lines (0 = raw)", low=0.0, high=0.99),
        AUTORUN: Field(bool, "start training as soon as the link opens"),
    }


@dataclass(frozen=True)
class Selection:
    """What the lab shows: which views, which norm site (or all), which step (None: the latest), which channel."""

    views: tuple[int, ...] = DEFAULT_VIEWS
    site: str = "all"
    step: int | None = None
    channel: int | None = None
    log_y: bool = False  # histograms on a log count axis
    full_range: bool = False  # no robust cut of the x (histograms) or y (gradient norms) range
    smoothing: float = SMOOTHING  # the gradient-norm EMA, TensorBoard's slider

    def to_params(self) -> dict[str, str]:
        specs = url_fields(RunConfig().model)  # how a value is written does not depend on the model
        return {key: specs[key].format(getattr(self, name)) for key, name in FIELD_OF.items()}


def read(params: dict[str, str], devices: list[str]) -> tuple[RunConfig, Selection, bool, list[str]]:
    """(config, selection, autorun, problems) from URL query parameters; invalid ones fall back to defaults."""
    view_keys = set(FIELD_OF) | {AUTORUN}
    cfg, problems = RunConfig.from_params_lenient({k: v for k, v in params.items() if k not in view_keys})
    if cfg.device not in devices:
        problems.append(f"device={cfg.device!r} is not present on this machine: one of {', '.join(devices)}; "
                        "using the default auto")
        cfg = cfg.replace(device="auto")
    default = Selection()
    defaults = {key: getattr(default, name) for key, name in FIELD_OF.items()} | {AUTORUN: False}
    values, view_problems = parse_lenient(url_fields(cfg.model), {k: v for k, v in params.items() if k in view_keys},
                                          defaults)
    autorun = values.pop(AUTORUN, False)
    problem = channel_problem(cfg.model, values.get("site", default.site), values.get("channel"))
    if problem:
        view_problems.append(problem)
        values.pop("channel")
    return cfg, Selection(**{FIELD_OF[key]: value for key, value in values.items()}), autorun, problems + view_problems


def channel_problem(model: str, site: str, channel: int | None) -> str | None:
    """Why `channel` cannot be shown at `site` of `model` (in range for some site, not this one); None if it can."""
    widths = dict(zip(site_names(model), NORM_WIDTHS[model]))
    width = min(widths.values()) if site == "all" else widths[site]
    if channel is None or channel < width:
        return None
    where = "every site" if site == "all" else site
    return (f"channel={channel!r} is not allowed: {where} has channels 0..{width - 1} "
            f"({', '.join(f'{n} {w}' for n, w in widths.items())}); using the default all")


def params_of(cfg: RunConfig, selection: Selection) -> dict[str, str]:
    """Every knob, even those at their default: a link keeps its meaning if a default changes later."""
    return {**cfg.to_params(), **selection.to_params()}


def write_url(cfg: RunConfig, selection: Selection, run_token: str | None = None):
    """Keep the address bar equal to the current settings, so the browser's own URL is a share link; with
    the run's token (run=), a reload or a second tab of this browser finds the run again."""
    wanted = params_of(cfg, selection) | ({"run": run_token} if run_token else {})
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def link(cfg: RunConfig, selection: Selection, autorun: bool = False) -> str:
    base = st.context.url or "http://localhost:8501/"
    params = params_of(cfg, selection) | ({AUTORUN: "1"} if autorun else {})
    return f"{base}?{urlencode(params)}"


def copy_link_control(cfg: RunConfig, selection: Selection):
    """A "Copy link" popover: the link in a code box with its copy button, ready-to-train and autorun."""
    with st.popover("Copy link", icon=":material/link:"):
        st.caption("Opens the lab with these settings and this view, ready to train:")
        st.code(link(cfg, selection), language=None, wrap_lines=True)
        st.caption("Starts training as soon as it opens (autorun=1):")
        st.code(link(cfg, selection, autorun=True), language=None, wrap_lines=True)
