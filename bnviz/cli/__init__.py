"""`python -m bnviz`: headless commands, one module each (train, inspect, ...), registered in COMMANDS.

Exit codes: 0 the run finished, or diverged (a diverged run is a result: its record is saved and the message
names the step); 130 stopped by Ctrl-C, 143 by SIGTERM (the record so far is saved, status 'stopped');
2 a bad flag; 1 a file that cannot be read or written, a dataset that cannot be loaded, or a training step
that raised (the record so far is saved, status 'failed', with the message).
"""

from __future__ import annotations

import argparse
import os
import sys

from bnviz.cli import compare, inspect, reproduce, sweep, train
from bnviz.cli.flags import config_from_args, flag
from bnviz.cli.stopping import EXIT_STOPPED, EXIT_TERMINATED, StopRequest
from bnviz.cli.train import CHUNK

# Each command module has `add(commands, epilog)`, which registers its subparser and sets `run`.
COMMANDS = (train, compare, sweep, reproduce, inspect)

EPILOG = ("exit codes: 0 finished or diverged (the record is saved either way; a divergence is reported with "
          "its step), 130 stopped with Ctrl-C and 143 with SIGTERM (record saved, status 'stopped'), 2 bad flag, "
          "1 unreadable or unwritable file, unavailable dataset, or a failed training step (record saved, status "
          "'failed').")


def build_parser() -> argparse.ArgumentParser:
    names = ",".join(module.__name__.rsplit(".", 1)[-1] for module in COMMANDS)
    parser = argparse.ArgumentParser(prog="python -m bnviz", description="bnviz: BatchNorm, seen from inside. "
                                     "Train a run, a comparison or a sweep headless, reproduce a paper's result, "
                                     "or inspect a saved file.", epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{" + names + "}")
    for module in COMMANDS:
        module.add(commands, EPILOG)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C during it
        print("\ninterrupted; no record saved", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:  # e.g. `inspect --json | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # Python's documented fix: no second error at exit
        return 0


__all__ = ["CHUNK", "COMMANDS", "EXIT_STOPPED", "EXIT_TERMINATED", "StopRequest", "build_parser", "config_from_args", "flag", "main"]
