"""`python -m bench.run`: bnviz's Trainer vs a bare PyTorch loop vs the article's Keras program, into bench/out/.

Contenders and configs are measured round-robin, each measurement in a fresh process (see bench/worker.py),
and summarized by the median over repeats. Sections: throughput (the table), interleaved (bare loop and Trainer
in one process), drift, denormal, startup
(time to the first record), size (run-record bytes) and browser (the lab in headless Chromium); --only picks
some of them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bench import common, sections
from bench.report import write_markdown
from bench.workers import ROOT, Workers

SECTIONS = ("throughput", "interleaved", "drift", "denormal", "startup", "size", "browser")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 repeat, few steps, short probes")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--repeats", type=int, help="throughput repeats per contender and config (default 5)")
    parser.add_argument("--batch-sizes", default="8,32,128", help="throughput batch sizes")
    parser.add_argument("--norms", default="batch,none", help="throughput norms: batch (BN after act) and none")
    parser.add_argument("--contenders", default=",".join(sections.CONTENDERS), help="throughput contenders")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (throughput; Keras picks the GPU itself)")
    parser.add_argument("--drift-epochs", help="comma-separated run lengths in epochs of 4,000 images (3,10)")
    parser.add_argument("--late-steps", type=int, help="steps trained before the denormal variants (1250)")
    parser.add_argument("--size-steps", type=int, help="steps of the run whose record is measured (500)")
    parser.add_argument("--browser-rounds", type=int, help="rounds of the browser section (default 3)")
    parser.add_argument("--threads", type=int, help="torch threads per process (OMP_NUM_THREADS; default: all cores)")
    parser.add_argument("--spawn", action="store_true", help="start every process from scratch (slow imports)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="output folder")
    args = parser.parse_args(argv)
    args.only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"--only: unknown section {unknown[0]!r}; allowed: {', '.join(SECTIONS)}")
    args.contenders = [c for c in args.contenders.split(",") if c]
    if set(args.contenders) - set(sections.CONTENDERS):
        parser.error(f"--contenders: allowed: {', '.join(sections.CONTENDERS)}")
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    args.norms = args.norms.split(",")
    if set(args.norms) - {"batch", "none"}:
        parser.error("--norms: allowed: batch, none")
    quick = args.quick
    args.repeats = args.repeats or (1 if quick else 5)
    args.warmup = common.QUICK_WARMUP if quick else common.WARMUP
    steps = common.QUICK_STEPS if quick else common.STEPS
    missing = [b for b in args.batch_sizes if b not in steps]
    if missing:
        parser.error(f"--batch-sizes: no step count for {missing}; allowed: {', '.join(map(str, steps))}")
    args.steps = {b: steps[b] for b in args.batch_sizes}
    args.drift_epochs = [int(e) for e in (args.drift_epochs or ("1" if quick else "3,10")).split(",")]
    args.late_steps = args.late_steps or (250 if quick else 1250)
    args.size_steps = args.size_steps or (100 if quick else 500)
    if args.browser_rounds is not None and args.browser_rounds < 1:
        parser.error(f"--browser-rounds: {args.browser_rounds}; allowed: 1 or more")
    args.browser_rounds = args.browser_rounds or (1 if quick else 3)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:  # read by torch at import, so set before any worker starts
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"meta": sections.machine(args), "settings": {
        "quick": args.quick, "repeats": args.repeats, "warmup": args.warmup, "steps": args.steps,
        "device": args.device, "fresh_process": "spawned" if args.spawn else "forked from a per-module parent"}}
    load = results["meta"]["loadavg_start"][0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} before the start: another process is using the CPU; "
              "the figures will be noisy")

    def log(text: str):
        print(f"[{time.perf_counter() - started:7.1f}s] {text}", flush=True)

    with Workers(args.out / "logs", spawn=args.spawn) as workers:
        for name in args.only:
            log(f"--- {name}")
            results[name] = getattr(sections, name)(workers, args, log)
            save(results, args, started)
    save(results, args, started)
    log(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    minutes, seconds = divmod(time.perf_counter() - started, 60)
    print(f"total runtime {int(minutes)} min {seconds:.0f} s")


def save(results: dict, args, started: float):
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["runtime_s"] = round(time.perf_counter() - started, 1)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=_plain) + "\n")
    write_markdown(results, args.out / "results.md")


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(type(value))


if __name__ == "__main__":
    main()
