"""Compiled plain steps: the same numbers as eager (to float tolerance), the same record, determinism, fallbacks.

Each compile costs tens of seconds on a 2-core CPU, so the compiled runs are module-scoped and every later run
of the same shapes reuses the process's compiled step: two compiles in all (the mlp and the seed CNN).
"""

import numpy as np
import pytest
import torch

from bnviz import compiled_step
from bnviz.config import COMPILE_MIN_IMAGES, ConfigError, RunConfig
from bnviz.trainer import Trainer

# These runs are chaotic: an eager run whose weights are nudged once by 1e-7 (relative) after step 0 ends 0.2-0.7
# (relative) away from the unnudged one after 200 steps, with a jump at step 10 (measured, SGD lr 0.01 and 0.05,
# Adam 1e-3). No implementation that sums floats in another order can match to 1e-4 after 200 steps, so: the
# first steps must agree to rounding, and over 200 steps compiled-vs-eager may drift no faster than an eager
# run nudged by NUDGE at every step.
MLP = RunConfig(model="mlp", batch_size=32, steps=200, record_every=10, eval_every=100, compile="on",
                optimizer="sgd", lr=0.05)
CNN = RunConfig(batch_size=8, steps=9, record_every=10, eval_every=100, compile="on", optimizer="sgd", lr=1e-3)
# Compiled vs eager (mlp, SGD 0.05), the largest relative distance of any tensor (a bias): 3.6e-7 after 2 steps,
# 3.5e-6 after 3, 4.8e-6 after 6, 5.8e-6 after 7, 2.2e-5 after 8, 4.9e-5 after 9 (measured 2026-12-02, the same
# with the optimizer step eager): rounding differences that grow with every step; 1e-5 holds for 6 steps.
ROUNDING_STEPS = 6
NUDGE = 1e-6  # per step: the compiled run differs from eager by ~1e-6 after a few steps (measured)


def _distance(a: Trainer, b: Trainer) -> float:
    """The largest relative L2 distance between two runs' floating-point tensors (weights, running stats)."""
    return max(float((x - y).norm() / y.norm().clamp(min=1e-12)) for x, y in
               zip(a.model.state_dict().values(), b.model.state_dict().values()) if y.is_floating_point())


def _compiled_trainer(cfg):
    trainer = Trainer(cfg)
    trainer.start_compile().wait(1200)  # compiled from step 1 on, so every plain step is a compiled one
    assert trainer.mode == "compiled", trainer.mode
    return trainer


def _lockstep(cfg):
    """A compiled run, the eager run and an eager control nudged by NUDGE after every step (float rounding noise,
    as the compiled run's other summation order adds at every step), stepped together."""
    compiled, eager, control = _compiled_trainer(cfg), Trainer(cfg.replace(compile="off")), Trainer(cfg.replace(compile="off"))
    nudge = torch.Generator().manual_seed(1)
    drift = []
    for step in range(cfg.steps):
        for trainer in (compiled, eager, control):
            trainer.step(1)
        with torch.no_grad():
            for p in control.model.parameters():
                p.mul_(1 + NUDGE * torch.randn(p.shape, generator=nudge))
        drift.append((_distance(compiled, eager), _distance(control, eager)))
    assert eager.mode == "eager" and eager._compiled is None
    assert compiled.record.mode == "compiled" and compiled.record.meta()["mode"] == "compiled"
    return compiled, eager, drift


@pytest.fixture(scope="module")
def mlp_runs():
    return _lockstep(MLP)


@pytest.mark.parametrize("which", ["mlp", "seed_cnn"])
def test_compiled_steps_agree_with_eager_to_rounding(mlp_runs, which):
    compiled, eager, drift = mlp_runs if which == "mlp" else _lockstep(CNN)
    np.testing.assert_allclose(compiled.record.steps["loss"][:ROUNDING_STEPS],
                               eager.record.steps["loss"][:ROUNDING_STEPS], rtol=1e-5)
    assert max(d for d, _ in drift[:ROUNDING_STEPS]) < 1e-5
    step = list(compiled.model.state_dict().values())[-1]
    if not step.is_floating_point():  # BN's num_batches_tracked: every step counted once
        assert torch.equal(step, list(eager.model.state_dict().values())[-1])


def test_over_200_steps_compiled_drifts_no_faster_than_a_rounding_nudge(mlp_runs):
    compiled, eager, drift = mlp_runs
    assert compiled.steps_done == eager.steps_done == 200
    for step, (d_compiled, d_control) in enumerate(drift):
        assert d_compiled <= max(100 * d_control, 1e-5), (step, d_compiled, d_control)
    # Both runs still learn alike: the last 50 steps' mean loss within 10%.
    late = slice(150, 200)
    assert compiled.record.steps["loss"][late].mean() == pytest.approx(eager.record.steps["loss"][late].mean(), rel=0.1)


