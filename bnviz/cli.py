"""`python -m bnviz`: train a run headless into a record file, or inspect a record (as text or JSON).

Exit codes: 0 the run finished, or diverged (a diverged run is a result: its record is saved and the message
names the step); 130 stopped by Ctrl-C (the record so far is saved, status 'stopped'); 2 a bad flag;
1 a file that cannot be read or written, or a dataset that cannot be loaded.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from pathlib import Path

from bnviz.config import FIELDS, ConfigError, RunConfig
from bnviz.record import RecordError, RunRecord
from bnviz.summary import final_test_accuracy, median_ms_per_step, summarize

CHUNK = 5  # steps per trainer.step() call: Ctrl-C is honoured between chunks, so at most this many steps late
EXIT_STOPPED = 130  # the shell's code for a command ended by SIGINT

EPILOG = ("exit codes: 0 finished or diverged (the record is saved either way; a divergence is reported with "
          "its step), 130 stopped with Ctrl-C (record saved, status 'stopped'), 2 bad flag, 1 unreadable file or "
          "dataset.")


def flag(field: str) -> str:
    """The CLI flag of a RunConfig field: batch_size -> --batch-size."""
    return "--" + field.replace("_", "-")


# --- parser -------------------------------------------------------------------------------------
def add_config_flags(parser: argparse.ArgumentParser):
    """One flag per RunConfig field, read from FIELDS so the CLI cannot drift from the config.

    Values stay strings here and are parsed by `FIELDS[name].parse`, exactly as URL parameters are.
    """
    defaults = RunConfig().to_params()
    group = parser.add_argument_group("run config (every RunConfig field; defaults reproduce the article)")
    for name, spec in FIELDS.items():
        text = f"{spec.help}. Allowed: {spec.allowed()}. Default: {defaults[name]}"
        if spec.kind is bool:
            group.add_argument(flag(name), dest=name, nargs="?", const="true", metavar="true|false",
                               help=text + f" ({flag(name)} alone means true)")
            group.add_argument("--no-" + flag(name)[2:], dest=name, action="store_const", const="false",
                               help=f"same as {flag(name)} false")
        else:
            metavar = "{" + ",".join(spec.choices) + "}" if spec.choices else spec.kind.__name__.upper()
            metavar += f"|{spec.none_word}" if spec.optional else ""
            group.add_argument(flag(name), dest=name, metavar=metavar, help=text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: an int >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bnviz", description="bnviz: BatchNorm, seen from inside. "
                                     "Train a run headless, or inspect a saved run record.", epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,inspect}")
    train = commands.add_parser("train", help="train one run and save its record (.npz)",
                                description="Train one run on the chosen dataset and save its record.",
                                usage="python -m bnviz train [--out OUT] [run config flags, listed below]",
                                epilog=EPILOG)
    train.set_defaults(run=functools.partial(train_command, train))
    train.add_argument("--out", default="run.npz", help="where to save the record (default: run.npz)")
    train.add_argument("--threads", type=positive_int, metavar="INT",
                       help="CPU threads for torch (default: torch's choice, one per core). On a busy shared "
                            "machine 1 can be several times faster. Runs repeat exactly only at the same thread count")
    add_config_flags(train)
    inspect = commands.add_parser("inspect", help="summarize a saved record",
                                  description="Summarize a run record saved by `train` or the app.")
    inspect.add_argument("record", help="a record file (.npz)")
    inspect.add_argument("--json", action="store_true",
                         help="print one JSON object (config, status, losses, accuracies, pre/post statistics "
                              "per norm site, gradient norms per layer); non-finite numbers are null")
    inspect.set_defaults(run=inspect_command)
    return parser


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RunConfig:
    params = {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}
    try:
        return RunConfig.from_params(params)
    except ConfigError as err:
        fail_flag(parser, err)


def fail_flag(parser: argparse.ArgumentParser, err: ConfigError):
    """Exit 2 with a message naming the flag (not the field) and what is allowed."""
    parser.error(f"argument {flag(err.field)}: {err.value!r} is not allowed: {err.allowed}")


# --- train --------------------------------------------------------------------------------------
class StopRequest:
    """Turns the first Ctrl-C into a request honoured between chunks, so the record stays consistent."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread, where signals never arrive anyway
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: out now, mid-step, so the record is not saved
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nstopping after this chunk of steps and saving the record "
                         "(Ctrl-C again to quit without saving)\n")

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def train_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    cfg = config_from_args(parser, args)
    out = Path(args.out)
    if not out.parent.is_dir():  # fail now, not after the whole run
        parser.error(f"argument --out: folder {str(out.parent)!r} does not exist")
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
            record = trainer.step(CHUNK)
            # Reading a column joins its pending rows (a copy): once a second keeps long runs linear.
            if len(record.steps) and time.perf_counter() - shown > 1.0:
                bar.set_postfix(loss=f"{record.steps['loss'][-1]:.4g}", refresh=False)
                shown = time.perf_counter()
            bar.update(len(record.steps) - bar.n)
        if not trainer.done:
            trainer.stop()
    wall = time.perf_counter() - started
    record = trainer.record
    try:
        record.save(out)
    except OSError as err:
        print(f"error: could not save the record to {out}: {err}", file=sys.stderr)
        return 1
    print(summary_line(record, wall, out))
    return EXIT_STOPPED if record.status == "stopped" else 0


