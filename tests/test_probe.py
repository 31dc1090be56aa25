"""bnviz.probe: a layer's input on a fixed batch between steps, measured without changing the training (noisy
BN's generators and BN's running statistics are put back), equal to a hand-made hook on a copy of the model."""

import copy

import numpy as np
import torch

from bnviz.config import RunConfig
from bnviz.papers import runs
from bnviz.probe import input_stats
from bnviz.trainer import Trainer

NOISY = RunConfig(model="mlp", activation="relu", norm="batch", bn_noise=1.0, steps=12, batch_size=16,
                  record_every=3, eval_every=6)


def test_probe_is_the_input_a_copy_of_the_model_sees():
    trainer = Trainer(NOISY)
    trainer.step(5)
    x = trainer.x_train[:20]
    twin = copy.deepcopy(trainer.model)  # its generators are copies, in the same state
    seen = {}
    dict(twin.named_modules())["block3.norm"].register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    twin.train()
    with torch.no_grad():
        twin(x)
    mean, std = input_stats(trainer.model, "block3.norm", x)
    ref = seen["x"].numpy()
    np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, ref.std(0, ddof=1), rtol=1e-5, atol=1e-6)


def test_probing_every_step_leaves_training_as_it_was():
    torch.set_num_threads(1)
    plain, probed = Trainer(NOISY), Trainer(NOISY)
    while not plain.done:
        plain.step(1)
        probed.step(1)
        input_stats(probed.model, "block3.norm", probed.x_train[:20])
    assert np.array_equal(plain.record.steps["loss"], probed.record.steps["loss"])
    for (name, a), (_, b) in zip(plain.model.state_dict().items(), probed.model.state_dict().items()):
        assert torch.equal(a, b), name  # weights and running statistics alike


def probe_mean(trainer):
    return {"mean": input_stats(trainer.model, "block3.norm", trainer.x_train[:20])[0]}


def test_arms_carry_one_probe_per_step():
    got = runs.train_arms([NOISY, NOISY.replace(norm="none", bn_noise=0.0)], probe=probe_mean)
    assert [len(r.extra["probe"]["mean"]) for r in got] == [NOISY.steps, NOISY.steps]
