"""One browser session's training, without the UI: its run, its last config, and how a new run replaces it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bnviz.config import RunConfig
from bnviz.live import Limiter, LiveRun


@dataclass
class LiveSession:
    """One browser session's training: its run and its last config (the UI keeps the rest: bnviz.ui.session)."""

    config: RunConfig = field(default_factory=RunConfig)
    run: LiveRun | None = None

    def train(self, cfg: RunConfig, limiter: Limiter) -> LiveRun:
        """Resume the paused run of this config, or start a new one (ending any other)."""
        if self.run is not None and self.run.cfg == cfg and self.run.state == "paused":
            self.run.start()
            return self.run
        self.reset()
        self.run = LiveRun(cfg, limiter)
        self.run.start()
        return self.run

    def reset(self):
        if self.run is not None:
            self.run.stop(wait=2.0)
        self.run = None
