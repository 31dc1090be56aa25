"""Trainer: determinism, learning, divergence handling, evaluation and the record it fills."""

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from bnviz.config import ConfigError, RunConfig
from bnviz.data import load_dataset
from bnviz.models import build_model
from bnviz.trainer import Trainer, resolve_device

FAST = dict(batch_size=16, steps=12, record_every=4, eval_every=6)


def _columns(record):
    out = {}
    for table in ("steps", "snapshots", "evals"):
        for name, column in getattr(record, table).columns().items():
            if name != "ms_per_step":  # wall time differs run to run
                out[f"{table}/{name}"] = column
    return out


def test_same_config_gives_identical_records():
    cfg = RunConfig(**FAST)
    a, b = Trainer(cfg), Trainer(cfg)
    a.step(5), a.step(7)  # how the steps are chunked must not matter
    b.step(12)
    ca, cb = _columns(a.record), _columns(b.record)
    assert ca.keys() == cb.keys()
    for name in ca:
        np.testing.assert_array_equal(ca[name], cb[name], err_msg=name)
    other = Trainer(cfg.replace(seed=1))
    other.step(12)
    assert not np.array_equal(other.record.steps["loss"], a.record.steps["loss"])


def test_record_layout_and_cadence():
    trainer = Trainer(RunConfig(**FAST))
    record = trainer.step(100)  # capped at cfg.steps
    assert trainer.done and record.status == "finished" and trainer.steps_done == 12
    np.testing.assert_array_equal(record.steps["step"], np.arange(12))
    np.testing.assert_array_equal(record.snapshots["step"], [0, 4, 8])
    np.testing.assert_array_equal(record.evals["step"], [6, 12])
    assert record.layers == ["block1.conv", "block1.norm", "block2.conv", "block2.norm", "head"]
    assert record.sites == {"block1.norm": 32, "block2.norm": 64}
    record.validate()
    assert (record.steps["grad_norm"] > 0).all() and (record.steps["ms_per_step"] > 0).all()
    assert (record.snapshots["update_ratio"] > 0).all()


def test_automatic_evaluation_every_8000_training_images_and_at_the_end():
    record = Trainer(RunConfig(model="mlp", batch_size=800, steps=25, record_every=100)).step(25)
    np.testing.assert_array_equal(record.evals["step"], [10, 20, 25])  # 10 steps of 800 images, then the end


def test_grad_norm_and_loss_match_a_hand_written_step():
    cfg = RunConfig(batch_size=8, steps=1, record_every=1, optimizer="sgd", lr=0.1)
    trainer = Trainer(cfg)
    x, y = trainer.x_train, trainer.y_train
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))[:8]
    model = build_model(cfg)
    loss = torch.nn.functional.cross_entropy(model(x[order]), y[order])
    loss.backward()
    record = trainer.step(1)
    assert record.steps["loss"][0] == pytest.approx(loss.item(), rel=1e-5)
    expected = [model.get_submodule(name).weight.grad.norm().item() for name in record.layers]
    np.testing.assert_allclose(record.steps["grad_norm"][0], expected, rtol=1e-4)
    # SGD: the update is lr * grad, so |dW| / |W| = lr * |grad| / |W|.
    weights = [model.get_submodule(name).weight.norm().item() for name in record.layers]
    np.testing.assert_allclose(record.snapshots["update_ratio"][0], 0.1 * np.array(expected) / weights, rtol=1e-3)


def test_overfits_one_batch():
    cfg = RunConfig(batch_size=16, steps=60, lr=3e-3, record_every=30, eval_every=1000)
    trainer = Trainer(cfg)
    x, y = trainer.x_train[:16], trainer.y_train[:16]
    trainer.x_train, trainer.y_train = x, y  # every step sees the same 16 images
    record = trainer.step(60)
    assert record.steps["loss"][-1] < 0.05 < record.steps["loss"][0]
    assert record.steps["train_acc"][-1] == 1.0


def test_learns_the_bundled_digits():
    record = Trainer(RunConfig(steps=120, placement="before", eval_every=120, record_every=40)).step(120)
    assert record.evals["test_acc"][-1] > 0.85


def test_divergence_stops_and_keeps_the_record():
    trainer = Trainer(RunConfig(batch_size=16, steps=40, record_every=3, eval_every=1000))
    trainer.step(7)
    trainer.x_train.fill_(float("nan"))  # from step 7 on, every batch makes the loss NaN
    record = trainer.step(20)
    assert record.status == "diverged" and trainer.done and record.status_step == 7
    assert not np.isfinite(record.steps["loss"][-1]) and np.isfinite(record.steps["loss"][:-1]).all()
    np.testing.assert_array_equal(record.steps["step"], np.arange(8))
    np.testing.assert_array_equal(record.snapshots["step"], [0, 3, 6])
    record.validate()
    assert trainer.step(10) is record and len(record.steps) == 8  # no more training


