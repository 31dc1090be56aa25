"""Lockstep: each arm's record equals the same config trained alone; an arm that fails or diverges stops alone;
one LiveRun trains a comparison; the comparison file round-trips."""

import numpy as np
import pytest
import torch

from bnviz.compare import Arm, Comparison
from bnviz.comparison_record import ComparisonRecord
from bnviz.config import RunConfig
from bnviz.live import Limiter, LiveRun
from bnviz.lockstep import Lockstep
from bnviz.record import TABLES, RecordError, RunRecord
from bnviz.trainer import Trainer

BASE = RunConfig(model="mlp", batch_size=8, steps=12, record_every=4, eval_every=6)
PAIR = Comparison(BASE, (Arm("BN", {"norm": "batch"}), Arm("none", {"norm": "none", "placement": "before"})))


@pytest.fixture(autouse=True)
def one_thread():
    # The same thread count alone and in lockstep: float sums then match bit for bit.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_same_run(got: RunRecord, alone: RunRecord):
    assert (got.config, got.status, got.status_step, got.snapshot_every) == \
        (alone.config, alone.status, alone.status_step, alone.snapshot_every)
    for table in TABLES:
        assert getattr(got, table).names() == getattr(alone, table).names()
        for name in getattr(alone, table).names():
            if name != "ms_per_step":  # wall time, the only column allowed to differ
                np.testing.assert_array_equal(getattr(got, table)[name], getattr(alone, table)[name],
                                              err_msg=f"{table}/{name}")


@pytest.fixture(scope="module")
def trained_pair():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    lockstep = Lockstep(PAIR)
    while not lockstep.done:
        lockstep.step(5)  # 5 does not divide 12, the snapshot or the eval cadence
    torch.set_num_threads(before)
    return lockstep


def test_each_arm_equals_the_same_config_trained_alone(trained_pair):
    record = trained_pair.record
    assert record.status == "finished" and trained_pair.steps_done == 12
    for cfg, run in zip(PAIR.configs, record.runs):
        assert_same_run(run, Trainer(cfg).step(cfg.steps))


def test_arms_are_never_more_than_a_chunk_apart():
    lockstep = Lockstep(PAIR)
    for _ in range(2):
        lockstep.step(3)
        assert [t.steps_done for t in lockstep.trainers] == [lockstep.steps_done] * 2
    lockstep.stop()
    assert [lockstep.record.arm_status(i) for i in range(2)] == ["stopped", "stopped"]
    assert lockstep.record.status == "stopped" and lockstep.done


class FailsAtStep6(Trainer):
    def step(self, n=1):
        if self.steps_done >= 6:
            raise RuntimeError("out of memory (simulated)")
        return super().step(n)


def test_a_failing_arm_stops_alone_and_the_others_go_on():
    made = iter([Trainer, FailsAtStep6])
    lockstep = Lockstep(PAIR, make_trainer=lambda cfg, data: next(made)(cfg, data))
    while not lockstep.done:
        lockstep.step(3)
    record = lockstep.record
    assert record.arm_status(0) == "finished" and len(record.runs[0].steps) == 12
    assert record.arm_status(1) == "failed" and len(record.runs[1].steps) == 6
    assert record.messages[1] == "failed at step 6: RuntimeError: out of memory (simulated)"
    assert record.status == "finished"


def test_a_diverging_arm_stops_alone_and_the_file_round_trips(tmp_path):
    # SGD at lr 10 without normalization: this seed's CNN diverges within a few steps.
    wild = {"model": "seed_cnn", "optimizer": "sgd", "lr": "10", "placement": "none", "seed": "2"}
    cmp = Comparison(BASE.replace(steps=40), (Arm("calm", {}), Arm("wild", wild)))
    lockstep = Lockstep(cmp)
    while not lockstep.done:
        lockstep.step(5)
    record = lockstep.record
    assert record.arm_status(0) == "finished" and len(record.runs[0].steps) == 40
    wild_run = record.runs[1]
    assert record.arm_status(1) == "diverged" and wild_run.status_step < 40
    assert not np.isfinite(wild_run.steps["loss"][-1])
    assert record.messages[1].startswith(f"diverged at step {wild_run.status_step}")

    path = tmp_path / "cmp.npz"
    record.save(path)
    back = ComparisonRecord.load(path)
    assert back.labels == ["calm", "wild"] and back.messages == record.messages
    assert [back.arm_status(i) for i in range(2)] == ["finished", "diverged"]
    for got, saved in zip(back.runs, record.runs):
        assert_same_run(got, saved)
        np.testing.assert_array_equal(got.steps["ms_per_step"], saved.steps["ms_per_step"])


def test_a_comparison_file_is_not_a_run_and_bad_ones_are_refused(tmp_path, trained_pair):
    path = tmp_path / "cmp.npz"
    trained_pair.record.frozen().save(path)
    with pytest.raises(RecordError):
        RunRecord.load(path)  # no run meta at the top: refused, not misread
    np.savez(tmp_path / "bad.npz", meta=np.array('{"kind": "comparison", "schema": 1, "arms": 3}'))
    with pytest.raises(RecordError, match="invalid comparison meta"):
        ComparisonRecord.load(tmp_path / "bad.npz")


def test_one_live_run_trains_the_comparison_in_one_slot(trained_pair):
    limiter = Limiter(slots=1, threads=1)
    run = LiveRun(PAIR, limiter)  # a Comparison: LiveRun steps a Lockstep
    try:
        run.start()
        assert run.wait_for_first_record(60)
        run._thread.join(120)
        assert run.state == "finished" and limiter.running == 0
        view = run.latest_record()
        assert isinstance(run.trainer, Lockstep)
        assert isinstance(view, ComparisonRecord) and view is not run.trainer.record
        for got, alone in zip(view.runs, trained_pair.record.runs):
            assert_same_run(got, alone)
        assert run.progress().steps_done == PAIR.steps
    finally:
        limiter.stop_all()


def test_frozen_copies_do_not_change_while_training_goes_on():
    lockstep = Lockstep(PAIR)
    lockstep.step(2)
    frozen = lockstep.record.frozen()
    lockstep.step(2)
    assert [len(run.steps) for run in frozen.runs] == [2, 2]
    assert [len(run.steps) for run in lockstep.record.runs] == [4, 4]
    lockstep.stop()
    assert [run.status for run in frozen.runs] == ["running", "running"]
