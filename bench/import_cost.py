"""Seconds to import torch, then bnviz.trainer, measured in a fresh interpreter (this module imports neither)."""

from __future__ import annotations

import sys
import time


def import_cost(job: dict) -> dict:
    already = [name for name in ("torch", "bnviz.trainer") if name in sys.modules]
    start = time.perf_counter()
    import torch  # noqa: F401
    mid = time.perf_counter()
    import bnviz.trainer  # noqa: F401
    return dict(job, torch_s=mid - start, bnviz_trainer_s=time.perf_counter() - mid, already_imported=already)
