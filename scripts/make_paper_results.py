"""Run the paper reproductions at their full budget and write the shipped results (bnviz/assets/papers/NAME.json),
each with the command, commit, budget and wall time that made it, so the Papers page draws them instantly.

    .venv/bin/python scripts/make_paper_results.py                  # every reproduction, full budget
    .venv/bin/python scripts/make_paper_results.py ioffe2015 --budget quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bnviz import papers  # noqa: E402


def commit() -> str:
    """The commit the results come from, with '+dirty' when the working tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "bnviz", "scripts"], cwd=root,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"reproductions (default: all of {', '.join(papers.names())})")
    parser.add_argument("--budget", default="full", choices=papers.BUDGETS)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in papers.names()]
    if unknown:
        parser.error(f"unknown reproduction(s) {unknown}: one of {', '.join(papers.names())}")
    if args.threads:
        torch.set_num_threads(args.threads)
    papers.SHIPPED.mkdir(parents=True, exist_ok=True)
    made_from = commit()  # now, while the code this process imported is the checked-out code
    from bnviz.backends import make_backend

    backend = make_backend("local", threads=args.threads)  # a grid: one worker per core, --threads each
    for name in args.names or papers.names():
        started = time.perf_counter()
        result = papers.run(name, args.budget, backend=backend)
        result["provenance"] = {
            "command": "python scripts/make_paper_results.py " + shlex.join([name, "--budget", args.budget]
                                                                            + (["--threads", str(args.threads)]
                                                                               if args.threads else [])),
            "commit": made_from, "budget": args.budget, "wall_s": round(time.perf_counter() - started, 1),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "engine": backend.describe() if papers.get(name).grid else "compare engine: arms in lockstep, this process",
            "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        path = papers.SHIPPED / f"{name}.json"
        path.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
        print(f"{name}: {result['verdict']} ({result['provenance']['wall_s']} s) -> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
