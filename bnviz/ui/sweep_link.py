"""Share links of the Sweep page: the base config (every RunConfig knob), the grid, seeds, budget and what
is plotted in the URL, parsed leniently by config.parse_lenient: a bad parameter is named, its default used."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from bnviz.config import COMBINED, FIELDS, ConfigError, Field, parse_lenient
from bnviz.sweep import NOT_GRID
from bnviz.sweep_table import METRICS, SPREADS
from bnviz.ui.share import ViewsField
from bnviz.ui.sidebar import devices
from bnviz.ui.sweep_job import SWEEP_PARAM
from bnviz.ui.sweep_spec import DEFAULT, MAX_KNOBS, MAX_SEEDS, SweepSpec

AUTORUN = "autorun"
SPEC_OF = {"grid": "grid", "seeds": "seeds", "images": "images", "metric": "metric", "bars": "spread"}
GRID_KNOBS = tuple(k for k in FIELDS if k not in NOT_GRID)


@dataclass(frozen=True)
class GridField(Field):
    """`knob:value,value;knob:value,...`: the x knob first, then the lines' knob; each value a valid value."""

    def allowed(self) -> str:
        return (f"knob:value,value;knob:value,... with 1 to {MAX_KNOBS} knobs of {', '.join(GRID_KNOBS)}, "
                "each value allowed for its knob")

    def parse(self, name: str, raw: str):
        grid = {}
        for part in str(raw).split(";"):
            knob, sep, values = part.partition(":")
            if not sep or not knob.strip() or knob.strip() in grid:
                raise ConfigError(name, raw, self.allowed())
            grid[knob.strip()] = tuple(v.strip() for v in values.split(",") if v.strip())
        return grid

    def check(self, name: str, value):
        if not 1 <= len(value) <= MAX_KNOBS:
            raise ConfigError(name, self.format(value), self.allowed())
        for knob, values in value.items():
            if knob not in GRID_KNOBS or not values:
                raise ConfigError(name, self.format(value), self.allowed())
            for raw in values:
                try:
                    FIELDS[knob].check(knob, FIELDS[knob].parse(knob, raw))
                except ConfigError as err:
                    raise ConfigError(name, self.format(value), f"{knob}={raw!r}: {err.allowed}") from None

    def format(self, value) -> str:
        return ";".join(f"{knob}:{','.join(values)}" for knob, values in value.items())


@dataclass(frozen=True)
class SeedsField(ViewsField):
    """Seeds separated by commas (parsed and written as the lab's view list), each a valid RunConfig seed."""

    def allowed(self) -> str:
        return f"1 to {MAX_SEEDS} seeds separated by commas, each {FIELDS['seed'].allowed()}"

    def check(self, name: str, value):
        if not 1 <= len(value) <= MAX_SEEDS:
            raise ConfigError(name, self.format(value), self.allowed())
        for seed in value:
            try:
                FIELDS["seed"].check(name, seed)
            except ConfigError:
                raise ConfigError(name, self.format(value), self.allowed()) from None


URL_FIELDS: dict[str, Field] = {
    "grid": GridField(dict, "the grid: the x knob's values, then the lines' knob's values"),
    "seeds": SeedsField(tuple, "the seeds each grid point is trained with"),
    "images": Field(int, "training images per run (steps = images / batch size); none: the base's steps",
                    low=1, high=10_000_000, optional=True, none_word="none"),
    "metric": Field(str, "what the chart shows", tuple(METRICS)),
    "bars": Field(str, "the seeds' error bars", tuple(SPREADS)),
    AUTORUN: Field(bool, "start the sweep as soon as the link opens"),
}


def read(params: dict[str, str]) -> tuple[SweepSpec, bool, list[str]]:
    """(spec, autorun, problems) from URL query parameters. A bad one is named with what is allowed and the
    default used; so is one valid alone whose sweep cannot train (a combination, the server's cap)."""
    base_values, problems = parse_lenient(FIELDS, {k: v for k, v in params.items() if k in FIELDS},
                                          {name: getattr(DEFAULT.base, name) for name in FIELDS})
    device = base_values.get("device", DEFAULT.base.device)
    if device not in devices():  # valid in general, absent here: every run would fail
        problems.append(f"device={device!r} is not present on this machine: one of {', '.join(devices())}; "
                        f"using the default {DEFAULT.base.device}")
        base_values.pop("device")
    defaults = {key: getattr(DEFAULT, name) for key, name in SPEC_OF.items()} | {AUTORUN: False}
    values, more = parse_lenient(URL_FIELDS, {k: v for k, v in params.items() if k not in FIELDS}, defaults)
    problems += more
    autorun = values.pop(AUTORUN, False)
    while True:
        try:
            spec = DEFAULT.replace(base=DEFAULT.base.replace(**base_values),
                                   **{SPEC_OF[key]: value for key, value in values.items()})
            spec.configs()  # every run validates, within the cap
            return spec, autorun, problems
        except ConfigError as err:  # valid values in a combination PyTorch cannot train, or too many runs
            key = _culprit(err.field, base_values, values)
            if key is None:  # the default sweep itself: the page says why it cannot train
                return spec, autorun, problems
            given = base_values if key in base_values else values
            field = FIELDS[key] if key in FIELDS else URL_FIELDS[key]
            shown = field.format(given.pop(key))
            default = field.format(getattr(DEFAULT.base, key) if key in FIELDS else defaults[key])
            why = str(err) if key == err.field else f"{key}={shown!r}: the sweep cannot train with it: {err}"
            problems.append(f"{why}; using the default {default}")


def _culprit(field: str, base_values: dict, values: dict) -> str | None:
    """The given parameter to drop for `field`'s error: itself if the link gave it, else a given knob it
    combines with, else the link's grid, budget or seeds; None when the link gave none of them."""
    if field in base_values or field in values:
        return field
    combined = [k for k in COMBINED if k in base_values]
    if field in COMBINED and combined:
        return combined[0]
    return next((k for k in ("grid", "images", "seeds") if k in values), combined[0] if combined else None)


def params_of(spec: SweepSpec) -> dict[str, str]:
    """Every base knob, even at its default (a link keeps its meaning if a default changes), then the sweep."""
    sweep = {key: URL_FIELDS[key].format(getattr(spec, name)) for key, name in SPEC_OF.items()}
    return {**spec.base.to_params(), **sweep}


def link(spec: SweepSpec, autorun: bool = False) -> str:
    base = (st.context.url or "http://localhost:8501/Sweep").split("?")[0]
    return f"{base}?{urlencode(params_of(spec) | ({AUTORUN: '1'} if autorun else {}))}"


def write_url(spec: SweepSpec, token: str | None = None):
    """Keep the address bar equal to the page's settings, so the browser's own URL is a share link; with
    the sweep's token (sweep=), a reload of this browser finds the sweep again."""
    wanted = params_of(spec) | ({SWEEP_PARAM: token} if token else {})
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
