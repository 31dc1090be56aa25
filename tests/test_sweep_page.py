"""AppTest of the Sweep page: presets fill the form, a bad grid is named before anything trains, a tiny
sweep queues behind a lab training then fills the chart and table, share links round-trip, bad link
parameters are named and their defaults used."""

import base64
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_charts import charts
from bnviz.ui import session
from bnviz.live import Limiter
from bnviz.ui.sweep_job import STATE_KEY, SweepState, start
from bnviz.ui.sweep_link import read
from bnviz.ui.sweep_spec import PRESETS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/Sweep.py"
# Two runs of 20 steps of the mlp at batch 8: a line per norm, one x value, one seed.
TINY = {"model": "mlp", "batch_size": "8", "steps": "20", "grid": "batch_size:8;norm:batch,none", "seeds": "0",
        "images": "none"}


@pytest.fixture(autouse=True)
def one_slot_limiter(fresh_limiter):
    """Every test here trains through a fresh one-slot, one-thread limiter (tests/conftest.py)."""
    yield


def open_sweep(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    return at.switch_page(PAGE).run()


def assert_sane(at: AppTest):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def array(values) -> np.ndarray:
    """Plotly sends numpy arrays base64-encoded ({"dtype", "bdata"})."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
    return np.asarray(values, dtype=float)


def state(at: AppTest):
    return at.session_state[STATE_KEY]


def test_each_preset_fills_the_form_and_the_link():
    at = open_sweep()
    assert_sane(at)
    for name, preset in PRESETS.items():
        at.selectbox(key="sweep.preset").select(name).run()
        assert_sane(at)
        runs = int(np.prod([len(v) for v in preset.grid.values()])) * len(preset.seeds)
        assert any(c.value.startswith(f"{runs} runs:") for c in at.caption), name
        assert at.query_params["grid"] == ";".join(f"{k}:{','.join(v)}" for k, v in preset.grid.items())
        assert at.selectbox(key="sweep.metric").value == preset.metric
        assert state(at).job is None  # choosing a preset trains nothing
    assert at.query_params["optimizer"] == "sgd" or name != "learning rate x BN"


def test_a_bad_grid_is_named_and_nothing_trains():
    at = open_sweep()
    at.text_input(key="sweep.x_values").input("2,0,8").run()
    assert "batch_size=0 is not allowed: int in [1, 1024]" in at.error[0].value
    assert at.button[0].disabled and state(at).job is None
    at.text_input(key="sweep.x_values").input("2,4")
    at.text_input(key="sweep.line_values").input("batch,instance").run()  # instance norm on the mlp
    assert "norm='instance'" in at.error[0].value and "feature maps" in at.error[0].value
    at.text_input(key="sweep.line_values").input("batch")
    at.text_input(key="sweep.seeds").input("0,x").run()
    assert "seeds='0,x' is not allowed" in at.error[0].value


def test_the_server_caps_a_sweeps_size(monkeypatch):
    monkeypatch.setenv("BNVIZ_HOSTED", "1")
    monkeypatch.setenv("BNVIZ_MAX_SWEEP", "8")
    at = open_sweep()
    assert "at most 8 runs per sweep on this server" in at.error[0].value and "40 runs" in at.error[0].value


def test_a_tiny_sweep_queues_behind_a_training_then_fills_the_chart_and_table():
    limiter = session.shared_limiter()
    lab_training = object()
    limiter.enter(lab_training)
    assert limiter.wait_turn(lab_training, 5)  # the only slot is taken
    at = open_sweep(TINY)
    assert_sane(at)
    assert state(at).job is None  # no autorun: the link alone trains nothing
    at.button[0].click().run()
    job = state(at).job
    assert "Queued: place 1" in at.info[0].value
    limiter.leave(lab_training)
    job.join(120)
    assert job.state == "finished", (job.state, job.error)
    at.run()
    assert_sane(at)
    assert "Finished: 2 of 2 runs" in at.info[0].value
    assert job.backend_name.startswith("local: 1 worker")
    assert any(job.backend_name in c.value for c in at.caption)
    figure = charts(at)["sweep.chart"]
    results = job.results()
    assert [t["name"] for t in figure["data"]] == ["norm=batch", "norm=none"]
    for trace, result in zip(figure["data"], results):
        assert array(trace["y"])[0] == pytest.approx(100 * (1 - result.test_acc))
        assert result.status == "finished" and 0 < result.test_acc <= 1
    table = at.dataframe[0].value
    assert list(table["norm"]) == ["batch", "none"] and list(table["status"]) == ["finished"] * 2
    assert at.get("download_button")


def test_a_share_link_round_trips():
    at = open_sweep()
    at.selectbox(key="sweep.preset").select("learning rate x BN").run()
    at.text_input(key="sweep.x_values").input("0.01,0.1")
    at.text_input(key="sweep.seeds").input("3,4")
    at.radio(key="sweep.bars").set_value("minmax").run()
    params = dict(at.query_params)
    assert params["grid"] == "lr:0.01,0.1;norm:batch,none" and params["seeds"] == "3,4"
    assert params["images"] == "none" and params["steps"] == "300" and params["bars"] == "minmax"
    again = open_sweep(params)
    assert_sane(again)
    assert not again.warning
    assert state(again).spec == state(at).spec
    assert again.text_input(key="sweep.x_values").value == "0.01,0.1"
    assert again.selectbox(key="sweep.optimizer").value == "sgd"
    assert dict(again.query_params) == params
    lab = again.switch_page("pages/Lab.py").run()  # the lab read the same link: no warning about it
    assert_sane(lab)
    assert not lab.warning, [w.value for w in lab.warning]


def test_bad_link_parameters_are_named_and_defaults_used():
    at = open_sweep({"grid": "batch_size:0;norm:batch", "seeds": "x", "metric": "loss", "images": "-1",
                     "model": "vgg", "lines": "norm"})
    assert_sane(at)
    warnings = "\n".join(w.value for w in at.warning)
    for named in ("grid='batch_size:0;norm:batch'", "int in [1, 1024]", "seeds='x'", "metric='loss'",
                  "one of error, accuracy, gap, ms", "images=-1", "model='vgg'", "unknown parameter 'lines'"):
        assert named in warnings, named
    default = next(iter(PRESETS.values()))
    assert state(at).spec == default
    assert read(dict(at.query_params))[0] == default


def test_ray_is_offered_only_when_the_server_has_a_ray_address(monkeypatch):
    assert "sweep.backend" not in [r.key for r in open_sweep().radio]  # the local pool only: no choice
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    at = open_sweep()
    choice = at.radio(key="sweep.backend")
    assert choice.options == ["local", "ray"] and choice.value == "local"
    choice.set_value("ray").run()
    assert any("ray: cluster at 127.0.0.1:6379" in c.value for c in at.caption)


def test_a_sweep_whose_page_stops_polling_is_stopped_and_frees_its_slot():
    limiter = Limiter(1, 1)
    lab_training = object()
    limiter.enter(lab_training)
    assert limiter.wait_turn(lab_training, 5)
    sweep = SweepState()
    job = start(sweep, read(TINY)[0], "local", limiter, heartbeat_timeout=0.5)  # queued: nothing trains
    assert job.queue_position() == 1
    job.join(10)
    assert job.state == "stopped"
    assert "no sign of the browser for 0.5 s" in job.error and limiter.position(job.tickets[0]) is None
    assert job.results() == []
