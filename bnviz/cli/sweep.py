"""`python -m bnviz sweep`: train a grid of runs (local process pool or a Ray cluster) into one resumable file."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from bnviz.cli.flags import add_config_flags, config_from_args, fail_flag, positive_int
from bnviz.cli.stopping import EXIT_STOPPED
from bnviz.config import ConfigError
from bnviz.record import RecordError


def add(commands, epilog: str):
    """Register the `sweep` subcommand."""
    sweep = commands.add_parser(
        "sweep", help="train a grid of runs x seeds and save their results (.npz)",
        description="Train the product of --grid values x --seeds, each to the same budget, on worker processes "
                    "here (default) or on a Ray cluster. Rerun the same command to resume: finished runs are "
                    "kept in --out and not trained again.",
        usage="python -m bnviz sweep --grid KNOB=V1,V2 [--grid ...] [--seeds 0,1,2] [--images N | --steps N] "
              "[--backend local|ray] [--address ADDR] [--workers N] --out OUT [run config flags]", epilog=epilog)
    sweep.set_defaults(run=functools.partial(sweep_command, sweep))
    sweep.add_argument("--grid", action="append", default=[], metavar="KNOB=V1,V2,...",
                       help="a knob and its values (repeat for more knobs; the runs are their product)")
    sweep.add_argument("--seeds", metavar="S1,S2,...", help="seeds of every grid point (default: --seed)")
    sweep.add_argument("--images", type=positive_int, metavar="INT",
                       help="budget in training images: steps = ceil(images / batch_size), so every batch size "
                            "sees the same data (instead of --steps)")
    sweep.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local: worker processes on this machine (default); ray: tasks on a Ray cluster")
    sweep.add_argument("--address", help="Ray cluster address (host:port, or auto); default $RAY_ADDRESS")
    sweep.add_argument("--workers", type=positive_int, metavar="INT",
                       help="local worker processes (default: one per core); ray: most runs in flight")
    sweep.add_argument("--threads", type=positive_int, metavar="INT",
                       help="torch threads per run (default 1). Results repeat bitwise only at the same count")
    sweep.add_argument("--records", metavar="DIR", help="also save each run's full record (.npz) in this folder, "
                       "named by its grid values and seed")
    sweep.add_argument("--out", required=True, help="the sweep file (.npz); an existing one is resumed")
    add_config_flags(sweep)


def parse_grid(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, tuple[str, ...]]:
    grid = {}
    for item in items:
        knob, sep, values = item.partition("=")
        knob = knob.strip().replace("-", "_")
        if not sep or not knob or not values.strip():
            parser.error(f"argument --grid: {item!r} is not allowed: KNOB=V1,V2,... (e.g. batch_size=8,32)")
        if knob in grid:
            parser.error(f"argument --grid: {knob} given twice; list all its values in one --grid")
        grid[knob] = tuple(v.strip() for v in values.split(","))
    if not grid:
        parser.error("argument --grid: at least one --grid KNOB=V1,V2,... is required")
    return grid


def build_sweep(parser: argparse.ArgumentParser, args: argparse.Namespace):
    from bnviz.sweep import Sweep

    if args.images and args.steps is not None:
        parser.error("argument --images: not allowed with --steps: give one budget")
    base = config_from_args(parser, args)
    seeds = (base.seed,)
    if args.seeds is not None:
        if args.seed is not None:
            parser.error("argument --seeds: not allowed with --seed")
        try:
            seeds = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            parser.error(f"argument --seeds: {args.seeds!r} is not allowed: comma-separated ints, e.g. 0,1,2")
    sweep = Sweep(base, parse_grid(parser, args.grid), seeds, images=args.images)
    try:
        return sweep, sweep.configs()
    except ConfigError as err:
        name = "--grid " + err.field if err.field in sweep.grid else None
        if name is None:
            fail_flag(parser, err)
        parser.error(f"argument {name}: {err.value!r} is not allowed: {err.allowed}")


def sweep_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    sweep, configs = build_sweep(parser, args)
    out = Path(args.out)
    if not out.parent.is_dir():
        parser.error(f"argument --out: folder {str(out.parent)!r} does not exist")
    if args.records and not Path(args.records).is_dir():
        parser.error(f"argument --records: folder {args.records!r} does not exist")
    from tqdm import tqdm

    from bnviz import sweep_file
    from bnviz.backends import make_backend
    from bnviz.sweep_run import SweepRun

    try:
        backend = make_backend(args.backend, args.workers, args.threads, args.address, bool(args.records))
        previous = sweep_file.load(out)[1] if out.exists() else []
    except ConfigError as err:
        fail_flag(parser, err)
    except RecordError as err:
        print(f"error: --out {out} exists but cannot be resumed: {err}", file=sys.stderr)
        return 1
    def on_result(result):
        if result.record is not None:
            result.record.save(Path(args.records) / (_where(result, sweep).replace(" ", "_") + ".npz"))
        sweep_file.save(out, run.results(), sweep, backend.name)

    run = SweepRun(sweep, configs, previous, on_result=on_result)
    kept = len(run.done)
    print(f"{len(configs)} runs ({kept} already in {out}, resuming); {backend.describe()}", file=sys.stderr)
    with tqdm(total=len(configs), initial=kept, unit="run", file=sys.stderr, dynamic_ncols=True) as bar:
        run.on_progress = lambda result: bar.update(1)
        try:
            run.run(backend)
        except KeyboardInterrupt:
            bar.close()
            print(f"\nstopped: {len(run.done)} of {len(configs)} runs saved in {out}; rerun the same command "
                  "to resume", file=sys.stderr)
            return EXIT_STOPPED
        except ConfigError as err:  # e.g. no Ray cluster at --address
            fail_flag(parser, err)
    if not run.done or not out.exists():
        sweep_file.save(out, run.results(), sweep, backend.name)
    counts = {s: sum(r.status == s for r in run.results()) for s in ("finished", "diverged", "failed")}
    print(f"{len(configs)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f"; saved {out}")
    for r in run.results():
        if r.status != "finished":
            print(f"  {r.status}: {_where(r, sweep)}: {r.message}", file=sys.stderr)
    return 0


def _where(result, sweep) -> str:
    params = result.config.to_params()
    return " ".join(f"{k}={params[k]}" for k in (*sweep.grid, "seed"))
