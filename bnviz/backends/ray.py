"""The Ray backend: each run is a Ray task on an existing cluster (`ray start --head` and `ray start --address`
elsewhere), found as Ray's own tools find it; a task whose worker dies is retried once (max_retries=1)."""

from __future__ import annotations

from typing import Iterator

from bnviz.config import ConfigError, RunConfig
from bnviz.sweep import RunResult, train_run

RETRIES = 1


def _train_task(params: dict, threads: int, keep_record: bool, finish=None, probe=None) -> dict:
    """Runs on a Ray worker: the same train_run, at the same torch thread count, as the local backend."""
    import torch

    torch.set_num_threads(threads)
    return train_run(RunConfig.from_params(params), keep_record, finish, probe).to_wire()


class RayBackend:
    name = "ray"

    def __init__(self, address: str | None, threads: int = 1, max_in_flight: int | None = None,
                 keep_record: bool = False, finish=None, probe=None):
        if not address:  # ray.init() without an address would start a private cluster: never here
            raise ConfigError("address", address, "a Ray cluster address (host:port, or 'auto' for the cluster "
                              "`ray start` runs on this machine); pass --address or set RAY_ADDRESS")
        self.address, self.threads, self.keep_record, self.finish = address, threads, keep_record, finish
        self.probe = probe
        self.max_in_flight = max_in_flight  # None: submit every run at once and let Ray's scheduler queue

    def describe(self) -> str:
        return f"ray: cluster at {self.address}, {self.threads} torch thread(s) per task"

    def connect(self):
        """ray.init(address=...): connect to the running cluster (an error if none answers there)."""
        import ray

        if not ray.is_initialized():
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise ConfigError("address", self.address, f"a running Ray cluster; connecting failed: {err}") \
                    from None
        return ray

    def results(self, configs: list[RunConfig], stop=None) -> Iterator[RunResult]:
        ray = self.connect()
        task = ray.remote(num_cpus=self.threads, max_retries=RETRIES)(_train_task)
        waiting = list(range(len(configs)))[::-1]
        running: dict = {}  # ObjectRef -> run index
        limit = self.max_in_flight or len(configs)
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    index = waiting.pop()
                    running[task.remote(configs[index].to_params(), self.threads, self.keep_record, self.finish,
                                             self.probe)] = index
                if stop is not None and stop.is_set():
                    return
                done, _ = ray.wait(list(running), num_returns=1, timeout=None if stop is None else 0.2)
                if not done:
                    continue
                index = running.pop(done[0])
                try:
                    result = RunResult.from_wire(ray.get(done[0]))
                except ray.exceptions.RayError as err:  # its worker died twice, or the node went away
                    result = RunResult(configs[index], "failed", f"Ray task failed: {type(err).__name__}: "
                                       f"{str(err).splitlines()[0]}", attempts=RETRIES + 1)
                yield result
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
