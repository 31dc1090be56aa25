"""AppTest of what the lab tells a student (issue 12): a reload finds its run, presets teach, knobs that do
nothing say so, one step number for a divergence, names that say what a download is, sample digits."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from bnviz.config import RunConfig
from bnviz.estimate import StepTimes
from bnviz.live import ACTIVE
from bnviz.live_registry import RunRegistry
from bnviz.record import RunRecord
from bnviz.ui import export, session, sidebar
from apptest_charts import charts
from test_app import TINY, assert_sane, lab, one_thread_limiter, open_app, stop, train_until  # noqa: F401

LONG = {**TINY, "steps": "100000"}
STEP = re.compile(r"block\d\.norm at step (\d+)")


def titles(at) -> list[str]:
    return [figure["layout"]["title"]["text"] for figure in charts(at).values()]


def progress_text(at) -> str:
    return at.get("progress")[0].proto.text


# --- point 2: a reload or a second tab finds its run ---------------------------------------------
def test_a_reload_adopts_the_run_from_the_url_instead_of_queueing_behind_it():
    first = open_app(LONG)
    first.button(key="run.train").click().run()
    run = lab(first).run
    token = first.query_params["run"]
    assert len(token) >= 20 and token == lab(first).run_token
    # The reloaded page: a new session (another AppTest) on the same address, the same server's registry.
    reloaded = open_app({key: value for key, value in first.query_params.items()})
    assert lab(reloaded).run is run and run.state in ACTIVE
    assert "Waiting for a free training slot" not in progress_text(reloaded)  # one slot, and it holds it
    assert not any("Press Train" in t for t in titles(reloaded))
    assert reloaded.query_params["run"] == token and not reloaded.warning
    reloaded.button(key="run.pause").click().run()  # it controls the run, like the tab that started it
    train_until(reloaded, states=("paused",))
    assert run.state == "paused"
    stop(reloaded)
    # An unknown or expired token: named, and the link's settings are still used, ready to train.
    stale = open_app({**TINY, "run": "not-a-run-of-this-server"})
    assert lab(stale).run is None and any("run=" in w.value for w in stale.warning)
    assert lab(stale).config == RunConfig.from_params(TINY)
    assert "run" not in stale.query_params
    assert_sane(stale)


class FakeRun:
    heartbeat_timeout = 30.0

    def __init__(self, state="running", silent=0.0):
        self.state, self.silent = state, silent

    def silent_s(self):
        return self.silent


def test_the_registry_is_bounded_and_lets_ended_and_abandoned_runs_go():
    registry = RunRegistry(max_runs=3, grace_s=0.05)
    running, finished = FakeRun(), FakeRun("finished")
    a, b = registry.add(running), registry.add(finished)
    assert a != b and registry.get(a) is running and registry.get(b) is finished  # within the grace
    time.sleep(0.08)
    assert registry.get(b) is None and registry.get(a) is running  # ended past the grace: gone
    abandoned = registry.add(FakeRun("paused", silent=31.0))  # no heartbeat past the timeout
    registry.get(a)
    time.sleep(0.08)
    assert registry.get(abandoned) is None
    tokens = [registry.add(FakeRun()) for _ in range(5)]
    assert len(registry) == 3 and registry.get(tokens[-1]) is not None  # bounded, the newest kept
    assert registry.get(None) is None and registry.get("guess") is None


# --- point 4: one record per refresh -------------------------------------------------------------
def test_every_panel_of_a_refresh_shows_the_same_step():
    at = open_app(LONG)
    at.button(key="run.train").click().run()
    seen = set()
    for _ in range(6):
        time.sleep(0.3)
        at.run()
        steps = {int(m.group(1)) for t in titles(at) if (m := STEP.search(t))}
        assert len(steps) == 1, titles(at)  # block1 and block2 from one frozen record
        seen |= steps
    stop(at)
    assert len(seen) >= 2  # the refreshes moved on, together
    assert_sane(at)


# --- point 6: presets that teach, results as numbers, a time estimate ------------------------------
def test_presets_set_their_views_and_say_what_to_look_for():
    at = open_app()
    for i, (label, preset) in enumerate(sidebar.PRESETS.items()):
        at.button(key=f"preset.{i}").click().run()
        assert lab(at).config == preset.cfg, label
        assert at.button_group(key="view.views").value == list(preset.views), label
        assert preset.lesson in [box.value for box in at.info], label
        assert re.search(rf"views? {preset.views[0]}\b", preset.lesson), label  # it points at its views
    tiny = sidebar.PRESETS["Tiny batch (2)"].cfg
    assert tiny.steps // tiny.eval_interval >= 10  # a curve of the train/eval gap, not one dot
    at.number_input(key="cfg.seed").set_value(5).run()
    assert not at.info  # no longer the preset: no lesson
    assert_sane(at)


def test_test_accuracy_is_a_number_and_train_has_a_time_estimate():
    session.step_times.clear()  # no run measured on this server yet
    at = open_app(TINY)
    estimate = [c.value for c in at.caption if c.value.startswith("About ")]
    assert estimate and "30 steps of batch 16" in estimate[0] and "480 training images" in estimate[0]
    assert "no run here yet" in estimate[0]
    at.button(key="run.train").click().run()
    train_until(at)
    record = lab(at).run.latest_record()
    accuracy = next(m for m in at.metric if m.label == "Test accuracy")
    assert accuracy.value == f"{record.evals['test_acc'][-1]:.1%}"
    # The next estimate for this model comes from the run just measured.
    estimate = [c.value for c in at.caption if c.value.startswith("About ")]
    assert "measured in a run of this model at batch 16" in estimate[0]
    assert_sane(at)


def test_the_estimate_follows_measured_rates_and_scales_by_batch():
    times = StepTimes()
    cfg = RunConfig(batch_size=32, steps=500)
    seconds, basis = times.estimate(cfg.replace(batch_size=512))
    assert 7 * 60 < seconds < 11 * 60  # batch 512 x 500 steps took ~9 min on the 2-core machine
    times.observe(cfg, steps_per_s=10.0)  # 100 ms per step measured here
    assert times.estimate(cfg) == (pytest.approx(50.0), "measured in a run of this model at batch 32 here")
    bigger, basis = times.estimate(cfg.replace(batch_size=64))
    assert 50.0 < bigger < 100.0 and "batch 32" in basis  # more images per step, less than twice the time


# --- point 7: knobs that do nothing say so --------------------------------------------------------
def test_knobs_that_do_nothing_are_disabled_with_the_reason():
    at = open_app({"placement": "none"})
    for key in ("cfg.eps", "cfg.momentum", "cfg.affine", "cfg.groups"):
        widget = at.number_input(key=key) if key != "cfg.affine" else at.checkbox(key=key)
        assert widget.disabled, key
    assert any("norm=batch does nothing" in c.value for c in at.sidebar.caption)
    at.selectbox(key="cfg.placement").set_value("after").run()
    assert not at.number_input(key="cfg.momentum").disabled and not at.number_input(key="cfg.eps").disabled
    at.selectbox(key="cfg.norm").set_value("layer").run()
    assert at.number_input(key="cfg.momentum").disabled and at.checkbox(key="cfg.cumulative").disabled
    assert any("momentum does nothing with layer norm" in c.value for c in at.sidebar.caption)
    assert_sane(at)


def test_the_channel_picker_offers_the_chosen_sites_channels():
    at = open_app({"view": "1"})
    assert at.selectbox(key="view.channel").options[-1] == "31"  # site all: the channels every site has
    assert "block2.norm 64" in at.selectbox(key="view.channel").help
    at.selectbox(key="view.site").set_value("block2.norm").run()
    assert at.selectbox(key="view.channel").options[-1] == "63"
    at.selectbox(key="view.channel").set_value(37).run()
    assert at.query_params["channel"] == "37"
    at.selectbox(key="view.site").set_value("block1.norm").run()  # 37 is past block1's 32 channels
    assert at.selectbox(key="view.channel").value == "all"
    linked = open_app({"view": "1", "site": "block2.norm", "channel": "37"})
    assert not linked.warning and linked.selectbox(key="view.channel").value == 37
    bad = open_app({"view": "1", "site": "block1.norm", "channel": "37"})
    assert any("channel=37" in w.value and "0..31" in w.value for w in bad.warning)


def test_captions_say_when_normalization_is_off():
    normalized = open_app({"view": "1,2"})
    assert any("With normalization post starts as the dashed N(0, 1)" in c.value for c in normalized.caption)
    off = open_app({"view": "1,2", "norm": "none"})
    assert not any("post starts as the dashed N(0, 1)" in c.value for c in off.caption)
    assert any("Normalization is off in this run" in c.value for c in off.caption)


# --- point 8: one truth per fact ------------------------------------------------------------------
def test_a_divergence_names_one_step_in_the_progress_line_and_the_banner():
    at = open_app({"optimizer": "sgd", "lr": "10", "placement": "none", "batch_size": "8", "steps": "60",
                   "seed": "2", "record_every": "5", "view": "5"})
    at.button(key="run.train").click().run()
    train_until(at, states=("diverged",))
    step = lab(at).run.latest_record().status_step
    assert progress_text(at).startswith(f"diverged at step {step} of 60")
    banner = next(w.value for w in at.warning if w.value.startswith("Diverged"))
    assert f"Diverged at step {step}:" in banner
    numbers = {int(n) for n in re.findall(r"step (\d+)", progress_text(at) + banner)}
    assert numbers == {step}


def test_a_stale_link_warning_goes_once_its_knob_is_set():
    at = open_app({"batch_size": "5000", "eps": "abc"})
    assert {"batch_size", "eps"} <= {w.value.split(": ", 1)[1].split("=")[0] for w in at.warning}
    at.number_input(key="cfg.batch_size").set_value(64).run()
    left = " ".join(w.value for w in at.warning)
    assert "batch_size=" not in left and "eps=" in left  # eps is still at the default the warning names


def test_downloads_are_named_after_the_run_and_a_paused_one_says_paused():
    at = open_app(LONG)
    at.button(key="run.train").click().run()
    time.sleep(0.5)
    at.button(key="run.pause").click().run()
    train_until(at, states=("paused",))
    assert len(at.download_button) == 2
    record = lab(at).run.latest_record()
    assert export.file_stem(record) == f"bnviz-mlp-batch-after-bs16-step{len(record.steps)}"
    assert RunRecord.load(__import__("io").BytesIO(export.record_npz(export.as_paused(record)))).status == "paused"
    stop(at)


# --- point 10: sample digits ----------------------------------------------------------------------
def test_sample_digits_show_the_models_guesses_for_real_test_images():
    at = open_app({**TINY, "view": "5"})
    at.button(key="run.train").click().run()
    train_until(at)
    figure = charts(at)["chart.samples"]
    trainer = lab(at).run.trainer
    images = [np.array(trace["z"]) for trace in figure["data"]]
    assert len(images) == 8
    np.testing.assert_allclose(images[3], trainer.x_test[3, 0].numpy(), rtol=1e-5)
    guesses = trainer.model.eval()(trainer.x_test[:8]).argmax(1).numpy()
    texts = [a["text"] for a in figure["layout"]["annotations"]]
    for text, guess, label in zip(texts, guesses, trainer.y_test[:8].numpy()):
        assert text.startswith(f"<b>{guess}</b>") and f"({label})" in text
    right = int((guesses == trainer.y_test[:8].numpy()).sum())
    assert f"step 30: {right}/8 right" in figure["layout"]["title"]["text"]
    assert_sane(at)
