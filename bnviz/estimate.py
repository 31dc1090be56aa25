"""How long a run will take before it starts: ms per step measured on this server, by model and batch size."""

from __future__ import annotations

import threading

from bnviz.config import RunConfig

# Where this server has measured nothing yet: ms per step = fixed + per_image * batch_size, fitted to runs on
# the 2-core development machine under load (one torch thread; `seed_cnn` 512 x 500 steps took ~9 min).
FALLBACK_MS = {"seed_cnn": (20.0, 2.05), "mlp": (8.0, 0.056)}


class StepTimes:
    """The last measured ms/step of each (model, normalized, batch size) on this server, shared by all sessions."""

    def __init__(self):
        self._ms: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def observe(self, cfg: RunConfig, steps_per_s: float):
        with self._lock:
            self._ms[(cfg.model, cfg.normalized, cfg.batch_size)] = 1000.0 / steps_per_s

    def estimate(self, cfg: RunConfig) -> tuple[float, str]:
        """(seconds for cfg.steps steps, the basis of the estimate in words)."""
        with self._lock:
            same = {key[2]: ms for key, ms in self._ms.items() if key[:2] == (cfg.model, cfg.normalized)}
        if cfg.batch_size in same:
            ms, basis = same[cfg.batch_size], f"measured in a run of this model at batch {cfg.batch_size} here"
        elif same:
            nearest = min(same, key=lambda b: abs(b - cfg.batch_size))
            fixed, per_image = FALLBACK_MS[cfg.model]
            # The measured rate, scaled by the fallback model's ratio between the two batch sizes.
            ms = same[nearest] * (fixed + per_image * cfg.batch_size) / (fixed + per_image * nearest)
            basis = f"scaled from a run at batch {nearest} here"
        else:
            fixed, per_image = FALLBACK_MS[cfg.model]
            ms, basis = fixed + per_image * cfg.batch_size, "a rough model of a 2-core machine; no run here yet"
        return ms * cfg.steps / 1000.0, basis
