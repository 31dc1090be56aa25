"""AppTest of the Papers page: every section draws its shipped result at once, and Run it here trains a tiny
version through the shared limiter and re-judges the live data."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_charts import charts
from bnviz import papers

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def one_thread_limiter(fresh_limiter):
    """Every test here trains through a fresh one-slot, one-thread limiter (tests/conftest.py)."""
    yield


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).switch_page("pages/Papers.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_every_section_draws_its_shipped_result():
    at = open_page()
    assert at.radio(key="papers.shown").value == papers.names()[0]
    for name in papers.names():
        at.radio(key="papers.shown").set_value(name).run()
        assert not at.exception, [e.message for e in at.exception]
        drawn = charts(at)
        # one reproduction at a time: the browser draws only its figures
        assert drawn and all(k.startswith(f"papers.{name}.") for k in drawn), (name, list(drawn))
        assert all(drawn[k]["data"] for k in drawn), f"{name}: a shipped figure has no traces"
        verdicts = [e.value for e in at.success] + [e.value for e in at.warning]
        assert any(papers.shipped(name)["verdict"] in v for v in verdicts), f"{name}: shipped verdict not shown"
        tables = [m.value for m in at.markdown if m.value.startswith("**Our numbers**")]
        assert len(tables) == 1 and "(none yet)" not in tables[0], name
        if name == "ioffe2015":  # the shipped numbers are what is drawn: BN's curve is the shipped test accuracy
            ioffe = papers.shipped("ioffe2015")["measured"]["bn"]
            bn = next(t for t in drawn["papers.ioffe2015.acc"]["data"] if t["name"] == "with BN")
            assert bn["y"] == [100 * a for a in ioffe["test_acc"]]


def test_run_it_here_trains_and_rejudges_the_live_data(monkeypatch):
    # a tinier test budget (30 steps a run): this checks the button, the queue and the re-judging, not the trend
    # (tests/test_papers.py asserts that at the full test budget)
    monkeypatch.setitem(papers.higher_lr.STEPS, "test", 30)
    at = open_page()
    at.radio(key="papers.shown").set_value("higher_lr").run()
    at.radio(key="papers.higher_lr.budget").set_value("test").run()
    at.button(key="papers.higher_lr.run").click().run()
    job = at.session_state["papers.jobs"]["higher_lr"]
    assert job.budget == "test" and job.state in ("queued", "running", "finished")
    assert job.join(timeout=240), f"the tiny run did not end: {job.snapshot()}"
    assert job.state == "finished", job.error
    at.run()
    assert not at.exception
    result = job.result
    assert result["runs"] == len(papers.get("higher_lr").configs("test")) and not result.get("partial")
    shown = [e.value for e in at.success] + [e.value for e in at.warning]
    assert any(result["verdict"] in v for v in shown)
    # the live figure is the live runs', not the shipped one: the test grid's rates and their final accuracy
    trace = next(t for t in charts(at)["papers.higher_lr.acc"]["data"] if t["name"] == "with BN")
    assert trace["x"] == list(papers.higher_lr.TEST_RATES)
    assert any("Live run finished" in c.value for c in at.caption)
    live_acc = result["measured"]["bn"]["final_acc"]
    assert all(abs(100 * a - y) < 1e-9 for a, y in zip(live_acc, trace["y"], strict=True))
