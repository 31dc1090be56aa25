"""`python -m bnviz train`: train one run headless and save its record."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from bnviz.cli.flags import add_config_flags, config_from_args, fail_flag, positive_int
from bnviz.cli.stopping import EXIT_STOPPED, EXIT_TERMINATED, StopRequest
from bnviz.config import ConfigError
from bnviz.record import RunRecord
from bnviz.summary import final_test_accuracy, median_ms_per_step

CHUNK = 5  # steps per trainer.step() call: Ctrl-C is honoured between chunks, so at most this many steps late


def add(commands, epilog: str):
    """Register the `train` subcommand."""
    train = commands.add_parser("train", help="train one run and save its record (.npz)",
                                description="Train one run on the chosen dataset and save its record.",
                                usage="python -m bnviz train [--out OUT] [run config flags, listed below]",
                                epilog=epilog)
    train.set_defaults(run=functools.partial(train_command, train))
    train.add_argument("--out", default="run.npz", help="where to save the record (default: run.npz)")
    train.add_argument("--threads", type=positive_int, metavar="INT",
                       help="CPU threads for torch (default: torch's choice, one per core). On a busy shared "
                            "machine 1 can be several times faster. Runs repeat exactly only at the same thread count")
    add_config_flags(train)


def train_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    cfg = config_from_args(parser, args)
    out = Path(args.out)
    if not out.parent.is_dir():  # fail now, not after the whole run
        parser.error(f"argument --out: folder {str(out.parent)!r} does not exist")
    try:  # creating a file is the only test that also holds for root (who passes every permission check)
        fd, probe = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        print(f"error: cannot write the record in folder {str(out.parent)!r}: {err}; nothing was trained",
              file=sys.stderr)
        return 1
    # Imported here so that --help and `inspect` start without loading torch.
    import torch
    from tqdm import tqdm

    from bnviz.data import DatasetUnavailable
    from bnviz.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        trainer = Trainer(cfg)
    except ConfigError as err:  # e.g. --device cuda on a machine without it
        fail_flag(parser, err)
    except DatasetUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    started = shown = time.perf_counter()
    with StopRequest() as stop, tqdm(total=cfg.steps, unit="step", file=sys.stderr, dynamic_ncols=True) as bar:
        while not trainer.done and not stop.requested:
            try:
                record = trainer.step(CHUNK)
            except Exception:  # noqa: BLE001  the trainer marked its record failed: save it, report, exit 1
                break
            # Reading a column joins its pending rows (a copy): once a second keeps long runs linear.
            if len(record.steps) and time.perf_counter() - shown > 1.0:
                bar.set_postfix(loss=f"{record.steps['loss'][-1]:.4g}", mode=trainer.mode, refresh=False)
                shown = time.perf_counter()
            bar.update(len(record.steps) - bar.n)
        if not trainer.done:
            trainer.stop()
    wall = time.perf_counter() - started
    record = trainer.record
    try:
        record.save(out)
    except OSError as err:
        print(f"error: could not save the record to {out}: {err}; nothing was written there", file=sys.stderr)
        return 1
    print(summary_line(record, wall, out))
    if record.status == "failed":
        print(f"error: training failed at step {record.status_step}: {record.message}; the record so far is "
              f"saved to {out}", file=sys.stderr)
        return 1
    if record.status == "stopped":
        return EXIT_TERMINATED if stop.signal == signal.SIGTERM else EXIT_STOPPED
    return 0


def summary_line(record: RunRecord, wall_s: float, out: Path) -> str:
    """steps, final train loss, test accuracy, median ms/step and status, in one line."""
    # The raw last loss, so a diverged run shows nan/inf rather than n/a.
    loss = float(record.steps["loss"][-1]) if len(record.steps) else None
    acc, ms = final_test_accuracy(record), median_ms_per_step(record)
    # A diverged run names one step, the one whose loss was not finite (the record's last row), as the
    # lab's progress line, its banner and `inspect` do; not a count that reads as another step.
    done = (f"steps 0-{record.status_step} of {record.config.steps}" if record.status == "diverged"
            else f"{len(record.steps)}/{record.config.steps} steps")
    parts = [done,
             f"final train loss {loss:.4g}" if loss is not None else "final train loss n/a",
             f"test accuracy {acc:.2%}" if acc is not None else "test accuracy n/a (not evaluated yet)",
             f"{ms:.1f} ms/step (median)" if ms is not None else "ms/step n/a",
             f"{wall_s:.1f} s", *([f"plain steps {record.mode}"] if record.mode else []), f"saved {out}"]
    return f"{status_text(record)}: " + ", ".join(parts)


def status_text(record: RunRecord) -> str:
    if record.status == "diverged":
        return f"diverged at step {record.status_step} (the loss became NaN or Inf; the record stops there)"
    if record.status == "stopped":
        return f"stopped at step {record.status_step}"
    if record.status == "failed":
        return f"failed at step {record.status_step} ({record.message})"
    return record.status
