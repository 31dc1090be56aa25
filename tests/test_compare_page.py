"""AppTest of the Compare page: the arms (lab base, presets, vary one knob, per-arm overrides), bad link
parameters named, a tiny comparison trained to the end with a diverging arm, and its downloads; a comparison
that trains on while its user reads other pages."""

from __future__ import annotations

import io
import time

import numpy as np
from streamlit.testing.v1 import AppTest

from bnviz.comparison_record import ComparisonRecord
from bnviz.record import read_meta, read_npz
from bnviz.compare import PRESETS
from bnviz.config import RunConfig
from bnviz.live import ACTIVE
from bnviz.ui.compare_session import STATE_KEY, comparison_csv, comparison_npz
from apptest_charts import charts
from test_app import APP, TINY, assert_sane, one_thread_limiter  # noqa: F401 (the limiter is an autouse fixture)

COMPARE = "pages/Compare.py"
SILENCE_S = 3.0  # the comparison's heartbeat timeout in the page-switch test: short, so leaving it would stop it
TWO_ARMS = {"arm1.label": "BN", "arm1.norm": "batch", "arm2.label": "none", "arm2.norm": "none"}


def open_compare(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    at.switch_page(COMPARE)
    return at.run()


def state(at: AppTest):
    return at.session_state[STATE_KEY]


def labels(at: AppTest) -> list[str]:
    return state(at).comparison.labels


def test_opens_on_the_labs_config_with_bn_vs_none_and_labelled_empty_charts():
    at = open_compare({**TINY, "batch_size": "8"})
    assert_sane(at)
    assert not at.warning and state(at).run is None  # must not happen: training without a click
    assert labels(at) == ["BN", "norm=none"]
    assert state(at).comparison.base.batch_size == 8  # the lab's config read from the link is the base
    keys = list(charts(at))
    assert "cmp.chart.training" in keys and "cmp.chart.grad_norm" in keys
    assert {f"cmp.chart.histograms.block1.norm.arm{i}" for i in range(2)} <= set(keys)
    assert all("Press Train" in str(f["layout"]["annotations"]) for f in charts(at).values())
    assert at.query_params["arm2.norm"] == "none" and at.query_params["batch_size"] == "8"


def test_a_preset_vary_and_per_arm_overrides_make_the_arms():
    at = open_compare(TINY)
    at.selectbox(key="cmp.arms.preset").set_value("batch-size").run()
    at.button(key="cmp.arms.use_preset").click().run()
    assert labels(at) == [arm.label for arm in PRESETS["batch-size"].arms]
    assert [c.batch_size for c in state(at).comparison.configs] == [2, 32, 256]
    assert at.query_params["arm3.batch_size"] == "256"
    assert len([k for k in charts(at) if k.startswith("cmp.chart.histograms.block1.norm.")]) == 3

    at.selectbox(key="cmp.arms.knob").set_value("eps").run()
    at.text_input(key="cmp.arms.values").input("1e-5, 0.001, 0.1").run()
    at.button(key="cmp.arms.vary").click().run()
    assert_sane(at)
    assert [c.eps for c in state(at).comparison.configs] == [1e-5, 1e-3, 0.1]
    assert at.text_input(key="cmp.arms.2.overrides").value == "eps=0.1"  # the rows show the new arms

    at.text_input(key="cmp.arms.values").input("0.1, 7").run()
    at.button(key="cmp.arms.vary").click().run()
    assert "eps" in at.error[0].value and "(0, 1]" in at.error[0].value
    assert len(labels(at)) == 3  # nothing lost: the arms stay as they were

    # The rows are a form: they apply together, on submit.
    at.text_input(key="cmp.arms.1.label").input("tiny lr")
    at.text_input(key="cmp.arms.1.overrides").input("lr=1e-5, batch-size=4")
    at.text_input(key="cmp.arms.2.label").input("")
    at.text_input(key="cmp.arms.2.overrides").input("")
    at.button[[b.label for b in at.button].index("Apply the arms")].click().run()
    assert_sane(at)
    cmp = state(at).comparison
    assert cmp.labels == ["eps=1e-05", "tiny lr"] and cmp.configs[1].lr == 1e-5 and cmp.configs[1].batch_size == 4

    at.text_input(key="cmp.arms.1.overrides").input("momentum=3")
    at.button[[b.label for b in at.button].index("Apply the arms")].click().run()
    assert "arm 2 (tiny lr)" in at.error[0].value and "momentum" in at.error[0].value
    assert state(at).comparison == cmp


def test_bad_link_parameters_are_named_and_the_defaults_used():
    at = open_compare({**TINY, **TWO_ARMS, "arm2.eps": "x", "arm7.norm": "none", "arm1.bogus": "1",
                       "hist": "sideways", "view": "5,99"})
    assert not at.exception
    warnings = " | ".join(w.value for w in at.warning)
    assert "arm2.eps='x'" in warnings and "(0, 1]" in warnings and "base's eps=1e-05" in warnings
    assert "'arm7.norm'" in warnings and "arm1.bogus" in warnings
    assert "hist='sideways'" in warnings and "view" in warnings
    assert labels(at) == ["BN", "none"] and "eps" not in state(at).comparison.arms[1].overrides
    assert state(at).hist == "arms" and state(at).run is None


def test_a_link_without_arms_and_an_absent_device_are_named_too():
    # Without arms the base is the lab's (its link read by the lab), but its problems are named here.
    at = open_compare({"lr": "abc", "foo": "1", "device": "cuda", "channel": "40", "step": "99999"})
    assert_sane(at)
    warnings = [w.value for w in at.warning]
    assert any("lr='abc'" in w and "float in [1e-06, 10]" in w and "default 0.001" in w for w in warnings)
    assert any("unknown parameter 'foo' ignored" in w for w in warnings)
    assert any("device='cuda' is not present" in w and "using the default auto" in w for w in warnings)
    assert any("channel=40" in w and "0..31" in w for w in warnings)  # in range for block2.norm, not for every site
    assert any(f"step=99999 is past this comparison's {RunConfig().steps:,} steps" in w for w in warnings)
    assert state(at).comparison.base.device == "auto" and state(at).selection.channel is None
    at = open_compare({**TWO_ARMS, "arm2.device": "cuda"})
    assert [w.value for w in at.warning] == ["Link parameter ignored: arm2.device='cuda' is not present on this "
                                             "machine: one of auto, cpu; using the base's device"]
    assert state(at).comparison.configs[1].device == "auto"


def test_a_tiny_comparison_trains_to_the_end_and_a_diverging_arm_stops_alone():
    wild = {"arm2.label": "wild", "arm2.optimizer": "sgd", "arm2.lr": "10", "arm2.placement": "none",
            "arm2.seed": "2"}
    at = open_compare({**TINY, "arm1.label": "calm", "arm1.norm": "batch", **wild, "view": "1,4,5"})
    at.button(key="cmp.run.train").click().run()
    assert state(at).run is not None and state(at).run.cfg.labels == ["calm", "wild"]
    end = time.monotonic() + 120
    while state(at).training:
        assert time.monotonic() < end, f"still {state(at).run.state}"
        time.sleep(0.2)
        at.run()
    at.run()
    assert not at.exception
    record = state(at).run.latest_record()
    assert record.arm_status(0) == "finished" and len(record.runs[0].steps) == 30
    # SGD at lr 10 without normalization diverges at step 5 for this seed: it says so alone; calm trained on.
    wild_status = record.arm_status(1)
    assert wild_status == "diverged" and len(record.runs[1].steps) < 30
    assert any("wild diverged at step" in w.value and "other arms go on" in w.value for w in at.warning)
    titles = {k: f["layout"]["title"]["text"] for k, f in charts(at).items()}
    assert "calm" in titles["cmp.chart.histograms.block1.norm.arm0"] and "at step" in titles[
        "cmp.chart.histograms.block1.norm.arm0"]
    grads = charts(at)["cmp.chart.grad_norm"]["data"]
    assert {t["legendgroup"] for t in grads} >= {"calm"}
    table = at.dataframe[0].value
    assert list(table["arm"]) == ["calm", "wild"] and list(table["status"]) == ["finished", wild_status]
    assert any(m.value.startswith("**Verdict:**") for m in at.markdown)

    # Difference mode: one chart per arm after A, each arm minus arm A.
    at.radio(key="cmp.view.hist").set_value("difference").run()
    keys = list(charts(at))
    assert "cmp.chart.histograms.block1.norm.arm1.diff" in keys and not any(k.endswith("arm0.diff") for k in keys)
    assert at.query_params["hist"] == "difference"

    # Downloads: the comparison file (what inspect reads) and the CSV with an arm column.
    assert [b.label for b in at.get("download_button")] == ["Comparison record (.npz)", "Metrics (.csv)"]
    assert read_meta(read_npz(io.BytesIO(comparison_npz(record))))["kind"] == "comparison"  # what inspect dispatches on
    back = ComparisonRecord.load(io.BytesIO(comparison_npz(record)))
    assert back.labels == ["calm", "wild"]
    np.testing.assert_array_equal(back.runs[0].steps["loss"], record.runs[0].steps["loss"])
    lines = comparison_csv(record).splitlines()
    assert lines[0].startswith("arm,step,")
    assert {line.split(",")[0] for line in lines[1:]} == {"calm", "wild"}
    assert len(lines) - 1 == len(record.runs[0].steps) + len(record.runs[1].steps)


def badge(at: AppTest) -> list[str]:
    """The comparison's badge in the sidebar: its link back to Compare, and its progress."""
    return [link.value for link in at.sidebar.get("page_link")] + [
        c.value for c in at.sidebar.caption if c.value.startswith("Compare: step")]


def test_a_comparison_keeps_training_while_its_user_reads_another_page():
    at = open_compare({**TINY, **TWO_ARMS, "steps": "20000", "view": "1,5"})
    at.button(key="cmp.run.train").click().run()
    run = state(at).run
    # Without a heartbeat from the page it would stop after SILENCE_S; the other pages' badge must give one.
    run.heartbeat_timeout = SILENCE_S
    left_at = run.progress().steps_done
    at.switch_page("pages/Theory.py")
    end = time.monotonic() + 2 * SILENCE_S
    while time.monotonic() < end:
        at.run()  # in a browser the badge's own timer reruns it every 2 s
        time.sleep(0.3)
    assert_sane(at)
    assert run.state in (*ACTIVE, "finished"), run.message  # must not happen: stopped for a silent browser
    link, progress = badge(at)
    assert link == "Comparison training" and progress.startswith("Compare: step ") and "/ 20,000" in progress
    assert badge(at.switch_page("pages/Lab.py").run()) and not at.exception  # on the lab too

    at.switch_page(COMPARE).run()
    assert_sane(at)
    assert state(at).run is run and run.progress().steps_done > left_at  # the same comparison, further on
    assert "/ 20,000" in at.get("progress")[0].proto.text and not badge(at)  # its own page needs no badge
    titles = {k: f["layout"]["title"]["text"] for k, f in charts(at).items()}
    assert "at step" in titles["cmp.chart.histograms.block1.norm.arm1"]  # drawn from the run, not placeholders
    at.button(key="cmp.run.reset").click().run()
    assert state(at).run is None and run.state == "stopped"
