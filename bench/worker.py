"""Runs benchmark jobs, each in a fresh process: forked from a parent that has only imported its module.

`python -m bench.worker --serve MODULE` imports MODULE once (torch, bnviz, keras: seconds of CPU), then
for each JSON job read from stdin forks a child that runs `MODULE.<job["task"]>(job)` and answers one JSON
line. The parent itself runs no tensor op, so every child starts with no thread pool, a default
floating-point environment and an empty allocator, as a new interpreter would, without paying the imports
again. `python -m bench.worker --once MODULE JOB` runs a single job in this process instead (`--spawn`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback


def run_job(module, job: dict) -> dict:
    try:
        return {"ok": True, "result": getattr(module, job.get("task", "measure"))(job)}
    except BaseException:  # noqa: BLE001  reported to the driver, which decides
        return {"ok": False, "error": traceback.format_exc()}


def serve(module, answers):
    for line in sys.stdin:
        job = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            with os.fdopen(write_end, "w") as pipe:
                pipe.write(json.dumps(run_job(module, job)))
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)  # skip the parent's atexit handlers and buffers
        os.close(write_end)
        with os.fdopen(read_end) as pipe:
            text = pipe.read()
        _, status = os.waitpid(pid, 0)
        if not text:
            text = json.dumps({"ok": False, "error": f"job process died: wait status {status}"})
        answers.write(text + "\n")
        answers.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("--serve", action="store_true", help="answer JSON jobs from stdin, one fork each")
    parser.add_argument("--once", metavar="JOB", help="run this JSON job here and print its answer")
    args = parser.parse_args()
    # Answers go to a private copy of stdout; anything a library prints goes to stderr (the log).
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    module = importlib.import_module(args.module)
    if args.once:
        answers.write(json.dumps(run_job(module, json.loads(args.once))) + "\n")
    else:
        serve(module, answers)


if __name__ == "__main__":
    main()
