"""Faults injected into a run: a step that raises, SIGTERM, a full disk or an unwritable folder on save."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from bnviz import cli, npz as npz_module
from bnviz.config import RunConfig
from bnviz.live import Limiter
from bnviz.live_session import LiveSession
from bnviz.record import RunRecord
from bnviz.trainer import Trainer
from tests.test_cli import ROOT, run_cli
from tests.test_hostile_files import good_record

FAIL_AT = 7  # the training step that raises


@pytest.fixture
def failing_step(monkeypatch):
    """Trainer._train_step raises at step FAIL_AT of every run while the fixture is active."""
    original = Trainer._train_step

    def step(self):
        if self.steps_done == FAIL_AT:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        original(self)

    monkeypatch.setattr(Trainer, "_train_step", step)
    return monkeypatch


def test_a_failing_step_keeps_the_record_marked_failed_and_training_works_again(failing_step):
    trainer = Trainer(RunConfig(batch_size=8, steps=20, record_every=3))
    with pytest.raises(RuntimeError, match="illegal memory access"):
        trainer.step(20)
    record = trainer.record
    assert (record.status, record.status_step) == ("failed", FAIL_AT)
    assert record.message == "RuntimeError: CUDA error: an illegal memory access was encountered"
    np.testing.assert_array_equal(record.steps["step"], np.arange(FAIL_AT))  # every step before it
    trainer.step(1)  # a failed run stays ended
    assert len(record.steps) == FAIL_AT
    failing_step.undo()
    again = Trainer(RunConfig(batch_size=8, steps=10, record_every=3)).step(10)
    assert again.status == "finished" and len(again.steps) == 10


def test_the_failed_record_round_trips(failing_step, tmp_path):
    trainer = Trainer(RunConfig(batch_size=8, steps=20, record_every=3))
    with pytest.raises(RuntimeError):
        trainer.step(20)
    trainer.record.save(tmp_path / "failed.npz")
    loaded = RunRecord.load(tmp_path / "failed.npz")
    assert (loaded.status, loaded.status_step, loaded.message) == ("failed", FAIL_AT, trainer.record.message)


def test_cli_saves_the_failed_record_and_exits_1(failing_step, tmp_path):
    path = tmp_path / "failed.npz"
    code, out, err = run_cli("train", "--batch-size", "8", "--steps", "30", "--out", path)
    assert code == 1
    assert f"error: training failed at step {FAIL_AT}: RuntimeError: CUDA error" in err and str(path) in err
    assert "Traceback" not in err and out.startswith(f"failed at step {FAIL_AT} (RuntimeError")
    record = RunRecord.load(path)
    assert record.status == "failed" and len(record.steps) == FAIL_AT
    code, out, _ = run_cli("inspect", path)
    assert code == 0 and f"failed at step {FAIL_AT} (RuntimeError: CUDA error" in out.splitlines()[0]
    failing_step.undo()
    code, out, _ = run_cli("train", "--batch-size", "8", "--steps", "10", "--out", tmp_path / "next.npz")
    assert code == 0 and out.startswith("finished: 10/10 steps")


def test_a_live_run_that_fails_says_so_in_its_record_and_the_session_trains_again(failing_step):
    limiter = Limiter(1, 1)
    session = LiveSession()
    run = session.train(RunConfig(batch_size=8, steps=40, record_every=3), limiter)
    deadline = time.monotonic() + 60
    while run.state != "failed" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.state == "failed" and "illegal memory access" in run.progress().message
    view = run.latest_record()
    assert (view.status, view.status_step, view.message) == ("failed", FAIL_AT, run.message)
    assert len(view.steps) == FAIL_AT and limiter.running == 0  # the slot is free again
    failing_step.undo()
    run = session.train(RunConfig(batch_size=8, steps=12, record_every=3), limiter)
    while run.state != "finished" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.state == "finished" and len(run.latest_record().steps) == 12


def test_a_nan_loss_is_diverged_not_failed():
    record = Trainer(RunConfig(optimizer="sgd", lr=10.0, placement="none", batch_size=8, steps=60, seed=2)).step(60)
    assert record.status == "diverged" and record.message is None
    assert not np.isfinite(record.steps["loss"][-1]) and record.status_step == record.steps["step"][-1]


# --- SIGTERM ----------------------------------------------------------------------------------
def test_sigterm_stops_saves_the_record_and_exits_143(tmp_path, monkeypatch):
    original, calls = Trainer.step, []

    def step_then_terminate(self, n=1):
        record = original(self, n)
        calls.append(n)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what `kill`, `timeout` and `docker stop` send
        return record

    monkeypatch.setattr(Trainer, "step", step_then_terminate)
    path = tmp_path / "terminated.npz"
    code, out, err = run_cli("train", "--batch-size", "8", "--steps", "1000", "--out", path)
    assert code == cli.EXIT_TERMINATED == 143
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handler restored
    record = RunRecord.load(path)
    done = 2 * cli.CHUNK
    assert (record.status, record.status_step, len(record.steps)) == ("stopped", done, done)
    assert "SIGTERM: stopping" in err


# --- saving -----------------------------------------------------------------------------------
def test_a_full_disk_on_save_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    good_record().save(path)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(npz_module.os, "fsync", full)  # where a full disk often first says so
    with pytest.raises(OSError, match="No space left"):
        good_record().save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.npz"]  # no .part left


def test_a_file_size_limit_mid_write_leaves_no_file(tmp_path):
    """A real failing write, as root too: RLIMIT_FSIZE makes the kernel refuse bytes past 4 KiB (EFBIG)."""
    script = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from tests.test_hostile_files import good_record
        try:
            good_record().save({str(tmp_path / "run.npz")!r})
        except OSError as err:
            print("refused", err.errno)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.split() == ["refused", str(errno.EFBIG)], done.stderr
    assert os.listdir(tmp_path) == []


def test_cli_refuses_an_unwritable_folder_before_training():
    """/proc refuses new files even to root (chmod would not: root passes every permission check)."""
    code, out, err = run_cli("train", "--steps", "5", "--out", "/proc/run.npz")
    assert code == 1 and out == "" and "cannot write the record in folder '/proc'" in err and "nothing was trained" in err


def test_cli_exits_1_when_the_disk_fills_during_save(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(npz_module.os, "fsync", full)
    path = tmp_path / "run.npz"
    code, out, err = run_cli("train", "--batch-size", "8", "--steps", "5", "--out", path)
    assert code == 1 and "could not save the record" in err and "No space left" in err
    assert os.listdir(tmp_path) == []
