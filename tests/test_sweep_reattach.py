"""AppTest: a sweep outlives its page. A reload (a new session on the same address) finds the running sweep
by the sweep= token in the URL, and its results once it ends; another page of the session keeps it alive."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_charts import charts
from bnviz.ui import session, sweep_job
from bnviz.ui.sweep_job import STATE_KEY
from test_sweep_page import TINY, array

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/Sweep.py"


@pytest.fixture(autouse=True)
def held_slot(fresh_limiter):
    """The one-slot limiter's slot held by a 'lab training': a started sweep stays queued (trains nothing)
    until the test lets it go."""
    limiter = session.shared_limiter()
    lab_training = object()
    limiter.enter(lab_training)
    assert limiter.wait_turn(lab_training, 5)
    yield lambda: limiter.leave(lab_training)
    limiter.leave(lab_training)


def open_sweep(params: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    return at.switch_page(PAGE).run()


def reload(at: AppTest) -> AppTest:
    """A new browser session on the address `at`'s page shows now (as a reload does)."""
    return open_sweep(dict(at.query_params))


def job_of(at: AppTest):
    return at.session_state[STATE_KEY].job


def test_a_reload_finds_the_running_sweep_then_its_results(held_slot):
    first = open_sweep(TINY)
    first.button[0].click().run()
    job = job_of(first)
    assert job.state == "queued" and first.query_params["sweep"]
    again = reload(first)
    assert not again.exception and not again.warning, [w.value for w in again.warning]
    assert job_of(again) is job  # the same sweep, not a fresh form nor a second sweep
    assert "Queued: place 1" in again.info[0].value
    assert again.query_params["sweep"] == first.query_params["sweep"]
    held_slot()
    job.join(120)
    assert job.state == "finished", (job.state, job.error)
    third = reload(again)  # after it ended: its results, from the server
    assert "Finished: 2 of 2 runs" in third.info[0].value
    figure = charts(third)["sweep.chart"]
    for trace, result in zip(figure["data"], job.results()):
        assert array(trace["y"])[0] == pytest.approx(100 * (1 - result.test_acc))
    assert list(third.dataframe[0].value["status"]) == ["finished", "finished"]


def test_the_reloaded_page_keeps_the_sweep_alive_and_controls_it(monkeypatch):
    monkeypatch.setattr(sweep_job, "HEARTBEAT_TIMEOUT_S", 2.0)
    first = open_sweep(TINY)
    first.button[0].click().run()
    job = job_of(first)
    again = reload(first)  # the first session never polls again
    for _ in range(4):
        time.sleep(1.0)
        again.run()  # the reloaded page's polls
    assert job.state == "queued", job.error
    stop = next(b for b in again.button if b.label == "Stop")
    stop.click().run()
    job.join(10)
    assert job.state == "stopped"


def test_another_page_of_the_session_keeps_the_sweep_alive(monkeypatch):
    monkeypatch.setattr(sweep_job, "HEARTBEAT_TIMEOUT_S", 2.0)
    at = open_sweep(TINY)
    at.button[0].click().run()
    job = job_of(at)
    lab = at.switch_page("pages/Lab.py").run()
    for _ in range(4):
        time.sleep(1.0)
        lab.run()  # the lab page, open in the browser: its sweep badge polls
    assert any("A sweep is queued: 0 of 2 runs" in c.value for c in lab.sidebar.caption)
    assert job.state == "queued", job.error
    back = lab.switch_page(PAGE).run()
    assert job_of(back) is job and "Queued: place 1" in back.info[0].value


def test_an_unknown_sweep_token_is_named_and_the_links_settings_kept():
    at = open_sweep({**TINY, "sweep": "nosuchsweep123"})
    assert not at.exception
    assert any("sweep=nosuchsw…: no such sweep on this server" in w.value for w in at.warning)
    assert job_of(at) is None and at.text_input(key="sweep.x_values").value == "8"


def test_the_servers_shutdown_stops_a_queued_sweep_and_says_why():
    """Limiter.stop_all (at SIGTERM) calls stop(message, wait=) on every holder: a sweep's tickets too."""
    from bnviz.limiter import SHUTDOWN_MESSAGE
    from bnviz.live import Limiter
    from bnviz.ui.sweep_job import SweepState, start
    from bnviz.ui.sweep_link import read

    class Training:  # a lab training holding the only slot
        def stop(self, message=None, wait=None):
            limiter.leave(self)

    limiter = Limiter(1, 1)
    training = Training()
    limiter.enter(training)
    assert limiter.wait_turn(training, 5)
    job = start(SweepState(), read(TINY)[0], "local", limiter)
    limiter.stop_all(wait=5)
    job.join(5)
    assert job.state == "stopped" and job.error == SHUTDOWN_MESSAGE and job.results() == []
