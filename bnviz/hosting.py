"""Hosted-demo mode: the caps a visitor cannot exceed, read and validated from the environment.

`BNVIZ_HOSTED=1` turns it on (Streamlit Community Cloud exports root-level secrets as environment variables,
so a secret `BNVIZ_HOSTED = "1"` does the same). Each cap has its own variable; a bad value stops the server
at startup (`python -m bnviz.hosting` checks them, and the Docker image runs it first) with a message naming
the variable and its allowed range. Streamlit-free: the engine (bnviz.live) enforces the caps.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

from bnviz.config import ConfigError, RunConfig

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
FULL_DATASETS = ("mnist", "fashion-mnist")  # downloaded on first use (~60 MB on disk, ~200 MB in memory)


class HostingError(ValueError):
    """A bad hosting variable: names it, the value given and the allowed range."""


@dataclass(frozen=True)
class Var:
    name: str  # environment variable
    kind: type
    default: float
    low: float
    high: float
    meaning: str


# field -> its variable. Defaults fit a 2-core server and a classroom of 30 (see README, Hosting).
VARS: dict[str, Var] = {
    "max_steps": Var("BNVIZ_MAX_STEPS", int, 2_000, 1, 1_000_000, "training steps per run"),
    "max_run_s": Var("BNVIZ_MAX_RUN_S", float, 300.0, 1.0, 86_400.0,
                     "seconds of training per run (queued time not counted); then it stops"),
    "max_batch_size": Var("BNVIZ_MAX_BATCH", int, 256, 1, 1024, "images per training step"),
    "max_arms": Var("BNVIZ_MAX_ARMS", int, 4, 1, 16, "runs in one comparison"),
    "max_sweep": Var("BNVIZ_MAX_SWEEP", int, 8, 1, 256, "runs in one sweep"),
    "full_datasets": Var("BNVIZ_FULL_DATASETS", bool, False, 0, 1,
                         "allow the downloaded full MNIST / Fashion-MNIST (off: the bundled 5k subset only)"),
    "time_slice_s": Var("BNVIZ_TIME_SLICE_S", float, 10.0, 0.0, 3_600.0,
                        "a training gives its slot to the next in line after this long when others wait "
                        "(0: never)"),
    "session_ttl_s": Var("BNVIZ_SESSION_TTL_S", float, 300.0, 10.0, 86_400.0,
                         "a run with no sign of its browser for this long gives up its model and record"),
}


# Applies in and out of hosted mode (bnviz.live reads it at import).
HEARTBEAT = Var("BNVIZ_HEARTBEAT_S", float, 30.0, 1.0, 3_600.0, "no sign of the browser this long: its run stops")


def heartbeat_s(env=None) -> float:
    """Seconds without a heartbeat after which a run stops ($BNVIZ_HEARTBEAT_S, validated)."""
    return _read(HEARTBEAT, (env if env is not None else os.environ).get(HEARTBEAT.name))


@dataclass(frozen=True)
class Caps:
    """What one visitor may ask of a hosted demo."""

    max_steps: int = VARS["max_steps"].default
    max_run_s: float = VARS["max_run_s"].default
    max_batch_size: int = VARS["max_batch_size"].default
    max_arms: int = VARS["max_arms"].default
    max_sweep: int = VARS["max_sweep"].default
    full_datasets: bool = VARS["full_datasets"].default
    time_slice_s: float = VARS["time_slice_s"].default
    session_ttl_s: float = VARS["session_ttl_s"].default


def hosted(env=None) -> bool:
    """Whether hosted mode is on ($BNVIZ_HOSTED); an unclear value is an error, not a guess."""
    return _parse_bool("BNVIZ_HOSTED", (env if env is not None else os.environ).get("BNVIZ_HOSTED", ""))


def from_env(env=None) -> Caps | None:
    """The caps from the environment in hosted mode; None otherwise (a local lab has no caps)."""
    env = env if env is not None else os.environ
    if not hosted(env):
        return None
    return Caps(**{field: _read(var, env.get(var.name)) for field, var in VARS.items()})


def time_slice(env=None) -> float | None:
    """The time slice: the caps' in hosted mode, else $BNVIZ_TIME_SLICE_S when set, else None (off)."""
    env = env if env is not None else os.environ
    caps = from_env(env)
    if caps is not None:
        return caps.time_slice_s or None
    raw = env.get(VARS["time_slice_s"].name)
    return (_read(VARS["time_slice_s"], raw) or None) if raw else None


