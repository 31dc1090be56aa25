"""AppTest of the lab (app.py) and the microscope page: they load, the widgets and the URL set the config,
Train produces the charts, and nothing broken is ever shown."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from bnviz.config import DEVICES, FIELDS, RunConfig
from bnviz.live import ACTIVE
from bnviz.record import RunRecord
from bnviz.trainer import Trainer, available_devices
from bnviz.ui import export, session
from apptest_charts import charts

APP = str(Path(__file__).resolve().parents[1] / "app.py")
MICROSCOPE = "pages/Microscope.py"
TINY = {"model": "mlp", "steps": "30", "batch_size": "16", "record_every": "5", "eval_every": "10",
        "compile": "off"}  # the long runs here (steps=100000) would otherwise compile in the background


@pytest.fixture(autouse=True, scope="module")
def one_thread_limiter():
    """A fresh shared limiter with one torch thread, so a busy CI machine cannot stall a training team."""
    patch = pytest.MonkeyPatch()
    patch.setenv("BNVIZ_MAX_TRAININGS", "1")
    patch.setenv("BNVIZ_TRAIN_THREADS", "1")
    session.shared_limiter.clear()
    yield
    session.shared_limiter().stop_all()
    session.shared_limiter.clear()
    patch.undo()


def open_app(params: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    if page:
        at.switch_page(page)
    return at.run()


def lab(at: AppTest):
    return at.session_state[session.SESSION_KEY]


def assert_sane(at: AppTest):
    """Must not happen on any page: an exception, an error box, or a NaN in a shown number."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for m in at.metric:
        assert "nan" not in m.value.lower(), m


def chart_titles(at: AppTest) -> list[str]:
    """Each chart's title and subtitle as one line ("block1.norm at step 0: pre vs post, ...")."""
    def line(title: dict) -> str:
        subtitle = title.get("subtitle", {}).get("text")
        return (title["text"] + (f": {subtitle}" if subtitle else "")).replace("<br>", " ")
    return [line(figure["layout"]["title"]) for figure in charts(at).values()]


def placeholders(at: AppTest) -> list[bool]:
    """Per chart: is it the empty chart shown before the first run?"""
    return [any("Press Train" in a.get("text", "") for a in figure["layout"].get("annotations", []))
            for figure in charts(at).values()]


def train_until(at: AppTest, states=("finished",), timeout=60.0) -> AppTest:
    """Rerun as the browser's timer would, until the run reaches one of `states`."""
    end = time.monotonic() + timeout
    while lab(at).run.state not in states:
        assert time.monotonic() < end, f"still {lab(at).run.state}"
        time.sleep(0.1)
        at.run()
    return at.run()


def chart_keys(at: AppTest) -> list[str]:
    return list(charts(at))


def wait_for_step(at: AppTest, step: int, timeout=60.0):
    """Wait until the running record holds a snapshot at or past `step`."""
    end = time.monotonic() + timeout
    while (record := lab(at).run.latest_record()) is None or record.snapshots["step"][-1] < step:
        assert time.monotonic() < end, f"no snapshot at step {step}"
        time.sleep(0.05)


def stop(at: AppTest):
    if lab(at).run is not None:
        lab(at).run.stop()


def test_lab_opens_ready_to_train_and_never_blank():
    at = open_app()
    assert_sane(at)
    assert not at.warning and lab(at).run is None  # must not happen: training without a click
    assert lab(at).config == RunConfig()
    # Views 1 (a chart per norm site) and 4 by default, drawn empty with a hint where the real ones go.
    assert chart_titles(at) == ["block1.norm: Pre vs post histograms", "block2.norm: Pre vs post histograms",
                                "Gradient norm per layer", "Update:data ratio per layer", "Test digits"]
    assert all(placeholders(at))
    keys = chart_keys(at)
    assert not at.button(key="run.train").disabled and at.button(key="run.pause").disabled
    assert set(FIELDS) <= set(at.query_params)  # every knob is in the URL from the start
    # Training fills in the same charts: same keys in the same places, no layout jump.
    at.button(key="run.train").click().run()
    wait_for_step(at, 0)  # the click waits up to 0.8 s for the first record; a loaded machine may take longer
    at.run()
    assert chart_keys(at) == keys
    assert not any(placeholders(at))
    stop(at)


