"""The reproductions' engines: arms through the compare engine (Lockstep) and grids through the sweep engine's
local pool give the numbers of plain Trainers run one after another (the reference), finish included."""

import numpy as np
import pytest
import torch

from bnviz.backends import make_backend
from bnviz.config import RunConfig
from bnviz.papers import get, runs, small_batch
from bnviz.trainer import Trainer

TINY = dict(model="mlp", steps=30, batch_size=16, record_every=10, eval_every=15)


def reference(configs, finish=None):
    """Each config trained alone by a Trainer, in this process."""
    out = []
    for cfg in configs:
        trainer = Trainer(cfg)
        while not trainer.done:
            trainer.step(7)
        trainer.recorder.close()
        out.append((trainer.record, finish(trainer) if finish else {}))
    return out


def same_record(a, b):
    assert a.status == b.status
    for name in ("loss", "train_acc"):
        assert np.array_equal(a.steps[name], b.steps[name]), name
    assert np.array_equal(a.evals["test_acc"], b.evals["test_acc"])


def test_groups_are_even_and_never_one_arm():
    assert [len(g) for g in runs.groups(9)] == [3, 3, 3]
    assert sorted(len(g) for g in runs.groups(5)) == [2, 3]
    assert [len(g) for g in runs.groups(2)] == [2]
    for n in range(2, 30):
        parts = runs.groups(n)
        assert [i for g in parts for i in g] == list(range(n)) and all(2 <= len(g) <= 4 for g in parts), n


def test_comparison_of_rebuilds_each_config():
    configs = [RunConfig(**TINY, norm=n, seed=s) for n in ("batch", "none") for s in (0, 1)]
    assert runs.comparison_of(configs).configs == configs


def test_arms_in_lockstep_equal_trainers_one_after_another():
    torch.set_num_threads(1)
    configs = [RunConfig(**TINY, norm=n, seed=s) for n in ("batch", "none", "layer") for s in (0, 1)]  # 2 groups
    seen = []
    got = runs.train_arms(configs, progress=lambda r, done, total: seen.append((len(r), done, total)))
    assert [r.config for r in got] == configs
    for run, (record, _) in zip(got, reference(configs)):
        same_record(run.record, record)
    # the live figure fills in: every arm of a group appears at once, steps count up to the total
    assert seen[0][0] == 3 and seen[-1] == (6, 180, 180)
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)


def test_grid_through_the_pool_equals_trainers_with_finish():
    torch.set_num_threads(1)  # the workers' thread count: bitwise the same arithmetic
    configs = [RunConfig(**{**TINY, "batch_size": b}, norm="batch") for b in (4, 16, 64)]
    seen = []
    got = runs.train_grid(configs, progress=lambda r, done, total: seen.append(len(r)), finish=small_batch.finish,
                          backend=make_backend("local", workers=2, threads=1))
    assert [r.config for r in got] == configs
    for run, (record, extra) in zip(got, reference(configs, small_batch.finish)):
        same_record(run.record, record)
        assert run.extra == extra and set(extra) == {"train_mode", "eval_mode", "recalibrated"}
    assert seen == [1, 2, 3]  # one progress call per landed run


def test_a_grid_reproduction_uses_the_backend_it_is_given():
    class Spy:
        name, threads = "local", 1

        def __init__(self):
            self.inner, self.calls = make_backend("local", workers=1, threads=1), 0

        def results(self, configs, stop=None):
            self.calls += len(configs)
            self.inner.keep_record, self.inner.finish = self.keep_record, self.finish
            return self.inner.results(configs, stop)

    spy = Spy()
    rep = get("higher_lr")
    result = rep.run("test", backend=spy)
    assert spy.calls == len(rep.configs("test")) and result["runs"] == spy.calls


def test_a_failed_run_is_an_error_not_a_measurement():
    configs = [RunConfig(**TINY, device="mps")]  # Apple-only: on this Linux the worker's run fails
    with pytest.raises(RuntimeError, match="a run failed"):
        runs.train_grid(configs, backend=make_backend("local", workers=1, threads=1))
