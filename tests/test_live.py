"""The live runner: chunked background training gives the same run as the bare Trainer, and pause, stop,
the heartbeat, the shared limiter and the thread cap behave as a hosted demo needs."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bnviz.config import RunConfig
from bnviz.live import ACTIVE, TRAINING_NICE, Limiter, LiveRun, default_limits
from bnviz.live_session import LiveSession
from bnviz.record import TABLES
from bnviz.trainer import Trainer

TINY = RunConfig(model="mlp", steps=40, batch_size=16, record_every=5, eval_every=20, compile="off")
LONG = TINY.replace(steps=1_000_000)


def wait_until(condition, timeout=60.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.fixture
def limiter():
    # One torch thread here and in the runs: the float sums then match a bare Trainer's bit for bit, and a
    # busy machine cannot stall a two-thread team.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    limiter = Limiter(slots=1, threads=1)
    yield limiter
    limiter.stop_all()
    torch.set_num_threads(before)


def assert_same_run(record, bare):
    for table in TABLES:
        for name in getattr(bare, table).names():
            if name != "ms_per_step":  # wall time, the only column allowed to differ
                np.testing.assert_array_equal(getattr(record, table)[name], getattr(bare, table)[name],
                                              err_msg=f"{table}/{name}")


def test_live_run_equals_the_bare_trainer(limiter):
    run = LiveRun(TINY, limiter)
    run.start()
    wait_until(lambda: run.state == "finished")
    record = run.latest_record()
    assert record.config == TINY and record.status == "finished"
    assert_same_run(record, Trainer(TINY).step(TINY.steps))


def test_pause_holds_the_steps_frees_the_slot_and_resume_continues_the_same_run(limiter):
    run = LiveRun(TINY.replace(steps=120), limiter)
    run.start()
    wait_until(lambda: run.trainer is not None and run.trainer.steps_done >= 3)
    run.pause()
    wait_until(lambda: not run.alive)
    assert run.state == "paused" and limiter.running == 0
    held = run.trainer.steps_done
    time.sleep(0.2)
    assert run.trainer.steps_done == held < 120
    run.start()
    wait_until(lambda: run.state == "finished")
    assert_same_run(run.latest_record(), Trainer(TINY.replace(steps=120)).step(120))


def test_stop_keeps_the_record_with_status_stopped(limiter):
    run = LiveRun(LONG, limiter)
    run.start()
    wait_until(lambda: run.trainer is not None and run.trainer.steps_done >= 2)
    run.stop()
    assert not run.alive and run.state == "stopped" and limiter.running == 0
    record = run.latest_record()
    assert record.status == "stopped" and len(record.steps) == run.trainer.steps_done


def test_a_silent_browser_stops_training(limiter):
    run = LiveRun(LONG, limiter, heartbeat_timeout=0.3)
    run.start()
    wait_until(lambda: run.state == "stopped", timeout=10)
    assert "browser" in run.progress().message and limiter.running == 0
    assert run.latest_record().status == "stopped"


def test_heartbeats_keep_it_training(limiter):
    run = LiveRun(LONG, limiter, heartbeat_timeout=0.3)
    run.start()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        run.heartbeat()
        time.sleep(0.05)
    assert run.state == "running"


def test_second_training_waits_in_line_with_its_position(limiter):
    first, second, third = (LiveRun(LONG, limiter) for _ in range(3))
    first.start()
    wait_until(lambda: first.state == "running")
    second.start()
    third.start()
    assert second.progress().state == "queued" and second.progress().queue_position == 1
    assert third.progress().queue_position == 2
    first.stop()
    wait_until(lambda: second.state == "running")
    assert third.progress().queue_position == 1 and limiter.running == 1


def test_limiter_is_first_come_first_served():
    limiter = Limiter(slots=2, threads=1)
    a, b, c = object(), object(), object()
    for ticket in (a, b, c):
        limiter.enter(ticket)
    assert not limiter.wait_turn(b, timeout=0.01)  # a is ahead of b
    assert limiter.wait_turn(a, 0.01) and limiter.wait_turn(b, 0.01)
    assert not limiter.wait_turn(c, 0.01) and limiter.position(c) == 1
    limiter.leave(a)
    assert limiter.wait_turn(c, 0.01) and limiter.position(c) is None


def test_default_limits(monkeypatch):
    monkeypatch.delenv("BNVIZ_MAX_TRAININGS", raising=False)
    monkeypatch.delenv("BNVIZ_TRAIN_THREADS", raising=False)
    assert default_limits(2) == (1, 1)  # one core left to the server and the browser
    assert default_limits(8) == (4, 1)
    assert default_limits(1) == (1, 1)
    monkeypatch.setenv("BNVIZ_MAX_TRAININGS", "1")
    assert default_limits(16) == (1, 15)
    monkeypatch.setenv("BNVIZ_TRAIN_THREADS", "0")
    with pytest.raises(ValueError, match="BNVIZ_TRAIN_THREADS"):
        default_limits(16)


def test_training_thread_uses_the_limiters_thread_count_at_a_lower_priority():
    seen, nice = [], []

    class Probe:
        """Just enough of a Trainer to see the thread's torch settings."""

        def __init__(self, cfg):
            self.steps_done, self.done, self.record = 0, False, SimpleNamespace(status="running")

        def step(self, n):
            seen.append(torch.get_num_threads())
            nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            self.done, self.record.status = True, "finished"

    main_threads = torch.get_num_threads()
    main_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    run = LiveRun(TINY, Limiter(1, threads=1), make_trainer=Probe)
    run._publish = lambda: None  # the probe has no record to freeze
    run.start()
    wait_until(lambda: not run.alive)
    assert seen == [1] and torch.get_num_threads() == main_threads
    # The server's threads draw first: training's nice value is higher (Linux: per thread), theirs unchanged.
    assert nice == [min(19, main_nice + TRAINING_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_nice


def test_frozen_records_are_consistent_while_training(limiter):
    run = LiveRun(TINY.replace(steps=60, record_every=1), limiter)
    run.start()
    reads = 0
    while run.state in ACTIVE:
        record = run.latest_record()
        if record is not None:
            reads += 1
            for table in TABLES:
                series = getattr(record, table)
                assert all(len(series[name]) == len(series) for name in series.names()), table
        time.sleep(0.005)
    assert reads > 3 and len(run.latest_record().steps) == 60


def test_holding_the_trainer_pauses_stepping(limiter):
    run = LiveRun(LONG, limiter)
    run.start()
    wait_until(lambda: run.trainer is not None and run.trainer.steps_done >= 2)
    with run.holding_trainer() as trainer:
        held = trainer.steps_done
        time.sleep(0.2)
        assert trainer.steps_done == held
    wait_until(lambda: run.trainer.steps_done > held)


def test_a_failing_start_is_reported_and_frees_the_slot(limiter):
    def broken(cfg):
        raise RuntimeError("dataset 'mnist' could not be downloaded")

    run = LiveRun(TINY, limiter, make_trainer=broken)
    run.start()
    wait_until(lambda: not run.alive)
    assert run.state == "failed" and "could not be downloaded" in run.progress().message
    assert limiter.running == 0 and run.latest_record() is None


def test_session_resumes_the_same_config_and_restarts_a_new_one(limiter):
    lab = LiveSession()
    first = lab.train(LONG, limiter)
    wait_until(lambda: first.state == "running")
    first.pause()
    wait_until(lambda: first.state == "paused")
    assert lab.train(LONG, limiter) is first  # resume
    changed = LONG.replace(batch_size=8)
    second = lab.train(changed, limiter)
    assert second is not first and first.state == "stopped" and second.cfg == changed
    lab.reset()
    assert lab.run is None and second.state == "stopped"
