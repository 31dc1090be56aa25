"""Share links: every knob (RunConfig field names) and the chosen view, site, step and channel in the URL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from bnviz.config import NORM_WIDTHS, RunConfig
from bnviz.models import site_names
from bnviz.views import DEFAULT_VIEWS, VIEW_NUMBERS

AUTORUN = "autorun"
TRUE = ("1", "true", "yes")


@dataclass(frozen=True)
class Selection:
    """What the lab shows: which views, which norm site (or all), which step (None: the latest), which channel."""

    views: tuple[int, ...] = DEFAULT_VIEWS
    site: str = "all"
    step: int | None = None
    channel: int | None = None

    def to_params(self) -> dict[str, str]:
        return {"view": ",".join(map(str, self.views)), "site": self.site,
                "step": "latest" if self.step is None else str(self.step),
                "channel": "all" if self.channel is None else str(self.channel)}

    @classmethod
    def from_params(cls, params: dict[str, str], model: str) -> tuple["Selection", list[str]]:
        """Parse what is valid; each invalid parameter becomes a message naming it and the default used."""
        default, values, problems = cls(), {}, []
        sites = site_names(model)
        channels = min(NORM_WIDTHS[model])

        def bad(key: str, allowed: str):
            problems.append(f"{key}={params[key]!r} is not allowed: {allowed}; "
                            f"using the default {default.to_params()[key]}")

        if "view" in params:
            try:
                views = tuple(dict.fromkeys(int(v) for v in params["view"].split(",") if v.strip()))
                if not set(views) <= set(VIEW_NUMBERS):  # none at all is allowed: the user chose none
                    raise ValueError
                values["views"] = views
            except ValueError:
                bad("view", "view numbers 1..7 separated by commas")
        if "site" in params:
            if params["site"] in ["all", *sites]:
                values["site"] = params["site"]
            else:
                bad("site", f"one of all, {', '.join(sites)}")
        for key, limit in (("step", None), ("channel", channels)):
            if key not in params or params[key] in ("latest", "all"):
                continue
            try:
                number = int(params[key])
                if number < 0 or (limit is not None and number >= limit):
                    raise ValueError
                values[key] = number
            except ValueError:
                bad(key, "latest or a step >= 0" if key == "step" else f"all or a channel in [0, {limit - 1}]")
        return cls(**values), problems


def read(params: dict[str, str], devices: list[str]) -> tuple[RunConfig, Selection, bool, list[str]]:
    """(config, selection, autorun, problems) from URL query parameters; invalid ones fall back to defaults."""
    view_keys = set(Selection().to_params()) | {AUTORUN}
    cfg, problems = RunConfig.from_params_lenient({k: v for k, v in params.items() if k not in view_keys})
    if cfg.device not in devices:
        problems.append(f"device={cfg.device!r} is not present on this machine: one of {', '.join(devices)}; "
                        "using the default auto")
        cfg = cfg.replace(device="auto")
    view, view_problems = Selection.from_params(params, cfg.model)
    autorun = params.get(AUTORUN, "0").strip().lower()
    if autorun not in TRUE + ("0", "false", "no"):
        view_problems.append(f"autorun={params[AUTORUN]!r} is not allowed: 1 or 0; not starting")
    return cfg, view, autorun in TRUE, problems + view_problems


def params_of(cfg: RunConfig, selection: Selection) -> dict[str, str]:
    """Every knob, even those at their default: a link keeps its meaning if a default changes later."""
    return {**cfg.to_params(), **selection.to_params()}


def write_url(cfg: RunConfig, selection: Selection):
    """Keep the address bar equal to the current settings, so the browser's own URL is a share link."""
    wanted = params_of(cfg, selection)
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
