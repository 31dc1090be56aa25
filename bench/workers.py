"""The driver's side of bench.worker: one long-lived parent per module, one fresh process per job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Workers:
    """Runs jobs in fresh processes: forked from a per-module parent (default) or spawned (`spawn=True`)."""

    def __init__(self, log_dir: Path, spawn: bool = False):
        self.log_dir, self.spawn = log_dir, spawn
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._parents: dict[str, subprocess.Popen] = {}
        self._logs = []
        self._broken: dict[str, str] = {}
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    def run(self, module: str, job: dict) -> dict:
        """The job's result dict, or {"error": ...} (the run goes on without it)."""
        if module in self._broken:
            return {"error": self._broken[module]}
        if self.spawn:
            with open(self._log(module), "a") as log:
                done = subprocess.run([sys.executable, "-m", "bench.worker", module, "--once", json.dumps(job)],
                                      cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True)
            return self._answer(module, done.stdout.strip())
        parent = self._parent(module)
        try:
            parent.stdin.write(json.dumps(job) + "\n")
            parent.stdin.flush()
            line = parent.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            self._broken[module] = f"{module} worker exited (code {parent.poll()}); see {self._log(module)}"
        return self._answer(module, line)

    def _answer(self, module: str, line: str) -> dict:
        if not line:
            return {"error": self._broken.get(module, f"{module}: no answer; see {self._log(module)}")}
        answer = json.loads(line)
        return answer["result"] if answer["ok"] else {"error": answer["error"]}

    def _parent(self, module: str) -> subprocess.Popen:
        if module not in self._parents:
            log = open(self._log(module), "a")
            self._logs.append(log)
            self._parents[module] = subprocess.Popen([sys.executable, "-m", "bench.worker", module, "--serve"],
                                                     cwd=ROOT, env=self.env, stdin=subprocess.PIPE,
                                                     stdout=subprocess.PIPE, stderr=log, text=True)
        return self._parents[module]

    def _log(self, module: str) -> Path:
        return self.log_dir / f"{module.rsplit('.', 1)[-1]}.log"

    def close(self):
        for parent in self._parents.values():
            parent.stdin.close()  # the parent's loop ends at end of input
            parent.wait(timeout=30)
        for log in self._logs:
            log.close()
        self._parents.clear()
        self._logs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