def summary_line(record: RunRecord, wall_s: float, out: Path) -> str:
    """steps, final train loss, test accuracy, median ms/step and status, in one line."""
    # The raw last loss, so a diverged run shows nan/inf rather than n/a.
    loss = float(record.steps["loss"][-1]) if len(record.steps) else None
    acc, ms = final_test_accuracy(record), median_ms_per_step(record)
    parts = [f"{len(record.steps)}/{record.config.steps} steps",
             f"final train loss {loss:.4g}" if loss is not None else "final train loss n/a",
             f"test accuracy {acc:.2%}" if acc is not None else "test accuracy n/a (not evaluated yet)",
             f"{ms:.1f} ms/step (median)" if ms is not None else "ms/step n/a",
             f"{wall_s:.1f} s", f"saved {out}"]
    return f"{status_text(record)}: " + ", ".join(parts)


def status_text(record: RunRecord) -> str:
    if record.status == "diverged":
        return f"diverged at step {record.status_step} (the loss became NaN or Inf; the record stops there)"
    if record.status == "stopped":
        return f"stopped at step {record.status_step}"
    return record.status


# --- inspect ------------------------------------------------------------------------------------
def inspect_command(args: argparse.Namespace) -> int:
    try:
        record = RunRecord.load(args.record)
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OSError) as err:
        # A file crafted past the loader's checks: still a clean refusal, never a traceback.
        print(f"error: {args.record}: not a valid bnviz record ({type(err).__name__}: {err})", file=sys.stderr)
        return 1
    summary = summarize(record)
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        print(describe(summary, args.record))
    return 0


def describe(summary: dict, origin: str) -> str:
    """A human-readable summary of `summarize(record)`."""
    def num(value, fmt="{:.4g}"):  # None stands for a non-finite number (see summarize)
        return "non-finite" if value is None else fmt.format(value)

    status = summary["status"] + (f" at step {summary['status_step']}" if summary["status_step"] is not None else "")
    ms = summary["ms_per_step"]
    lines = [f"{origin}: bnviz record, schema {summary['schema']}, {status}",
             f"steps {summary['steps']}/{summary['config']['steps']}, "
             f"final train loss {num(summary['final_train_loss']) if summary['train_loss'] else 'n/a'}, "
             f"test accuracy {num(summary['final_test_accuracy'], '{:.2%}') if summary['test_accuracy'] else 'n/a'} "
             f"({len(summary['test_accuracy'])} evaluation(s)), "
             f"{'n/a' if ms is None else f'{ms:.1f}'} ms/step (median)",
             "config: " + " ".join(f"{flag(k)}={v}" for k, v in RunConfig(**summary["config"]).to_params().items())]
    n_snap = len(summary["snapshot_step"])
    last = f"last snapshot (step {summary['snapshot_step'][-1]})" if n_snap else "no snapshots yet"
    lines.append(f"norm sites, {n_snap} snapshots; {last}: mean / std / p15 p50 p85 of the norm's input and output")
    for site, stats in summary["sites"].items():
        lines.append(f"  {site} ({stats['channels']} channels{', BatchNorm' if stats['batchnorm'] else ''})")
        for kind in ("pre", "post") if n_snap else ():
            mean, std, *percentiles = (stats[kind][k][-1] for k in ("mean", "std", "p15", "p50", "p85"))
            lines.append(f"    {kind:<4} {num(mean)} / {num(std)} / " + " ".join(num(p) for p in percentiles))
    lines.append("gradient norm (L2 of the weight gradient): first step -> last step")
    for layer, norms in summary["grad_norms"].items():
        lines.append(f"  {layer:<12} {num(norms[0]) if norms else 'n/a'} -> {num(norms[-1]) if norms else 'n/a'}")
    return "\n".join(lines)


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
