"""Sweeps: grid expansion and validation, the images budget, the local backend against a run trained
directly, faults (raise, diverge, SIGKILL a worker, Ctrl-C) and resume, the CLI and inspect's JSON."""

import json
import math
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

from bnviz import sweep_file
from bnviz.backends import local_layout, make_backend
from bnviz.backends.local import LocalBackend
from bnviz.config import ConfigError, RunConfig
from bnviz.record import RunRecord
from bnviz.sweep import FINAL, Sweep, run_key, train_run
from bnviz.live import Limiter
from bnviz.sweep_run import BackgroundSweep
from test_cli import run_cli

ABSENT = "cuda" if not torch.cuda.is_available() else "mps"  # a device this machine lacks: the run raises
TINY = ["--batch-size", "8", "--steps", "15", "--record-every", "5"]
# 4 runs: one finishes, one diverges (SGD lr 10 without norm), two raise (absent device).
FAULTS = ["--grid", "lr=0.001,10", "--grid", f"device=cpu,{ABSENT}", "--optimizer", "sgd", "--placement", "none",
          "--seeds", "2"]  # seed 2: lr 10 diverges within the steps


def reference(cfg: RunConfig):
    """The run trained directly in this process at one thread: what every backend must reproduce bitwise."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_run(cfg)
    finally:
        torch.set_num_threads(threads)


def same(a, b) -> bool:
    """Bitwise the same outcome (ms_per_step is timing, not part of it)."""
    return (a.key == b.key and a.status == b.status and np.array_equal(a.curve_acc, b.curve_acc)
            and np.array_equal(a.images_seen, b.images_seen)
            and all(np.array_equal(getattr(a, k), getattr(b, k), equal_nan=True) for k in FINAL))


# --- grid ---------------------------------------------------------------------------------------
def test_grid_is_the_product_of_values_times_seeds_with_an_images_budget():
    sweep = Sweep(RunConfig(), {"batch_size": ("8", "32", "100"), "norm": ("batch", "group", "none")}, (0, 1),
                  images=1000)
    configs = sweep.configs()
    assert len(configs) == 3 * 3 * 2 == len({run_key(c) for c in configs})
    assert {(c.batch_size, c.norm, c.seed) for c in configs} == {
        (b, n, s) for b in (8, 32, 100) for n in ("batch", "group", "none") for s in (0, 1)}
    for c in configs:  # every batch size sees the same 1,000 images (GroupNorm paper, Fig. 1)
        assert c.steps == math.ceil(1000 / c.batch_size) and (c.steps - 1) * c.batch_size < 1000
    steps = Sweep(RunConfig(), {"lr": ("0.1", "0.01")}, steps=7).configs()
    assert [(c.lr, c.steps) for c in steps] == [(0.1, 7), (0.01, 7)]


@pytest.mark.parametrize("grid, images, field, says", [
    ({"batchsize": ("8",)}, None, "batchsize", "unknown knob; known: model, norm"),
    ({"batch_size": ("8", "0")}, None, "batch_size", "int in [1, 1024]"),
    ({"norm": ("batch", "groupy")}, None, "norm", "one of batch, group, layer, instance, none"),
    ({"norm": ("group",), "groups": ("8", "3")}, None, "groups", "must divide the seed_cnn layer widths"),
    ({"model": ("mlp",), "norm": ("instance",)}, None, "norm", "instance norm needs feature maps"),
    ({"seed": ("1", "2")}, None, "seed", "use seeds"),
    ({"batch_size": ("1",)}, 2_000_000, "images", "gives steps=2000000"),
])
def test_bad_grid_raises_naming_knob_value_and_allowed(grid, images, field, says):
    with pytest.raises(ConfigError) as err:
        Sweep(RunConfig(), grid, images=images).configs()
    assert err.value.field == field and says in str(err.value)


def test_bad_grid_exits_2_before_any_training(tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before validating")

    monkeypatch.setattr("bnviz.backends.make_backend", no_training)
    out = tmp_path / "s.npz"
    for argv, says in [(["--grid", "norm=batch,group", "--grid", "groups=8,5"], "argument --grid groups: 5"),
                       (["--grid", "batch_size=8,2000"], "argument --grid batch_size: 2000 is not allowed: int in [1, 1024]"),
                       (["--grid", "normm=batch"], "argument --grid normm"),
                       (["--grid", "norm"], "KNOB=V1,V2"),
                       (["--grid", "lr=0.1", "--images", "100", "--steps", "5"], "give one budget"),
                       (["--grid", "lr=0.1", "--lr", "-1"], "argument --lr: -1.0 is not allowed: float in")]:
        code, _, err = run_cli("sweep", *argv, "--out", out)
        assert code == 2 and says in err, err
        assert not out.exists()


def test_local_layout_never_oversubscribes_the_cores():
    assert local_layout(cores=2) == (2, 1)  # two one-thread workers on 2 cores
    assert local_layout(workers=1, cores=2) == (1, 2)
    assert local_layout(threads=2, cores=16) == (8, 2)
    with pytest.raises(ConfigError, match="workers x threads"):
        local_layout(workers=3, threads=1, cores=2)


def test_default_backend_is_local_and_ray_needs_an_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert make_backend().name == "local"
    with pytest.raises(ConfigError) as err:  # never ray.init() without an address: it would start a cluster
        make_backend("ray")
    assert err.value.field == "address" and "RAY_ADDRESS" in err.value.allowed


# --- faults, the CLI and inspect --------------------------------------------------------------------
@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    out = folder / "faults.npz"
    code, stdout, err = run_cli("sweep", *FAULTS, *TINY, "--records", folder, "--out", out)
    return out, code, stdout, err


def test_raising_and_diverging_runs_are_kept_and_the_sweep_goes_on(faults):
    out, code, stdout, err = faults
    assert code == 0 and "4 runs: 1 finished, 1 diverged, 2 failed" in stdout, err
    meta, results = sweep_file.load(out)
    assert meta["kind"] == "sweep" and meta["grid"] == {"lr": ["0.001", "10"], "device": ["cpu", ABSENT]}
    by = {(r.config.lr, r.config.device): r for r in results}
    assert by[0.001, "cpu"].status == "finished" and 0.1 < by[0.001, "cpu"].test_acc <= 1
    diverged = by[10.0, "cpu"]
    assert diverged.status == "diverged" and diverged.message.startswith("diverged at step ")
    assert math.isnan(diverged.test_acc)
    record = RunRecord.load(out.parent / "lr=0.001_device=cpu_seed=2.npz")  # --records: the full record
    assert record.status == "finished" and record.evals["test_acc"][-1] == by[0.001, "cpu"].test_acc
    assert len(list(out.parent.glob("*.npz"))) == 3  # faults.npz and the two runs that trained
    for lr in (0.001, 10.0):
        failed = by[lr, ABSENT]
        assert failed.status == "failed" and "ConfigError: device=" in failed.message and "available" in failed.message


def test_local_backend_matches_a_run_trained_directly_bitwise(faults):
    _, results = sweep_file.load(faults[0])
    for result in results:
        if result.config.device == "cpu":
            assert same(result, reference(result.config)), result.config


def test_inspect_json_lists_every_run(faults):
    code, stdout, _ = run_cli("inspect", faults[0], "--json")
    runs = json.loads(stdout, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))["runs"]
    assert code == 0 and len(runs) == 4
    for run in runs:
        assert set(run) >= {"config", "status", "final", "ms_per_step"}
        assert set(run["final"]) == {"test_acc", "test_loss", "train_mode_acc", "eval_mode_acc"}
        assert RunConfig(**run["config"]).batch_size == 8
    finished = [r for r in runs if r["status"] == "finished"]
    assert len(finished) == 1 and finished[0]["ms_per_step"] > 0 and 0 < finished[0]["final"]["test_acc"] <= 1
    assert [r["final"]["test_acc"] for r in runs if r["status"] != "finished"] == [None] * 3
    code, text, _ = run_cli("inspect", faults[0])
    assert code == 0 and "bnviz sweep, 4 runs" in text and "diverged" in text


def test_sigkilled_worker_costs_its_run_one_retry_and_nothing_else():
    base = RunConfig(batch_size=8, record_every=5)
    configs = [base.replace(steps=5), base.replace(steps=80, seed=1), base.replace(steps=10, seed=2)]
    backend = LocalBackend(workers=2, threads=1)
    results, killed = [], None
    for result in backend.results(configs):
        results.append(result)
        if killed is None:  # the short run is back; the long one is still training in the other worker
            (pid, killed), = backend.busy.items()
            os.kill(pid, signal.SIGKILL)
    assert killed == 1 and sorted(run_key(r.config) for r in results) == sorted(map(run_key, configs))
    by = {r.config.seed: r for r in results}
    assert [by[s].attempts for s in (0, 1, 2)] == [1, 2, 1]
    assert all(r.status == "finished" for r in results)
    assert same(by[1], reference(configs[1]))  # the retry trained it from scratch, the same run


def test_ctrl_c_keeps_finished_runs_and_the_same_command_resumes(tmp_path):
    out = tmp_path / "resume.npz"
    argv = ["sweep", "--grid", "batch_size=8", "--seeds", "0,1,2", "--steps", "6", "--workers", "1", "--out", out]

    def interrupt_after_first_run():
        while not out.exists():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_after_first_run, daemon=True).start()
    code, _, err = run_cli(*argv)
    assert code == 130 and "rerun the same command to resume" in err, err
    _, kept = sweep_file.load(out)
    assert 1 <= len(kept) < 3 and all(r.status == "finished" for r in kept)
    code, stdout, err = run_cli(*argv)
    assert code == 0 and f"3 runs ({len(kept)} already in" in err and "3 finished" in stdout
    _, results = sweep_file.load(out)
    assert len(results) == 3
    again = {r.key: r for r in results}
    for r in kept:  # not trained again: even the timing is the very same number
        assert again[r.key].ms_per_step == r.ms_per_step and same(again[r.key], r)


# --- the live form for a page ------------------------------------------------------------------------
class FakeBackend:
    """Stands in for a backend to check the runner's bookkeeping (the real backends are tested above)."""

    name = "fake"

    def __init__(self, workers, threads):
        self.asked, self.threads = [], threads

    def describe(self):
        return "fake"

    def results(self, configs, stop=None):
        for cfg in configs:
            self.asked.append(cfg)
            yield _quick(cfg)


def _quick(cfg):
    from bnviz.sweep import RunResult

    return RunResult(cfg, "finished", test_acc=0.5)


def test_background_sweep_holds_limiter_slots_and_fills_in_results():
    limiter = Limiter(slots=2, threads=1)
    lab = object()
    limiter.enter(lab)
    assert limiter.wait_turn(lab, 1)  # a lab training holds one of the two slots
    sweep = Sweep(RunConfig(), {"lr": ("0.1", "0.01", "0.001")})
    previous = [_quick(sweep.configs()[0])]
    backends = []
    seen = []
    job = BackgroundSweep(sweep, limiter, lambda n, t: backends.append(FakeBackend(n, t)) or backends[-1],
                          slots=2, previous=previous, on_result=seen.append).start()
    time.sleep(0.3)
    assert job.state == "queued" and job.queue_position() == 1 and not backends  # waits for both slots
    limiter.leave(lab)
    job.join(5)
    assert job.state == "finished" and len(job.results()) == 3 == job.total
    assert [c.lr for c in backends[0].asked] == [0.01, 0.001] and len(seen) == 2  # the kept run not redone
    assert limiter.position(job.tickets[0]) is None and len(limiter._active) == 0
