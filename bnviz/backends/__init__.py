"""Where a sweep's runs train: one small interface, `results(configs)` yielding RunResults as runs finish.

`local` (default) is a pool of worker processes on this machine; `ray` sends the same runs as Ray tasks to
an existing cluster. Both call `bnviz.sweep.train_run` with torch set to the same thread count, so the same
config gives bitwise the same result on either. Callers (CLI, page) never know which one runs their work.
"""

from __future__ import annotations

import os
from typing import Iterator, Protocol

from bnviz.config import ConfigError, RunConfig
from bnviz.sweep import RunResult

BACKENDS = ("local", "ray")


class Backend(Protocol):
    name: str
    threads: int  # torch threads per run

    def results(self, configs: list[RunConfig], stop=None) -> Iterator[RunResult]:
        """Train every config; yield each result as it finishes (any order). Closing the iterator, or setting
        `stop` (a threading.Event, checked a few times a second), cancels the runs pending and frees the workers."""

    def describe(self) -> str:
        """One line for a user: which backend, how many workers, threads each."""


def local_layout(workers: int | None = None, threads: int | None = None,
                 cores: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) with workers x threads <= cores: by default one 1-thread worker per core."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = threads or (max(1, cores // workers) if workers else 1)
    workers = workers or max(1, cores // threads)
    if workers * threads > cores:
        raise ConfigError("workers", workers, f"workers x threads ({workers} x {threads}) must be <= the "
                          f"{cores} cores here")
    return workers, threads


def make_backend(name: str = "local", workers: int | None = None, threads: int | None = None,
                 address: str | None = None, keep_record: bool = False, finish=None,
                 probe=None) -> Backend:
    """The backend `name` (keep_record: results carry their full RunRecord; finish, probe: bnviz.sweep.train_run's,
    their numbers in each result's `extra`); `ray` needs an address (`address`, else $RAY_ADDRESS): it never starts a
    cluster."""
    if name == "local":
        from bnviz.backends.local import LocalBackend

        return LocalBackend(*local_layout(workers, threads), keep_record=keep_record, finish=finish, probe=probe)
    if name == "ray":
        from bnviz.backends.ray import RayBackend

        return RayBackend(address or os.environ.get("RAY_ADDRESS"), threads or 1, workers, keep_record, finish, probe)
    raise ConfigError("backend", name, f"one of {', '.join(BACKENDS)}")
