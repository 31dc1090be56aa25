"""AppTest of the recalibration (PreciseBN) button in the lab and the microscope: it shows the eval-mode accuracy
before and after recalibrating a copy, and the lab's model (weights and running statistics) is left untouched."""

import copy
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from bnviz.recalibrate import batches_of, eval_accuracy, recalibrate
from bnviz.ui import session
from bnviz.ui.recalibrate_button import RECALIBRATION_IMAGES

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TINY = {"model": "mlp", "steps": "40", "batch_size": "8", "record_every": "10", "eval_every": "20"}


@pytest.fixture(autouse=True)
def one_thread_limiter(fresh_limiter):
    """Every test here trains through a fresh one-slot, one-thread limiter (tests/conftest.py)."""
    yield


def metric(at: AppTest, start: str) -> float:
    return float(next(m.value for m in at.metric if m.label.startswith(start)).rstrip("%")) / 100


def test_recalibrate_a_copy_in_the_lab_and_the_microscope():
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(TINY)
    at.run()
    at.button(key="run.train").click().run()
    run = at.session_state[session.SESSION_KEY].run
    end = time.monotonic() + 60
    while run.state != "finished":
        assert time.monotonic() < end, run.state
        time.sleep(0.1)
    at.run()
    trainer = run.trainer
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    at.button(key="lab.recalibrate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    before, after = metric(at, "Eval mode, running"), metric(at, "Eval mode, recalibrated")
    # the reference: recalibrate a copy by hand with the same batches, and measure eval mode
    b = trainer.cfg.batch_size
    ref = recalibrate(copy.deepcopy(trainer.model), batches_of(trainer.x_train, b, RECALIBRATION_IMAGES // b,
                                                               torch.Generator().manual_seed(trainer.cfg.seed)))
    assert before == pytest.approx(eval_accuracy(trainer.model, trainer.x_test, trainer.y_test), abs=1e-3)
    assert after == pytest.approx(eval_accuracy(ref, trainer.x_test, trainer.y_test), abs=1e-3)
    norm = next(m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm1d))
    live = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    assert not torch.equal(norm.running_var, live.running_var)  # the copy did recalibrate
    for key, value in trainer.model.state_dict().items():  # must not happen: the lab's model changed
        assert torch.equal(value, state[key]), key
    at.switch_page("pages/Microscope.py").run()
    at.button(key="scope.recalibrate").click().run()
    assert not at.exception
    assert metric(at, "Eval mode, recalibrated") == pytest.approx(after, abs=1e-3)
