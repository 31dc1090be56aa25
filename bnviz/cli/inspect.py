"""`python -m bnviz inspect`: summarize a saved record, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from bnviz.cli.flags import flag
from bnviz.config import RunConfig
from bnviz.compare_summary import summarize_comparison
from bnviz.comparison_record import ComparisonRecord
from bnviz.record import RecordError, RunRecord, read_meta, read_npz
from bnviz.summary import summarize


def add(commands, epilog: str):
    """Register the `inspect` subcommand."""
    inspect = commands.add_parser("inspect", help="summarize a saved record",
                                  description="Summarize a run record or a comparison saved by `train`, "
                                              "`compare` or the app.")
    inspect.add_argument("record", help="a record file (.npz)")
    inspect.add_argument("--json", action="store_true",
                         help="print one JSON object (config, status, losses, accuracies, pre/post statistics "
                              "per norm site, gradient norms per layer); non-finite numbers are null")
    inspect.set_defaults(run=inspect_command)


def inspect_command(args: argparse.Namespace) -> int:
    """Read the file once, then hand it to the inspector of its meta's kind."""
    try:
        arrays = read_npz(args.record)
        kind = read_meta(arrays, args.record).get("kind", "run")
        if kind not in INSPECTORS:
            raise RecordError(f"{args.record}: unknown kind {kind!r}; this bnviz reads {', '.join(INSPECTORS)}")
        return INSPECTORS[kind](arrays, args)
    except RecordError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OSError) as err:
        # A file crafted past the loader's checks: still a clean refusal, never a traceback.
        print(f"error: {args.record}: not a valid bnviz record ({type(err).__name__}: {err})", file=sys.stderr)
        return 1


def inspect_run(arrays: dict, args: argparse.Namespace) -> int:
    summary = summarize(RunRecord.from_arrays(arrays, args.record))
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        print(describe(summary, args.record))
    return 0


def inspect_comparison(arrays: dict, args: argparse.Namespace) -> int:
    summary = summarize_comparison(ComparisonRecord.from_arrays(arrays, args.record))
    print(json.dumps(summary, allow_nan=False) if args.json else describe_comparison(summary, args.record))
    return 0


def describe_comparison(summary: dict, origin: str) -> str:
    """Each arm as `describe` writes a run, under its label, then the verdict."""
    lines = [f"{origin}: bnviz comparison, {len(summary['arms'])} arms, {summary['status']}"]
    for arm in summary["arms"]:
        status = arm["status"] + (f" ({arm['message']})" if arm["message"] else "")
        lines += ["", f"== arm {arm['label']!r}: {status}",
                  describe(arm, origin).split("\n", 1)[1]]
    lines += ["", "verdict: " + summary["verdict"]]
    return "\n".join(lines)


def describe(summary: dict, origin: str) -> str:
    """A human-readable summary of `summarize(record)`."""
    def num(value, fmt="{:.4g}"):  # None stands for a non-finite number (see summarize)
        return "non-finite" if value is None else fmt.format(value)

    status = summary["status"] + (f" at step {summary['status_step']}" if summary["status_step"] is not None else "")
    status += f" ({summary['message']})" if summary.get("message") else ""
    ms = summary["ms_per_step"]
    lines = [f"{origin}: bnviz record, schema {summary['schema']}, {status}",
             (f"steps 0-{summary['status_step']} of {summary['config']['steps']}, " if summary["status"] == "diverged"
              else f"steps {summary['steps']}/{summary['config']['steps']}, ") +
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


def inspect_sweep(arrays: dict, args: argparse.Namespace) -> int:
    from bnviz import sweep_file

    summary = sweep_file.summary(sweep_file.results_of(arrays, args.record))
    if args.json:
        print(json.dumps(summary, allow_nan=False))
        return 0
    runs = summary["runs"]
    print(f"{args.record}: bnviz sweep, {len(runs)} runs")
    for run in runs:
        acc = run["final"]["test_acc"]
        config = " ".join(f"{k}={v}" for k, v in run["config"].items()
                          if k in ("norm", "batch_size", "lr", "seed", "steps"))
        print(f"  {config}: {run['status']}, test accuracy {'n/a' if acc is None else f'{acc:.2%}'}"
              + (f" ({run['message']})" if run["message"] else ""))
    return 0


# meta "kind" -> inspector(arrays, args): a new kind of file adds one function and one entry.
INSPECTORS = {"run": inspect_run, "comparison": inspect_comparison, "sweep": inspect_sweep}
