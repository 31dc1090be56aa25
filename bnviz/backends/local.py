"""The local backend: worker processes on this machine, each with its own pipe, so that a worker killed
mid-run costs exactly that run one retry and nothing else (a ProcessPoolExecutor fails every pending run
when one worker dies)."""

from __future__ import annotations

import multiprocessing as mp
import signal
from multiprocessing.connection import wait
from typing import Iterator

from bnviz.config import RunConfig
from bnviz.sweep import RunResult, train_run

RETRIES = 1  # a run whose worker dies is trained once more; a second death fails it


def _context():
    """forkserver (workers fork from a server that already imported torch: a restart costs no import), else spawn."""
    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["bnviz.backends.local", "bnviz.trainer"])
        return ctx
    except ValueError:  # no forkserver on this platform (Windows)
        return mp.get_context("spawn")


def _worker(conn, threads: int, keep_record: bool, finish=None, probe=None):
    """Train each config received until told to stop (None); the parent handles Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    while True:
        params = conn.recv()
        if params is None:
            return
        conn.send(train_run(RunConfig.from_params(params), keep_record, finish, probe).to_wire())


class LocalBackend:
    name = "local"

    def __init__(self, workers: int, threads: int, keep_record: bool = False, finish=None, probe=None):
        self.workers, self.threads, self.keep_record, self.finish = workers, threads, keep_record, finish
        self.probe = probe
        self.busy: dict[int, int] = {}  # worker pid -> index of the run it trains (tests kill one)

    def describe(self) -> str:
        return f"local: {self.workers} worker process(es) x {self.threads} torch thread(s)"

    def results(self, configs: list[RunConfig], stop=None) -> Iterator[RunResult]:
        ctx = _context()
        pending = list(range(len(configs)))[::-1]  # popped from the end: run order = config order
        attempts = [0] * len(configs)
        workers: dict = {}  # conn -> [process, run index or None]

        def start():
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_worker, daemon=True,
                                  args=(child, self.threads, self.keep_record, self.finish, self.probe))
            process.start()
            child.close()
            workers[parent] = [process, None]

        def assign(conn):
            slot = workers[conn]
            if pending:
                slot[1] = pending.pop()
                attempts[slot[1]] += 1
                conn.send(configs[slot[1]].to_params())
                self.busy[slot[0].pid] = slot[1]

        try:
            for _ in range(min(self.workers, len(configs))):
                start()
            for conn in list(workers):
                assign(conn)
            while any(slot[1] is not None for slot in workers.values()):
                if stop is not None and stop.is_set():
                    return
                sentinels = {slot[0].sentinel: conn for conn, slot in workers.items()}
                for ready in wait(list(workers) + list(sentinels), timeout=None if stop is None else 0.2):
                    conn = sentinels.get(ready, ready)
                    if conn not in workers:
                        continue
                    process, index = workers[conn]
                    wire = _receive(conn)
                    self.busy.pop(process.pid, None)
                    if wire is not None:  # a result (even from a worker that died right after sending it)
                        workers[conn][1] = None
                        result = RunResult.from_wire(wire)
                        result.attempts = attempts[index]
                        yield result
                        if process.is_alive():
                            assign(conn)
                            continue
                    # The worker died: its run (if any) is retried once, on a fresh worker.
                    del workers[conn]
                    process.join()
                    if wire is None and index is not None:
                        if attempts[index] <= RETRIES:
                            pending.append(index)
                        else:
                            yield RunResult(configs[index], "failed", f"its worker died {attempts[index]} times "
                                            f"(last exit code {process.exitcode})", attempts=attempts[index])
                    if pending:
                        start()
                        assign(list(workers)[-1])
        finally:
            for conn, (process, _) in workers.items():
                try:
                    conn.send(None)
                except OSError:
                    pass
                process.join(timeout=0.5)
                if process.is_alive():  # still training (Ctrl-C, or the caller stopped reading)
                    process.kill()
                    process.join()
                conn.close()
            self.busy.clear()


def _receive(conn):
    """The result waiting on `conn`, or None when the worker died without sending one."""
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None
