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

# SGD: a float rounding difference (inductor sums in another order) stays that small over 200 steps. Under Adam
# it grows chaotically, as any reordering of float sums would: the mlp's losses were 1e-6 apart for 10 steps and
# ~1% apart by step 20 (measured), so Adam runs are compared over their first steps only.
MLP = RunConfig(model="mlp", batch_size=32, steps=200, record_every=10, eval_every=100, compile="on",
                optimizer="sgd", lr=0.05)
CNN = RunConfig(batch_size=8, steps=200, record_every=10, eval_every=100, compile="on", optimizer="sgd", lr=0.02)
ADAM_STEPS = 8

# ~25 s per compile on an idle 2-core CPU, but 200 s and more were measured with the machine's load at 10-28:
# the compiled tests get more than pytest.ini's 300 s.
pytestmark = [pytest.mark.skipif(compiled_step.unavailable(torch.device("cpu")) is not None,
                                 reason="torch.compile needs a C++ compiler (apt-get install g++)"),
              pytest.mark.timeout(1200)]


def _compiled_run(cfg):
    trainer = Trainer(cfg)
    trainer.start_compile().wait(600)  # compiled from step 1 on, so every plain step is a compiled one
    assert trainer.mode == "compiled", trainer.mode
    record = trainer.step(cfg.steps)
    assert record.mode == "compiled" and record.meta()["mode"] == "compiled"
    return trainer


def _eager_run(cfg):
    trainer = Trainer(cfg.replace(compile="off"))
    trainer.step(cfg.steps)
    assert trainer.mode == "eager" and trainer._compiled is None
    return trainer


@pytest.fixture(scope="module")
def mlp_runs():
    return _compiled_run(MLP), _eager_run(MLP)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


@pytest.mark.parametrize("which", ["mlp", "seed_cnn"])
def test_compiled_run_matches_the_eager_run(mlp_runs, which):
    compiled, eager = mlp_runs if which == "mlp" else (_compiled_run(CNN), _eager_run(CNN))
    assert compiled.steps_done == eager.steps_done == compiled.cfg.steps
    np.testing.assert_allclose(compiled.record.steps["loss"], eager.record.steps["loss"], rtol=2e-3, atol=1e-5)
    for (name, w_compiled), w_eager in zip(compiled.model.state_dict().items(), eager.model.state_dict().values()):
        if w_eager.is_floating_point():  # weights and BN running statistics alike
            assert _relative(w_compiled, w_eager) < 1e-4, name
        else:
            assert torch.equal(w_compiled, w_eager), name  # num_batches_tracked: every step counted once
    np.testing.assert_allclose(compiled.record.evals["test_acc"], eager.record.evals["test_acc"], atol=2e-3)


def test_adam_runs_agree_over_their_first_steps(mlp_runs):
    cfg = MLP.replace(optimizer="adam", lr=1e-3, steps=ADAM_STEPS)  # same shapes: the compiled step is reused
    compiled, eager = _compiled_run(cfg), _eager_run(cfg)
    np.testing.assert_allclose(compiled.record.steps["loss"], eager.record.steps["loss"], rtol=1e-5)
    for (name, w_compiled), w_eager in zip(compiled.model.state_dict().items(), eager.model.state_dict().values()):
        if w_eager.is_floating_point():
            assert _relative(w_compiled, w_eager) < 1e-4, name


def test_records_from_a_compiled_run_have_the_same_columns_and_meaning(mlp_runs):
    compiled, eager = (t.record for t in mlp_runs)
    for table in ("steps", "snapshots", "evals"):
        a, b = getattr(compiled, table).columns(), getattr(eager, table).columns()
        assert a.keys() == b.keys(), table
        for name in a:
            assert a[name].shape == b[name].shape and a[name].dtype == b[name].dtype, f"{table}/{name}"
    np.testing.assert_array_equal(compiled.snapshots["step"], eager.snapshots["step"])
    np.testing.assert_allclose(compiled.steps["grad_norm"], eager.steps["grad_norm"], rtol=1e-2)
    np.testing.assert_allclose(compiled.steps["train_acc"], eager.steps["train_acc"], atol=1 / 32 + 1e-6)
    # Recorded steps stay eager with their hooks: the snapshot statistics mean the same thing.
    for name in ("mean", "std", "update_ratio"):
        column = next(k for k in compiled.snapshots.names() if k.endswith(name))
        np.testing.assert_allclose(compiled.snapshots[column], eager.snapshots[column], rtol=1e-2, atol=1e-4)
    compiled.validate()


def test_same_config_same_mode_gives_identical_numbers(mlp_runs):
    again = _compiled_run(MLP)  # the process's compiled step is reused: no second compile
    assert again._compiled is mlp_runs[0]._compiled
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
    monkeypatch.setattr(compiled_step.CompiledStep, "_forward", broken)
    cfg = MLP.replace(batch_size=24, steps=30)  # shapes no other test compiled
    trainer = Trainer(cfg)
    trainer.start_compile().wait(60)
    record = trainer.step(30)
    assert trainer.mode == "eager (compile failed: RuntimeError: inductor exploded)"
    eager = _eager_run(cfg)
    np.testing.assert_array_equal(record.steps["loss"], eager.record.steps["loss"])


def test_compile_knob_auto_compiles_long_runs_only():
    assert not RunConfig().wants_compile  # the default 500 steps at batch 32 end before a compile would pay
    assert RunConfig(steps=COMPILE_MIN_IMAGES // 32 + 1).wants_compile
    assert RunConfig(compile="on", steps=10).wants_compile
    assert not RunConfig(compile="off", steps=100_000).wants_compile
    assert RunConfig.from_params({"compile": "off"}).compile == "off"
    with pytest.raises(ConfigError, match="compile.*auto, on, off"):
        RunConfig.from_params({"compile": "yes"})