def test_widgets_build_the_config_and_the_url():
    at = open_app()
    at.number_input(key="cfg.batch_size").set_value(64).run()
    assert lab(at).config.batch_size == 64 and at.select_slider(key="slider.batch_size").value == 64
    at.select_slider(key="slider.batch_size").set_value(128).run()
    assert lab(at).config.batch_size == 128 and at.number_input(key="cfg.batch_size").value == 128
    at.select_slider(key="slider.eps").set_value(1e-3).run()
    assert lab(at).config.eps == 1e-3
    at.number_input(key="cfg.eps").set_value(3e-4).run()
    assert lab(at).config.eps == 3e-4 and at.select_slider(key="slider.eps").value in (2e-4, 5e-4)
    at.selectbox(key="cfg.placement").set_value("before").run()
    at.number_input(key="cfg.momentum").set_value(0.01).run()
    assert "0.99" in " ".join(c.value for c in at.caption)  # the Keras convention next to it
    at.checkbox(key="cfg.cumulative").check().run()
    assert lab(at).config == RunConfig(batch_size=128, eps=3e-4, placement="before", momentum=None)
    assert at.query_params["batch_size"] == "128" and at.query_params["momentum"] == "none"
    assert_sane(at)


def test_url_sets_every_widget_and_the_view():
    params = {"batch_size": "48", "eps": "0.001", "placement": "before", "momentum": "none", "norm": "group",
              "groups": "4", "lr": "0.0003", "view": "2,5", "site": "block2.norm", "channel": "3"}
    at = open_app(params)
    assert_sane(at)
    assert not at.warning
    expected = RunConfig(batch_size=48, eps=1e-3, placement="before", momentum=None, norm="group", groups=4,
                         lr=3e-4)
    assert lab(at).config == expected
    assert at.number_input(key="cfg.batch_size").value == 48 and at.selectbox(key="cfg.norm").value == "group"
    assert at.checkbox(key="cfg.cumulative").value and at.number_input(key="cfg.lr").value == 3e-4
    assert at.button_group(key="view.views").value == [2, 5]
    assert at.selectbox(key="view.site").value == "block2.norm" and at.selectbox(key="view.channel").value == 3
    assert len(chart_titles(at)) == 2 + 1  # views 2 and 5, one site; the sample digits


def test_bad_url_parameters_warn_by_name_and_use_the_defaults():
    absent = next(d for d in DEVICES if d != "auto" and d not in available_devices())
    at = open_app({"batch_size": "5000", "eps": "abc", "view": "9", "foo": "1", "device": absent,
                   "channel": "99", "autorun": "maybe"})
    assert_sane(at)
    text = " ".join(w.value for w in at.warning)
    for name in ("batch_size", "eps", "view", "foo", "device", "channel", "autorun"):
        assert name in text, name
    assert lab(at).config == RunConfig() and lab(at).run is None
    assert "1024" in text  # the allowed range is named


def test_train_draws_every_view_from_the_run():
    at = open_app({**TINY, "view": "1,2,3,4,5,6,7"})
    at.button(key="run.train").click().run()
    assert lab(at).run is not None and lab(at).run.state in ACTIVE + ("finished",)
    train_until(at)
    assert_sane(at)
    titles = chart_titles(at)
    assert not any(placeholders(at))
    assert any("block1.norm at step" in t for t in titles) and any(t.startswith("Gradient norm per layer") for t in titles)
    assert len(titles) == 3 + 3 + 6 + 2 + 1 + 3 + 1 + 1  # the mlp has 3 norm sites; + the sample digits
    record = lab(at).run.latest_record()
    assert record.config == lab(at).config and record.status == "finished" and len(record.steps) == 30
    assert "step 30 / 30" in at.get("progress")[0].proto.text
    assert len(at.download_button) == 2
    assert at.button(key="run.train").label == "Train again"
    # The step scrubber: an earlier step in the charts and in the URL.
    assert at.select_slider(key="view.step.30.5").value == 30 and at.query_params["step"] == "latest"
    at.select_slider(key="view.step.30.5").set_value(10).run()
    assert any("block1.norm at step 10" in t for t in chart_titles(at)) and at.query_params["step"] == "10"
    assert_sane(at)


def test_the_step_scrubber_holds_a_step_while_the_run_trains_on():
    at = open_app({**TINY, "steps": "100000"})
    at.button(key="run.train").click().run()
    run = lab(at).run
    wait_for_step(at, 10)
    at.run()  # the scrubber is drawn once the page has a record
    scrubber = "view.step.100000.200"  # 500 stops over 100,000 steps
    assert at.select_slider(key=scrubber).options[:3] == ["0", "200", "400"]
    assert at.select_slider(key=scrubber).options[-1] == "latest"
    following = chart_keys(at)
    at.select_slider(key=scrubber).set_value(0).run()
    assert chart_keys(at) == following  # another step updates the same charts (and keeps a zoom)
    wait_for_step(at, 30)
    at.run()
    assert run.state in ACTIVE and at.query_params["step"] == "0"
    assert any("block1.norm at step 0:" in t for t in chart_titles(at))  # held, though step 30 is recorded
    at.select_slider(key=scrubber).set_value(100000).run()  # the right end: follow the latest again
    latest = int(lab(at).cache["record"].snapshots["step"][-1])  # the newest step of the record shown
    assert at.query_params["step"] == "latest" and latest >= 30
    assert any(f"block1.norm at step {latest}:" in t for t in chart_titles(at))
    stop(at)
    assert_sane(at)