def test_large_learning_rate_without_norm_is_handled():
    record = Trainer(RunConfig(norm="none", optimizer="sgd", lr=10.0, activation="tanh", steps=30,
                               batch_size=16, record_every=5, eval_every=1000)).step(30)
    assert record.status in ("finished", "diverged")
    record.validate()


def test_stop_keeps_the_record():
    trainer = Trainer(RunConfig(**FAST))
    trainer.step(3)
    trainer.stop()
    assert trainer.record.status == "stopped" and len(trainer.record.steps) == 3
    assert trainer.step(5).steps["step"][-1] == 2


def test_train_mode_and_eval_mode_accuracy_are_measured_on_the_same_batches():
    import copy
    trainer = Trainer(RunConfig(batch_size=4, steps=20, eval_every=1000, record_every=100))
    trainer.step(20)
    model = copy.deepcopy(trainer.model)
    trainer.evaluate()
    x, y = trainer.x_test[:256], trainer.y_test[:256]
    with torch.no_grad():
        eval_acc = (model.eval()(x).argmax(1) == y).float().mean().item()
        model.train()  # batch statistics of each 4-image batch
        train_acc = np.mean([(model(x[i:i + 4]).argmax(1) == y[i:i + 4]).float().mean().item()
                             for i in range(0, 256, 4)])
    assert trainer.record.evals["eval_mode_acc"][-1] == pytest.approx(eval_acc)
    assert trainer.record.evals["train_mode_acc"][-1] == pytest.approx(train_acc)


def test_evaluation_does_not_move_running_stats():
    trainer = Trainer(RunConfig(batch_size=16, steps=6, eval_every=1000, record_every=100))
    trainer.step(5)
    before = {n: b.clone() for n, b in trainer.model.named_buffers()}
    trainer.evaluate()
    for name, buffer in trainer.model.named_buffers():
        torch.testing.assert_close(buffer, before[name])


@pytest.mark.parametrize("overrides", [
    dict(model="mlp", activation="sigmoid", batch_size=60),
    dict(norm="group", groups=4), dict(norm="layer"), dict(norm="instance"),
    dict(placement="none"), dict(momentum=None, batch_size=1), dict(affine=False, activation="tanh"),
])
def test_every_norm_and_model_trains_and_records(overrides):
    record = Trainer(RunConfig(steps=4, record_every=2, eval_every=4, **overrides)).step(4)
    assert record.status == "finished" and len(record.snapshots) == 2
    record.validate()


def test_missing_device_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")  # the check below needs its absence
    with pytest.raises(ConfigError, match="device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_shares_a_loaded_dataset():
    data = load_dataset("mnist-5k")
    trainer = Trainer(RunConfig(**FAST), dataset=data)
    assert trainer.x_train.shape == (4000, 1, 28, 28)


# Ops whose result, or the size of their result, depends on tensor data: on a GPU each makes the host wait for
# the device. `item()`, `bool(t)`, `int(t)` dispatch to _local_scalar_dense.
HOST_SYNCING_OPS = {"aten::_local_scalar_dense", "aten::nonzero", "aten::masked_select", "aten::bincount",
                    "aten::histc", "aten::_unique2", "aten::unique_dim", "aten::repeat_interleave", "aten::equal",
                    "aten::is_nonzero"}


class HostSyncs(TorchDispatchMode):
    """Records every host-syncing op run under it, except `.item()` of the tensors in `exempt`. It sees the ops
    called from Python; copies to the host (`.cpu()`, `.numpy()`) dispatch nothing on a CPU run, so the
    transfers are counted by wrapping the one function that makes them."""

    def __init__(self, exempt=()):
        super().__init__()
        self.exempt, self.seen = {id(t) for t in exempt}, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        if name in HOST_SYNCING_OPS and not (args and id(args[0]) in self.exempt):
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_one_host_transfer_per_recorded_step_and_no_other_sync(monkeypatch, norm):
    """On a GPU the record costs one host sync per recorded step: every measurement stays a device tensor
    until the trainer's single transfer (_to_host). Checked op by op here, where there is no GPU."""
    import bnviz.trainer as trainer_module
    trainer = Trainer(RunConfig(batch_size=16, steps=100, record_every=10, norm=norm))
    trainer.step(1)  # Adam creates its state; its step counters live on the CPU (read with .item())
    counters = [state["step"] for state in trainer.optimizer.state.values()]
    transfers = []
    to_host = trainer_module._to_host
    monkeypatch.setattr(trainer_module, "_to_host", lambda tensors: transfers.append(1) or to_host(tensors))
    with HostSyncs(exempt=counters) as syncs:
        trainer.step(39)  # steps 1-39: recorded steps 10, 20, 30, then the last pending steps
    assert syncs.seen == []
    assert len(transfers) == 3 + 1
    assert list(trainer.record.snapshots["step"]) == [0, 10, 20, 30]