def check(cfg, caps: Caps | None):
    """Raise ConfigError naming the field and the cap when `cfg` (a RunConfig, or a comparison's arms
    through its `configs`) asks more than the caps allow."""
    if caps is None:
        return
    if hasattr(cfg, "configs"):  # a bnviz.compare.Comparison: the arm count, then every arm
        check_count("arms", len(cfg.configs), caps)
        for arm in cfg.configs:
            check(arm, caps)
        return
    for field, cap in (("steps", "max_steps"), ("batch_size", "max_batch_size")):
        value, limit = getattr(cfg, field), getattr(caps, cap)
        if value > limit:
            raise ConfigError(field, value, f"at most {limit:,} on this hosted demo ({VARS[cap].name})")
    if cfg.dataset in FULL_DATASETS and not caps.full_datasets:
        raise ConfigError("dataset", cfg.dataset, "this hosted demo serves only the bundled mnist-5k "
                                                  f"(full-dataset downloads are off: {VARS['full_datasets'].name})")


def check_count(kind: str, n: int, caps: Caps | None):
    """Compare arms (kind 'arms') or sweep runs (kind 'sweep'): ConfigError when over the cap."""
    if caps is None:
        return
    field = {"arms": "max_arms", "sweep": "max_sweep"}[kind]
    cap = getattr(caps, field)
    if n > cap:
        raise ConfigError(kind, n, f"at most {cap} runs on this hosted demo ({VARS[field].name})")


def apply(cfg: RunConfig | None, error: str | None, caps: Caps | None) -> tuple[RunConfig | None, str | None]:
    """The lab's (config, error) pair with the caps applied: over a cap, no config and the cap's message."""
    if cfg is None:
        return cfg, error
    try:
        check(cfg, caps)
    except ConfigError as err:
        return None, f"{err.field}: {err}"
    return cfg, error


def describe(caps: Caps | None) -> str | None:
    """One line for the UI saying what this hosted demo allows."""
    if caps is None:
        return None
    data = "all datasets" if caps.full_datasets else "the bundled mnist-5k"
    return (f"Hosted demo: up to {caps.max_steps:,} steps, batch {caps.max_batch_size}, "
            f"{caps.max_run_s:g} s of training per run, {data}; trainings take turns every "
            f"{caps.time_slice_s:g} s when others wait.")


def _read(var: Var, raw: str | None):
    if raw is None or raw.strip() == "":
        return var.default
    if var.kind is bool:
        return _parse_bool(var.name, raw)
    try:
        value = float(raw)
        if var.kind is int and not value.is_integer():
            raise ValueError
    except ValueError:
        raise HostingError(f"{var.name}={raw!r}: must be {_range(var)} ({var.meaning})") from None
    if not (math.isfinite(value) and var.low <= value <= var.high):
        raise HostingError(f"{var.name}={raw!r}: must be {_range(var)} ({var.meaning})")
    return var.kind(value)


def _parse_bool(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text not in TRUE + FALSE:
        raise HostingError(f"{name}={raw!r}: must be one of 1, true, yes, on / 0, false, no, off")
    return text in TRUE


def _range(var: Var) -> str:
    fmt = (lambda b: f"{int(b):,}") if var.kind is int else (lambda b: f"{b:g}")
    return f"{var.kind.__name__} in [{fmt(var.low)}, {fmt(var.high)}]"


def main() -> int:
    """Check the hosting variables (the Docker image runs this before the server): 0 when usable."""
    try:
        caps = from_env()
        time_slice()
        heartbeat_s()
    except HostingError as err:
        print(f"bnviz: bad hosting setting: {err}", file=sys.stderr)
        return 2
    print(describe(caps) or "bnviz: not in hosted mode (BNVIZ_HOSTED unset): no caps", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