def test_pause_resume_and_a_knob_changed_mid_run():
    at = open_app({**TINY, "steps": "100000"})
    at.button(key="run.train").click().run()
    first = lab(at).run
    train_until(at, states=("running",))
    at.button(key="run.pause").click().run()
    train_until(at, states=("paused",))
    assert at.button(key="run.train").label == "Resume"
    at.button(key="run.train").click().run()
    assert lab(at).run is first and first.state in ACTIVE
    at.number_input(key="cfg.batch_size").set_value(8).run()
    assert any("settings changed" in w.value for w in at.warning)
    assert first.cfg.batch_size == 16  # one record never mixes two configs
    assert at.button(key="run.train").label == "Restart with new settings"
    at.button(key="run.train").click().run()
    assert lab(at).run is not first and lab(at).run.cfg.batch_size == 8 and first.state == "stopped"
    at.button(key="run.reset").click().run()
    assert lab(at).run is None and not at.warning
    assert_sane(at)


def test_autorun_starts_training_and_presets_set_a_whole_config():
    at = open_app({**TINY, "autorun": "1"})
    assert lab(at).run is not None and lab(at).run.cfg == lab(at).config
    stop(at)
    at.button(key="preset.2").click().run()  # "No normalization"
    assert lab(at).config == RunConfig(norm="none", placement="none")
    at.button(key="preset.3").click().run()  # "Tiny batch (2)"
    assert lab(at).config == RunConfig(batch_size=2, steps=1500, eval_every=75)
    assert_sane(at)


def test_a_combination_pytorch_cannot_train_is_explained_not_raised():
    at = open_app({"model": "mlp"})
    at.selectbox(key="cfg.norm").set_value("instance").run()
    assert not at.exception and at.button(key="run.train").disabled
    assert any("norm" in e.value for e in at.error)


def test_microscope_page_shows_eps_at_work_and_leaves_the_lab_model_alone():
    at = open_app(TINY)
    at.button(key="run.train").click().run()
    train_until(at)
    model = lab(at).run.trainer.model
    before = {name: b.clone() for name, b in model.named_buffers()}
    at.switch_page(MICROSCOPE).run()
    assert_sane(at)
    assert len(charts(at)) == 4
    at.radio(key="scope.source").set_value("lab").run()
    small = float(next(m.value for m in at.metric if m.label.startswith("Post std")))
    at.select_slider(key="scope.eps").set_value(1.0).run()
    large = float(next(m.value for m in at.metric if m.label.startswith("Post std")))
    assert large < small  # a larger eps shrinks the normalized output (sqrt(var / (var + eps)))
    at.select_slider(key="scope.batch_size").set_value(2).run()
    at.selectbox(key="scope.channel").set_value(3).run()
    assert_sane(at)
    for name, buffer in model.named_buffers():  # must not happen: the microscope moving running stats
        assert torch.equal(buffer, before[name]), name


def test_microscope_opens_on_its_own_with_a_fresh_model():
    at = open_app({"placement": "before"}, page=MICROSCOPE)
    assert_sane(at)
    assert at.radio(key="scope.source").disabled  # no lab model to look at yet
    assert any("placement before" in c.value for c in at.caption)


def test_downloads_hold_the_record_and_its_metrics():
    cfg = RunConfig.from_params(TINY)
    record = Trainer(cfg).step(cfg.steps)
    loaded = RunRecord.load(io.BytesIO(export.record_npz(record)))
    assert loaded.config == record.config
    np.testing.assert_array_equal(loaded.steps["loss"], record.steps["loss"])
    lines = export.metrics_csv(record).strip().split("\n")
    header = lines[0].split(",")
    assert header[:2] == ["step", "loss"] and f"grad_norm/{record.layers[0]}" in header
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == 30
    np.testing.assert_allclose([float(r[1]) for r in rows], record.steps["loss"], rtol=1e-5)
    test_acc = header.index("test_acc")
    evaluated = {int(r[0]) + 1: float(r[test_acc]) for r in rows if r[test_acc]}
    assert evaluated == pytest.approx(dict(zip(record.evals["step"].astype(int), record.evals["test_acc"])),
                                      rel=1e-5)
