"""`python -m bnviz reproduce NAME`: run one paper reproduction, print its verdict (or JSON) and save the result."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

BACKENDS = ("local", "ray")


def add(commands, epilog: str):
    """Register the `reproduce` subcommand."""
    # bnviz.papers imports torch: not here, so that --help and the other commands start without it.
    reproduce = commands.add_parser(
        "reproduce", help="reproduce a paper's result and judge it", epilog=epilog,
        description="Run one of the paper reproductions (names: --list) and print the paper's numbers, ours and "
                    "the verdict computed from ours.")
    reproduce.set_defaults(run=functools.partial(reproduce_command, reproduce))
    reproduce.add_argument("name", nargs="?", help="the reproduction (see --list)")
    reproduce.add_argument("--list", action="store_true", help="name the reproductions and their claims, then exit")
    size = reproduce.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="budget", action="store_const", const="quick",
                      help="the miniature (<= 60 s on 2 idle cores; the default)")
    size.add_argument("--full", dest="budget", action="store_const", const="full",
                      help="the full budget, as the shipped results (minutes)")
    size.add_argument("--test", dest="budget", action="store_const", const="test", help=argparse.SUPPRESS)
    reproduce.add_argument("--backend", default="local",
                           help="where the runs execute (the sweep engine's backends): local (default: arms in "
                                "lockstep in this process, a grid on a pool of worker processes) or ray (every run "
                                "a task on the Ray cluster at --address)")
    reproduce.add_argument("--address", help="Ray cluster address (host:port, or auto); default $RAY_ADDRESS")
    reproduce.add_argument("--workers", type=int, metavar="INT",
                           help="local: worker processes for a grid (default: one per core); ray: runs in flight")
    reproduce.add_argument("--out", help="save the result as JSON here")
    reproduce.add_argument("--json", action="store_true",
                           help='print {"name", "claim", "paper", "measured", "threshold", "holds", ...} as JSON')
    reproduce.add_argument("--threads", type=int, metavar="INT", help="CPU threads for torch (default: torch's)")


def reproduce_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from bnviz.papers import get, names

    if args.list:
        for name in names():
            print(f"{name:<14} {get(name).claim}")
        return 0
    if args.name not in names():
        parser.error(f"argument NAME: {args.name!r} is not allowed: one of {', '.join(names())} (or --list)")
    if args.backend not in BACKENDS:
        parser.error(f"argument --backend: {args.backend!r} is not allowed: one of {', '.join(BACKENDS)}")
    for flag in ("threads", "workers"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"argument --{flag}: {getattr(args, flag)!r} is not allowed: an int >= 1")
    out = Path(args.out) if args.out else None
    if out and not out.parent.is_dir():
        parser.error(f"argument --out: folder {str(out.parent)!r} does not exist")
    import torch
    from tqdm import tqdm

    from bnviz.backends import make_backend
    from bnviz.config import ConfigError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        backend = make_backend(args.backend, args.workers, args.threads, args.address)
    except ConfigError as err:
        parser.error(f"argument --{err.field}: {err}")
    where = backend.describe() if get(args.name).grid or backend.name != "local" else "arms in lockstep, this process"
    print(f"{args.name}: {where}", file=sys.stderr)
    with tqdm(unit="step", file=sys.stderr, dynamic_ncols=True, desc=args.name) as bar:
        def progress(runs, done, total):
            bar.total = total
            bar.update(done - bar.n)
        try:
            result = get(args.name).run(args.budget or "quick", progress, backend)
        except ConfigError as err:  # e.g. no Ray cluster answers at --address
            print(f"error: {err}", file=sys.stderr)
            return 2
    if out:
        try:
            out.write_text(json.dumps(result, indent=1, allow_nan=False))
        except OSError as err:
            print(f"error: could not save the result to {out}: {err}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(f"{args.name} ({result['budget']}, {result['runs']} runs, {result['wall_s']} s): {result['verdict']}")
        print(f"threshold: {result['threshold']}")
    return 0
