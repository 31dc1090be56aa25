"""The paper reproductions: a registry by name, their shipped full-budget results, and running one."""

from __future__ import annotations

import json
from pathlib import Path

from bnviz.papers import higher_lr, ioffe2015, santurkar2018, small_batch, wu2018
from bnviz.papers.base import BUDGETS, Reproduction
from bnviz.papers.runs import Progress

REGISTRY: dict[str, Reproduction] = {m.REPRODUCTION.name: m.REPRODUCTION
                                     for m in (ioffe2015, wu2018, higher_lr, small_batch, santurkar2018)}
SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "papers"  # written by scripts/make_paper_results.py


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> Reproduction:
    if name not in REGISTRY:
        raise KeyError(f"no reproduction {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def shipped(name: str) -> dict | None:
    """The shipped result of `name` (with its `provenance`: command, commit, wall time), or None if none ships."""
    path = SHIPPED / f"{get(name).name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def run(name: str, budget: str = "quick", progress: Progress | None = None, backend=None) -> dict:
    """Run `name` at `budget` ("test", "quick" or "full"); `progress(runs, done, total)` after each chunk; a grid
    on `backend` (bnviz.backends.make_backend; default the local pool)."""
    return get(name).run(budget, progress, backend)


__all__ = ["BUDGETS", "REGISTRY", "SHIPPED", "Reproduction", "get", "names", "run", "shipped"]
