"""The server's runs by token, so a reload or a second tab of the same browser finds its run again."""

from __future__ import annotations

import secrets
import threading
import time

from bnviz.live import ACTIVE, LiveRun

MAX_RUNS = 64  # entries kept at most; the oldest ended ones go first
ENDED_GRACE_S = 600.0  # an ended run stays findable this long (its charts and downloads survive a reload)


class RunRegistry:
    """Unguessable token -> LiveRun. An entry goes when its run has ended (stopped, finished, diverged,
    failed, or its browser gone past the heartbeat timeout) for ENDED_GRACE_S, or to keep MAX_RUNS."""

    def __init__(self, max_runs: int = MAX_RUNS, grace_s: float = ENDED_GRACE_S):
        self.max_runs, self.grace_s = max_runs, grace_s
        self._runs: dict[str, LiveRun] = {}
        self._ended_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, run: LiveRun) -> str:
        token = secrets.token_urlsafe(16)  # 128 random bits: a run cannot be found by guessing
        with self._lock:
            self._prune(room=1)
            self._runs[token] = run
        return token

    def get(self, token: str | None) -> LiveRun | None:
        with self._lock:
            self._prune()
            return self._runs.get(token) if token else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def _prune(self, room: int = 0):
        now = time.monotonic()
        for token, run in list(self._runs.items()):
            # A paused run has no thread to notice a silent browser: its heartbeat expiring ends it here.
            abandoned = run.state == "paused" and run.silent_s() > run.heartbeat_timeout
            if not abandoned and (run.state in ACTIVE or run.state in ("new", "paused")):
                self._ended_at.pop(token, None)
                continue
            ended = self._ended_at.setdefault(token, now)
            if now - ended >= self.grace_s:
                self._drop(token)
        # Over the bound: ended runs first (oldest first), then the oldest of the rest.
        order = sorted(self._runs, key=lambda t: (t not in self._ended_at, self._ended_at.get(t, 0.0)))
        for token in order[:max(0, len(self._runs) - self.max_runs + room)]:
            self._drop(token)

    def _drop(self, token: str):
        self._runs.pop(token, None)
        self._ended_at.pop(token, None)