def test_adam_runs_agree_over_their_first_steps(mlp_runs):
    cfg = MLP.replace(optimizer="adam", lr=1e-3, steps=ROUNDING_STEPS, record_every=3)  # forward reused
    compiled, eager = _compiled_trainer(cfg), Trainer(cfg.replace(compile="off"))
    eager_steps = []  # torch.optim's step() runs once, creating Adam's state; the compiled update does the rest
    step = compiled.optimizer.step
    compiled.optimizer.step = lambda: (eager_steps.append(compiled.steps_done), step())[1]
    compiled.step(cfg.steps), eager.step(cfg.steps)
    assert eager_steps == [0]
    np.testing.assert_allclose(compiled.record.steps["loss"], eager.record.steps["loss"], rtol=1e-5)
    assert _distance(compiled, eager) < 1e-5
    # One optimizer state, shared by both kinds of step: Adam's step count and moments match the eager run's.
    for p, q in zip(compiled.model.parameters(), eager.model.parameters()):
        mine, theirs = compiled.optimizer.state[p], eager.optimizer.state[q]
        assert float(mine["step"]) == float(theirs["step"]) == cfg.steps
        for moment in ("exp_avg", "exp_avg_sq"):
            assert (mine[moment] - theirs[moment]).norm() <= 1e-4 * theirs[moment].norm(), moment


def test_records_from_a_compiled_run_have_the_same_columns_and_meaning(mlp_runs):
    compiled, eager = (t.record for t in mlp_runs[:2])
    early = slice(0, ROUNDING_STEPS)
    for table in ("steps", "snapshots", "evals"):
        a, b = getattr(compiled, table).columns(), getattr(eager, table).columns()
        assert a.keys() == b.keys(), table
        for name in a:
            assert a[name].shape == b[name].shape and a[name].dtype == b[name].dtype, f"{table}/{name}"
    np.testing.assert_array_equal(compiled.snapshots["step"], eager.snapshots["step"])
    np.testing.assert_allclose(compiled.steps["grad_norm"][early], eager.steps["grad_norm"][early], rtol=1e-4)
    np.testing.assert_array_equal(compiled.steps["train_acc"][early], eager.steps["train_acc"][early])
    # Recorded steps stay eager with their hooks: step 0's snapshot is the same numbers, later ones the same kind.
    for name in ("mean", "std", "update_ratio"):
        column = next(k for k in compiled.snapshots.names() if k.endswith(name))
        np.testing.assert_allclose(compiled.snapshots[column][0], eager.snapshots[column][0], rtol=1e-4, atol=1e-6)
    compiled.validate()


def test_same_config_same_mode_gives_identical_numbers(mlp_runs):
    again = _compiled_trainer(MLP)  # the process's compiled step is reused: no second compile
    again.step(MLP.steps)
    assert again._compiled.forward is mlp_runs[0]._compiled.forward
    assert again._compiled.update_fn is mlp_runs[0]._compiled.update_fn
    for table in ("steps", "snapshots"):
        first, second = getattr(mlp_runs[0].record, table).columns(), getattr(again.record, table).columns()
        for name in first:
            if name != "ms_per_step":
                np.testing.assert_array_equal(first[name], second[name], err_msg=f"{table}/{name}")


def test_without_a_compiler_training_goes_on_eager_and_says_so(monkeypatch):
    monkeypatch.setattr(compiled_step, "unavailable", lambda device: "no C++ compiler found")
    trainer = Trainer(MLP.replace(steps=12))
    trainer.step(12)
    assert trainer.done and trainer.mode == "eager (compile unavailable: no C++ compiler found)"
    assert trainer.record.meta()["mode"] == trainer.mode


def test_a_failed_compile_leaves_the_run_eager_and_says_why(monkeypatch):
    def broken(self, params, buffers, x, y):
        raise RuntimeError("inductor exploded")
    monkeypatch.setattr(compiled_step._Forward, "__call__", broken)
    cfg = MLP.replace(batch_size=24, steps=30)  # shapes no other test compiled
    trainer = Trainer(cfg)
    trainer.start_compile().wait(60)
    record = trainer.step(30)
    assert trainer.mode == "eager (compile failed: RuntimeError: inductor exploded)"
    eager = Trainer(cfg.replace(compile="off"))
    eager.step(30)
    np.testing.assert_array_equal(record.steps["loss"], eager.record.steps["loss"])


def test_compile_knob_auto_compiles_long_runs_only():
    assert not RunConfig().wants_compile  # the default 500 steps at batch 32 end before a compile would pay
    assert RunConfig(steps=COMPILE_MIN_IMAGES // 32 + 1).wants_compile
    # without BatchNorm a compiled step is slower than eager on the CPU (bench/README.md): auto leaves it eager
    assert not RunConfig(steps=COMPILE_MIN_IMAGES // 32 + 1, norm="none").wants_compile
    assert not RunConfig(steps=COMPILE_MIN_IMAGES // 32 + 1, norm="group").wants_compile
    assert RunConfig(compile="on", steps=10, norm="none").wants_compile
    assert RunConfig(compile="on", steps=10).wants_compile
    assert not RunConfig(compile="off", steps=100_000).wants_compile
    assert RunConfig.from_params({"compile": "off"}).compile == "off"
    with pytest.raises(ConfigError, match="compile.*auto, on, off"):
        RunConfig.from_params({"compile": "yes"})


def test_an_optimizer_the_compiled_update_does_not_cover_leaves_the_run_eager():
    trainer = Trainer(MLP.replace(steps=12))
    trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=0.05, momentum=0.9)
    trainer.start_compile().wait(600)
    trainer.step(12)
    assert trainer.done and trainer.mode.startswith("eager (compile failed: ") and "momentum" in trainer.mode
    assert len(trainer.optimizer.state) == len(list(trainer.model.parameters()))  # torch.optim's momentum ran
