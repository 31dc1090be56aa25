"""`python -m bnviz compare`: train 2 to 4 paired arms in lockstep and save them in one comparison file."""

from __future__ import annotations

import argparse
import csv
import functools
import sys
import time
from pathlib import Path

from bnviz.cli.flags import add_config_flags, config_from_args, fail_flag, positive_int
from bnviz.cli.stopping import EXIT_STOPPED, StopRequest
from bnviz.compare import PRESETS, ArmError, Comparison, vary_many
from bnviz.compare_summary import arm_summaries, comparison_table, verdict
from bnviz.config import FIELDS, ConfigError

CHUNK = 5  # steps per arm per lockstep.step() call: Ctrl-C is honoured between chunks


def add(commands, epilog: str):
    """Register the `compare` subcommand."""
    compare = commands.add_parser(
        "compare", help="train 2 to 4 paired arms in lockstep and save them in one file (.npz)",
        description="Train a comparison: the run flags set the base, --vary or --preset make the arms; every arm "
                    "starts from the same seed (same data order, same initial weights for same-shaped layers).",
        usage="python -m bnviz compare (--vary KNOB=V1,V2[,..] ... | --preset NAME) [--out OUT] [--csv CSV] "
              "[run config flags]", epilog=epilog)
    compare.set_defaults(run=functools.partial(compare_command, compare))
    compare.add_argument("--vary", action="append", default=[], metavar="KNOB=V1,V2",
                         help="one arm per value (two --vary: one arm per combination, at most 4); KNOB is a "
                              f"run config field: {', '.join(FIELDS)}")
    compare.add_argument("--preset", choices=sorted(PRESETS), metavar="NAME",
                         help="a classic comparison: " + "; ".join(f"{k}: {p.title}" for k, p in PRESETS.items()))
    compare.add_argument("--out", default="compare.npz", help="where to save the comparison (default: compare.npz)")
    compare.add_argument("--csv", help="also write every arm's per-step metrics here, with an `arm` column")
    compare.add_argument("--threads", type=positive_int, metavar="INT",
                         help="CPU threads for torch (default: torch's choice). Arms repeat exactly only at the "
                              "same thread count")
    add_config_flags(compare)


def comparison_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Comparison:
    base = config_from_args(parser, args)
    if bool(args.vary) == bool(args.preset):
        parser.error("give --vary KNOB=V1,V2 (one or more) or --preset NAME, not both, not neither")
    try:
        if args.preset:
            return PRESETS[args.preset].comparison(base)
        return vary_many(base, parse_vary(parser, args.vary))
    except ConfigError as err:  # an ArmError names the arm and the field
        parser.error(f"argument {'--preset' if args.preset else '--vary'}: {err}")


def parse_vary(parser: argparse.ArgumentParser, texts: list[str]) -> dict[str, list[str]]:
    knobs = {}
    for text in texts:
        knob, _, values = text.partition("=")
        knob = knob.strip().lstrip("-").replace("-", "_")
        if knob not in FIELDS or not values:
            parser.error(f"argument --vary: {text!r} is not allowed: KNOB=V1,V2 with KNOB one of {', '.join(FIELDS)}")
        if knob in knobs:
            parser.error(f"argument --vary: {knob} is varied twice")
        knobs[knob] = [v.strip() for v in values.split(",")]
    return knobs


def compare_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    comparison = comparison_from_args(parser, args)
    out = Path(args.out)
    for name, path in (("--out", out), ("--csv", Path(args.csv) if args.csv else None)):
        if path is not None and not path.parent.is_dir():  # fail now, not after the whole run
            parser.error(f"argument {name}: folder {str(path.parent)!r} does not exist")
    import torch  # here so that --help starts without loading torch
    from tqdm import tqdm

    from bnviz.data import DatasetUnavailable
    from bnviz.lockstep import Lockstep

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        lockstep = Lockstep(comparison)
    except ArmError as err:
        fail_flag(parser, err)
    except DatasetUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    with StopRequest() as stop, tqdm(total=comparison.steps, unit="step", file=sys.stderr, dynamic_ncols=True,
                                     desc=f"{len(comparison.arms)} arms") as bar:
        while not lockstep.done and not stop.requested:
            lockstep.step(CHUNK)
            bar.update(lockstep.steps_done - bar.n)
        if not lockstep.done:
            lockstep.stop()
    record = lockstep.record
    try:
        record.save(out)
        if args.csv:
            write_csv(record, Path(args.csv))
    except OSError as err:
        print(f"error: could not save the comparison: {err}", file=sys.stderr)
        return 1
    print(report(record, time.perf_counter() - started, out))
    return EXIT_STOPPED if record.status == "stopped" else 0


def write_csv(record, path: Path):
    header, rows = comparison_table(record)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def report(record, wall_s: float, out: Path) -> str:
    """One line per arm, then the verdict."""
    rows = arm_summaries(record)
    lines = [f"{record.status}: {len(rows)} arms, {wall_s:.1f} s, saved {out}"]
    lines += [arm_line(row) for row in rows]
    lines.append(verdict(rows))
    return "\n".join(lines)


def arm_line(row) -> str:
    def pct(v):
        return "n/a" if v is None else f"{v:.2%}"
    reach = ", ".join(f"{t:.0%} at step {s}" if s is not None else f"{t:.0%} never"
                      for t, s in row.steps_to.items())
    ms = "n/a" if row.ms_per_step is None else f"{row.ms_per_step:.1f}"
    gap = "n/a" if row.accuracy_gap is None else f"{row.accuracy_gap:+.2%}"
    text = (f"  {row.label}: {row.status}, {row.steps_done} steps, test accuracy {pct(row.final_test_accuracy)} "
            f"(eval mode), train-eval gap {gap}, {reach}, {ms} ms/step")
    return text + (f" ({row.message})" if row.message else "")

