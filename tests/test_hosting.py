"""Hosted mode: caps from the environment (validated, naming the variable), configs checked against them,
and the engine enforcing them: time slices that give every visitor a turn without changing a run's numbers,
the wall-time cap, and idle runs giving their memory back."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from bnviz import hosting
from bnviz.config import ConfigError, RunConfig
from bnviz.live import Limiter, LiveRun
from bnviz.trainer import Trainer
from tests.test_live import LONG, TINY, assert_same_run, wait_until


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-for-bit comparable with a bare Trainer (see tests/test_live.py)
    yield
    torch.set_num_threads(before)


def test_off_unless_hosted():
    assert hosting.from_env({}) is None and hosting.time_slice({}) is None
    assert hosting.from_env({"BNVIZ_HOSTED": "0", "BNVIZ_MAX_STEPS": "5"}) is None
    assert hosting.time_slice({"BNVIZ_TIME_SLICE_S": "3"}) == 3.0  # slicing alone, without the caps


def test_caps_from_env_with_defaults():
    caps = hosting.from_env({"BNVIZ_HOSTED": "yes", "BNVIZ_MAX_STEPS": "300", "BNVIZ_FULL_DATASETS": "on"})
    assert caps == hosting.Caps(max_steps=300, full_datasets=True)
    assert hosting.time_slice({"BNVIZ_HOSTED": "1", "BNVIZ_TIME_SLICE_S": "0"}) is None  # 0: never


@pytest.mark.parametrize("name, raw", [("BNVIZ_MAX_STEPS", "0"), ("BNVIZ_MAX_STEPS", "2.5"),
                                       ("BNVIZ_MAX_BATCH", "4096"), ("BNVIZ_MAX_RUN_S", "nan"),
                                       ("BNVIZ_TIME_SLICE_S", "-1"), ("BNVIZ_FULL_DATASETS", "maybe"),
                                       ("BNVIZ_HOSTED", "2")])
def test_a_bad_variable_names_itself_and_its_range(name, raw):
    with pytest.raises(hosting.HostingError, match=name) as err:
        hosting.from_env({"BNVIZ_HOSTED": "1", name: raw})
    assert repr(raw) in str(err.value) and ("[" in str(err.value) or "one of" in str(err.value))


def test_heartbeat_timeout_is_validated_in_and_out_of_hosted_mode():
    assert hosting.heartbeat_s({}) == 30.0 and hosting.heartbeat_s({"BNVIZ_HEARTBEAT_S": "4"}) == 4.0
    with pytest.raises(hosting.HostingError, match=r"BNVIZ_HEARTBEAT_S='0'.*\[1, 3600\]"):
        hosting.heartbeat_s({"BNVIZ_HEARTBEAT_S": "0"})


def test_main_exits_2_on_a_bad_variable(monkeypatch, capsys):
    monkeypatch.setenv("BNVIZ_HOSTED", "1")
    monkeypatch.setenv("BNVIZ_MAX_ARMS", "99")
    assert hosting.main() == 2 and "BNVIZ_MAX_ARMS='99'" in capsys.readouterr().err
    monkeypatch.setenv("BNVIZ_MAX_ARMS", "3")
    assert hosting.main() == 0


def test_a_config_over_a_cap_names_the_field_and_the_cap():
    caps = hosting.Caps(max_steps=100, max_batch_size=64)
    hosting.check(RunConfig(steps=100, batch_size=64), caps)  # at the caps: allowed
    for cfg, field, var in ((RunConfig(steps=101), "steps", "BNVIZ_MAX_STEPS"),
                            (RunConfig(steps=100, batch_size=65), "batch_size", "BNVIZ_MAX_BATCH"),
                            (RunConfig(steps=100, dataset="mnist"), "dataset", "BNVIZ_FULL_DATASETS")):
        with pytest.raises(ConfigError) as err:
            hosting.check(cfg, caps)
        assert err.value.field == field and var in str(err.value)
    hosting.check(RunConfig(steps=10**6, dataset="mnist"), None)  # not hosted: no caps
    cfg, error = hosting.apply(RunConfig(steps=101), None, caps)
    assert cfg is None and error.startswith("steps: steps=101") and "at most 100" in error


def test_compare_arms_and_sweep_size():
    caps = hosting.Caps(max_arms=3, max_sweep=5)
    hosting.check_count("arms", 3, caps)
    hosting.check_count("sweep", 5, caps)
    with pytest.raises(ConfigError, match="BNVIZ_MAX_ARMS"):
        hosting.check_count("arms", 4, caps)
    with pytest.raises(ConfigError, match="BNVIZ_MAX_SWEEP"):
        hosting.check_count("sweep", 6, caps)


def test_the_engine_refuses_a_config_over_the_caps():
    limiter = Limiter(1, 1, caps=hosting.Caps(max_steps=10))
    run = LiveRun(TINY, limiter)  # 40 steps
    run.start()
    wait_until(lambda: run.state == "failed", timeout=10)
    assert "cannot train" in run.message and "BNVIZ_MAX_STEPS" in run.message and limiter.running == 0


def test_wall_time_cap_stops_the_run_with_a_message():
    limiter = Limiter(1, 1, caps=hosting.Caps(max_steps=10**6, max_run_s=0.5))
    run = LiveRun(LONG, limiter)
    run.start()
    wait_until(lambda: run.state == "stopped", timeout=20)
    assert "BNVIZ_MAX_RUN_S" in run.message and 0 < run.progress().steps_done < LONG.steps and run.latest_record().status == "stopped"
    assert limiter.running == 0


def test_time_slices_take_turns_and_give_the_uninterrupted_numbers():
    limiter = Limiter(slots=1, threads=1, time_slice=0.2)
    cfgs = [TINY.replace(steps=400, seed=s) for s in (1, 2, 3)]  # several 0.2 s slices each, idle or not
    runs = [LiveRun(cfg, limiter) for cfg in cfgs]
    runs[0].start()
    wait_until(lambda: runs[0].state == "running")
    for run in runs[1:]:
        run.start()
    seen_queued_with_steps = False  # a run that trained, yielded and waits its next turn
    moved = set()
    while any(run.state != "finished" for run in runs):
        for i, run in enumerate(runs):
            p = run.progress()
            if p.state == "queued" and p.steps_done > 0 and p.queue_position is not None:
                # (the slot may come between reading the state and the queue: then no position, no wait)
                seen_queued_with_steps = True
                assert p.queue_position >= 1 and p.wait_s is not None and 0 <= p.wait_s <= 2 * 0.2 + 0.01
            if 0 < p.steps_done < p.steps:
                moved.add(i)
            run.heartbeat()
        assert limiter.running <= 1
        time.sleep(0.01)
    assert seen_queued_with_steps and moved == {0, 1, 2}  # every run was seen part way
    for run, cfg in zip(runs, cfgs):
        assert_same_run(run.latest_record(), Trainer(cfg).step(cfg.steps))


def test_no_slicing_when_nobody_waits():
    limiter = Limiter(slots=1, threads=1, time_slice=0.05)
    run = LiveRun(TINY.replace(steps=60), limiter)
    run.start()
    states = []
    while run.state != "finished":
        states.append(run.state)
        time.sleep(0.002)
    trained = states[states.index("running"):] if "running" in states else []
    assert trained and "queued" not in trained  # never sent back to the queue with nobody waiting


def test_wait_estimate_counts_the_runs_ahead_one_slice_each():
    limiter = Limiter(slots=1, threads=1, time_slice=5.0)
    a, b, c = (LiveRun(LONG, limiter) for _ in range(3))
    a.start()
    wait_until(lambda: a.state == "running")
    b.start()
    c.start()
    wait_until(lambda: b.state == "queued" and c.state == "queued")
    wb, wc = limiter.wait_estimate(b), limiter.wait_estimate(c)
    assert 0 < wb <= 5.0 and wb + 4.0 < wc <= wb + 5.0  # c waits for a's rest and all of b's slice
    limiter.stop_all()


def test_an_idle_run_gives_back_its_trainer_and_record():
    limiter = Limiter(1, 1, session_ttl=0.3)
    run = LiveRun(TINY, limiter)
    run.start()
    wait_until(lambda: run.state == "finished")
    run.heartbeat()
    assert limiter.reap() == 0 and run.trainer is not None  # its browser was just here
    wait_until(lambda: run.trainer is None, timeout=2)  # by the limiter's own reaper thread
    assert run.trainer is None and run.latest_record() is None and "memory" in run.progress().message
    assert run.progress().steps_done == TINY.steps
    busy = LiveRun(LONG, limiter, heartbeat_timeout=60)
    busy.start()
    wait_until(lambda: busy.state == "running")
    time.sleep(0.35)
    assert not busy.release_if_idle(0.3) and busy.trainer is not None  # a training run keeps its model
    busy.stop()


def test_sessions_entering_at_once_start_one_reaper():
    # Eight visitors open the link at once: their runs enter the limiter together (seen as two reaper threads
    # in a server's thread dump). A reaper's thread ends only with the process: count the new ones.
    def reapers():
        return sum(thread.name == "bnviz-reaper" for thread in threading.enumerate())

    before = reapers()
    for _ in range(10):
        limiter = Limiter(1, 1, session_ttl=600)
        start = threading.Barrier(16)
        entering = [threading.Thread(target=lambda: (start.wait(), limiter.enter(object()))) for _ in range(16)]
        for thread in entering:
            thread.start()
        for thread in entering:
            thread.join()
    assert reapers() - before == 10
