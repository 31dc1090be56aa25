"""Fuzz the run-config parsers (URL parameters strict and lenient, CLI flags) with hypothesis; count crashes.

    .venv/bin/python -m bench.fuzz [--examples 20000]   (in all, split evenly over the four kinds)

The strategies and the checks live here; tests/test_fuzz.py runs the same checks on fewer examples. A check
raises AssertionError when a property fails; any other exception is a crash of the parser.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import time
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnviz.cli import build_parser, config_from_args, flag
from bnviz.config import COMBINED, FIELDS, ConfigError, RunConfig

# Inputs that broke, or could break, a hand-written parser: overflow, non-finite, unicode digits, blanks.
TRICKY = ("", " ", "\t", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "1e308",
          "9" * 400, "0x10", "1_000", "+5", "-0", "0", "-1", "1e3", "1.0", "1.5", "٣", "１２", "½", "Ⅷ", " 32 ",
          "\t0.1\n", "True", "FALSE", "yes", "none", "None ", "auto", "null", "\x00", "batch\x00", "BATCH",
          "2**31", "2147483648", "1e-6", "10.0", "0.0", "1", "after", "seed_cnn", "mlp", "group", "instance")


def good_value(name: str):
    """A strategy of valid typed values of one field."""
    spec = FIELDS[name]
    if spec.kind is bool:
        values = st.booleans()
    elif spec.choices:
        values = st.sampled_from(spec.choices)
    elif spec.kind is int:
        values = st.integers(int(spec.low) + (1 if spec.open_low else 0), int(spec.high))
    else:
        values = st.floats(spec.low, spec.high, exclude_min=spec.open_low)
    return st.one_of(values, st.none()) if spec.optional else values


def raw_value(name: str | None = None):
    """Any text a URL or a flag could carry: valid values (padded), tricky words, numbers, random text."""
    junk = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), st.integers(-10**30, 10**30).map(str),
                     st.floats().map(repr))
    if name not in FIELDS:
        return junk
    return st.one_of(good_value(name).map(FIELDS[name].format), junk)  # half valid: accepted configs too


keys = st.one_of(st.sampled_from(list(FIELDS)), st.text(max_size=8))
params = st.lists(keys, max_size=8, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({k: raw_value(k) for k in names}))
field_params = st.lists(st.sampled_from(list(FIELDS)), max_size=8, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({k: raw_value(k) for k in names}))
good_configs = st.fixed_dictionaries({name: good_value(name) for name in FIELDS})


def alone(key: str, raw: str):
    """The typed value of one parameter on its own, or the ConfigError it gets."""
    try:
        value = FIELDS[key].parse(key, raw)
        FIELDS[key].check(key, value)
        return value
    except ConfigError as err:
        return err


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


# --- the properties -----------------------------------------------------------------------------
def check_strict(given_params: dict[str, str]):
    """from_params: a config keeping every value, or a ConfigError naming a field and what is allowed."""
    bad = [k for k, v in given_params.items() if k not in FIELDS or isinstance(alone(k, v), ConfigError)]
    try:
        cfg = RunConfig.from_params(given_params)
    except ConfigError as err:
        assert str(err).startswith(f"{err.field}=") and err.allowed, err
        if err.field in FIELDS and err.field in bad:
            assert FIELDS[err.field].allowed() in str(err), err
        assert err.field in given_params or err.field in FIELDS, err
        return "refused"
    assert not bad, f"accepted bad parameters {bad}"  # noqa: the strict parser refuses every one
    for key, raw in given_params.items():
        assert same(getattr(cfg, key), alone(key, raw)), key
    return "accepted"


def check_lenient(given_params: dict[str, str]):
    """from_params_lenient: never raises; each bad parameter named with its range; each good one kept."""
    cfg, problems = RunConfig.from_params_lenient(given_params)
    text, default = "\n".join(problems), RunConfig()
    for key, raw in given_params.items():
        if key not in FIELDS:
            assert f"unknown parameter {key!r} ignored" in problems, key
            continue
        value = alone(key, raw)
        if isinstance(value, ConfigError):
            assert f"{key}=" in text and FIELDS[key].allowed() in text, (key, raw, problems)
            assert same(getattr(cfg, key), getattr(default, key)), key
        else:
            assert same(getattr(cfg, key), value) or f"using the default for {key}" in text, (key, raw, problems)
    return "with problems" if problems else "clean"


PARSER = build_parser()


def check_cli(given_params: dict[str, str]):
    """`train --flag=value ...`: the config of every value, or exit 2 naming a given flag and its range."""
    argv = ["train", *(f"{flag(k)}={v}" for k, v in given_params.items())]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            cfg = config_from_args(PARSER, PARSER.parse_args(argv))
    except SystemExit as exit_:
        assert exit_.code == 2, exit_.code
        message = err.getvalue()
        bad = [k for k in FIELDS if k in given_params and isinstance(alone(k, given_params[k]), ConfigError)]
        named = [k for k in bad if f"argument {flag(k)}:" in message]
        if bad:  # one of the bad ones is named, with its range
            assert named and FIELDS[named[0]].allowed() in message, message
        else:  # a combination PyTorch cannot train: a flag is named with what is allowed
            assert "argument --" in message and "is not allowed" in message, message
        return "exit 2"
    for key, raw in given_params.items():
        assert same(getattr(cfg, key), alone(key, raw)), key
    return "parsed"


def check_round_trip(values: dict):
    """Valid typed values, written as strings (padded with blanks), come back equal or are refused only as a
    combination PyTorch cannot train."""
    written = {k: f" {FIELDS[k].format(v)} " for k, v in values.items()}
    try:
        cfg = RunConfig.from_params(written)
    except ConfigError as err:
        assert err.field in COMBINED, err
        return "untrainable combination"
    for key, value in values.items():
        assert same(getattr(cfg, key), value), key
    return "equal"


CHECKS = {"url strict": (check_strict, params), "url lenient": (check_lenient, params),
          "cli flags": (check_cli, field_params), "round trip": (check_round_trip, good_configs)}


def run(kind: str, examples: int, counts: Counter, crashes: Counter, failures: list):
    check, strategy = CHECKS[kind]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def fuzz(value):
        try:
            outcome = check(value)
        except AssertionError as err:
            crashes[kind] += 1
            failures.append((kind, value, f"property: {err}"))
            return
        except Exception as err:  # noqa: BLE001  a crash: counted and shown, the fuzzing goes on
            crashes[kind] += 1
            failures.append((kind, value, f"{type(err).__name__}: {err}"))
            return
        counts[kind, outcome] += 1

    fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000, help="inputs in all (default 20,000)")
    args = parser.parse_args(argv)
    counts, crashes, failures = Counter(), Counter(), []
    for kind in CHECKS:
        started = time.perf_counter()
        run(kind, args.examples // len(CHECKS), counts, crashes, failures)
        tried = sum(n for (k, _), n in counts.items() if k == kind) + crashes[kind]
        outcomes = ", ".join(f"{o} {n:,}" for (k, o), n in sorted(counts.items()) if k == kind)
        print(f"{kind:<12} {tried:>7,} inputs tried, {crashes[kind]} crashed ({outcomes}; "
              f"{time.perf_counter() - started:.0f} s)")
    total = sum(counts.values()) + sum(crashes.values())
    print(f"{'all':<12} {total:>7,} inputs tried, {sum(crashes.values())} crashed")
    for kind, value, why in failures[:10]:
        print(f"  {kind}: {value!r}: {why}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
