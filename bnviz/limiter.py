"""The server-wide training limiter: a few slots, a first-come queue, and time slices when others wait.

Shared by every browser session (the UI keeps one in st.cache_resource). A ticket is a LiveRun; with a time
slice, a run holding a slot longer than the slice while others wait goes to the back of the queue and
resumes where it was, so every visitor sees their run move.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref

from bnviz import hosting

REAP_EVERY_S = 10.0  # how often idle runs are checked for a browser long gone
SHUTDOWN_MESSAGE = "stopped: the server is shutting down"
TRAINING_NICE = 10  # added to a training thread's nice value: the server (and a browser beside it) go first


def default_limits(cores: int | None = None) -> tuple[int, int]:
    """(concurrent trainings, torch threads each): $BNVIZ_MAX_TRAININGS / $BNVIZ_TRAIN_THREADS, else one
    training per two cores, sharing all cores but one. That core is left to the server and, often, the
    browser on the same machine: a two-thread team stalls at every op when one of its cores is taken
    (measured here: 2.5 vs 14.6 steps/s with two vs one thread on a busy 2-core machine)."""
    cores = cores or os.cpu_count() or 1
    slots = int(os.environ.get("BNVIZ_MAX_TRAININGS") or max(1, cores // 2))
    threads = int(os.environ.get("BNVIZ_TRAIN_THREADS") or max(1, (cores - 1) // slots))
    if slots < 1 or threads < 1:
        raise ValueError(f"BNVIZ_MAX_TRAININGS={slots} and BNVIZ_TRAIN_THREADS={threads} must be >= 1")
    return slots, threads


class Limiter:
    """At most `slots` trainings at once, shared by all sessions; the others wait first come, first served.

    time_slice: seconds a run may hold a slot while others wait (None: until it ends). caps: the hosted
    demo's (bnviz.hosting.Caps) or None. session_ttl: seconds without a heartbeat after which an ended or
    paused run gives up its trainer and record (None: never)."""

    def __init__(self, slots: int, threads: int, time_slice: float | None = None,
                 caps: hosting.Caps | None = None, session_ttl: float | None = None):
        self.slots, self.threads = slots, threads
        self.time_slice, self.caps, self.session_ttl = time_slice, caps, session_ttl
        self._cond = threading.Condition()
        self._waiting: list[object] = []
        self._active: dict[object, float] = {}  # ticket -> when it took its slot
        self._runs: weakref.WeakSet = weakref.WeakSet()  # every run seen, for the reaper
        self._reaper: threading.Thread | None = None

    @classmethod
    def from_env(cls) -> "Limiter":
        """The server's limiter: slots and threads from default_limits(), the hosted caps and time slice from
        the environment (a bad variable raises hosting.HostingError naming it)."""
        caps = hosting.from_env()
        return cls(*default_limits(), time_slice=hosting.time_slice(), caps=caps,
                   session_ttl=caps.session_ttl_s if caps else None)

    def enter(self, ticket: object):
        with self._cond:
            if ticket not in self._waiting and ticket not in self._active:
                self._waiting.append(ticket)
            if hasattr(ticket, "release_if_idle"):  # a LiveRun (tests use bare tickets)
                self._runs.add(ticket)
            self._cond.notify_all()
        self._start_reaper()

    def wait_turn(self, ticket: object, timeout: float) -> bool:
        """Block up to `timeout` s for a free slot; True once `ticket` holds one."""
        with self._cond:
            got = self._cond.wait_for(lambda: self._take(ticket), timeout)
            return bool(got)

    def _take(self, ticket: object) -> bool:
        if ticket in self._active:
            return True
        if self._waiting and self._waiting[0] is ticket and len(self._active) < self.slots:
            self._active[self._waiting.pop(0)] = time.monotonic()
            return True
        return False

    def should_yield(self, ticket: object) -> bool:
        """True when `ticket` has held its slot for a whole time slice and someone waits for one."""
        with self._cond:
            since = self._active.get(ticket)
            return bool(self.time_slice and self._waiting and since is not None
                        and time.monotonic() - since >= self.time_slice)

    def requeue(self, ticket: object):
        """Give the slot to the next in line and wait again at the back of the queue."""
        with self._cond:
            if self._active.pop(ticket, None) is not None:
                self._waiting.append(ticket)
            self._cond.notify_all()

    def position(self, ticket: object) -> int | None:
        """1 for the next in line; None when running or not queued."""
        with self._cond:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else None

    def wait_estimate(self, ticket: object) -> float | None:
        """Seconds until `ticket` gets a slot, roughly: the work of the runs holding a slot and ahead in line
        (each at most one time slice), shared by the slots. None when not queued or not known."""
        with self._cond:
            if ticket not in self._waiting:
                return None
            ahead = list(self._active) + self._waiting[:self._waiting.index(ticket)]
            now = time.monotonic()
            held = {t: now - since for t, since in self._active.items()}
        work = []
        for other in ahead:
            left = other.seconds_to_finish() if hasattr(other, "seconds_to_finish") else None
            if self.time_slice:
                turn = self.time_slice - held.get(other, 0.0)
                left = turn if left is None else min(left, turn)
            if left is None:
                return None
            work.append(max(0.0, left))
        if len(work) < self.slots:
            return 0.0
        return sum(work) / self.slots

    def leave(self, ticket: object):
        with self._cond:
            self._active.pop(ticket, None)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    def stop_all(self, wait: float = 2.0):
        """Stop every run that holds or waits for a slot (at server shutdown), all at once."""
        started = time.monotonic()
        with self._cond:
            runs = list(self._active) + list(self._waiting)
        for run in runs:
            run.stop(SHUTDOWN_MESSAGE, wait=0)
        end = time.monotonic() + wait
        for run in runs:
            run.stop(SHUTDOWN_MESSAGE, wait=max(0.0, end - time.monotonic()))
        if runs:  # the server log says the shutdown ended them (tests/browser/test_hosted_load.py reads it)
            print(f"bnviz: {len(runs)} training(s) stopped at shutdown in {time.monotonic() - started:.1f} s",
                  file=sys.stderr, flush=True)

    def reap(self) -> int:
        """Runs whose browser has been silent for session_ttl give up their trainer; how many did."""
        if not self.session_ttl:
            return 0
        return sum(bool(run.release_if_idle(self.session_ttl)) for run in list(self._runs))

    def _start_reaper(self):
        with self._cond:  # sessions enter at once: one check-and-start, else each starts its own reaper
            if not self.session_ttl or (self._reaper and self._reaper.is_alive()):
                return
            self._reaper = threading.Thread(target=self._reap_forever, name="bnviz-reaper", daemon=True)
            self._reaper.start()

    def _reap_forever(self):
        while True:
            time.sleep(min(REAP_EVERY_S, self.session_ttl / 2))
            self.reap()

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._active)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)


def yield_cpu_to_the_server():
    """Lower the calling thread's CPU priority (Linux keeps a nice value per thread, and the threads it
    starts inherit it). Training then takes the CPU the server and the charts leave, instead of making
    them wait: on a 2-core machine with the browser beside it, that is the time to the next chart."""
    if not hasattr(os, "setpriority"):  # not on Windows
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + TRAINING_NICE))
    except OSError:  # a sandbox may forbid it; training still works
        pass
