"""A classroom at once on a hosted server (real `streamlit run`, headless Chromium): 8 visitors open the same
autorun link; every run finishes, the waiting ones see their place and their run moves by time slices; then
a closed tab frees its slot within the heartbeat timeout, and SIGTERM ends a training cleanly within 5 s."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.browser.conftest import LAST_ELEMENT
from tests.browser.hosted import SEEN, Watch, hosted_server, progress_text, rss_mb, seen, steps_of

pytestmark = pytest.mark.browser

VISITORS = 8
SLICE_S = 1.5
# Tiny runs that still need a few slices each: without time slices the last visitor's first step would
# come only after the seven runs before it had finished.
LINK = "/?autorun=1&model=mlp&steps=400&batch_size=16&record_every=40&eval_every=200&seed={seed}"
MEMORY_BOUND_MB = 1500  # README, Hosting: the server's bound for 30 sessions (measured ~ 900 MB)
HEARTBEAT_S = 4


def test_eight_visitors_at_once_all_finish_taking_turns(browser, tmp_path, shots):
    with hosted_server(tmp_path / "server.log", BNVIZ_TIME_SLICE_S=SLICE_S) as (url, process):
        with Watch(url, process.pid) as watch:
            contexts = [browser.new_context(viewport={"width": 1300, "height": 900}) for _ in range(VISITORS)]
            pages = [context.new_page() for context in contexts]
            for page in pages:
                page.add_init_script(script=f"({SEEN})()")
            opened = time.time() * 1000
            for seed, page in enumerate(pages):
                page.goto(url + LINK.format(seed=seed), wait_until="commit")
            deadline = time.monotonic() + 240  # a busy 2-core CI machine: pages first draw after ~90 s
            while time.monotonic() < deadline:
                states = [seen(page) for page in pages]
                if all(state and state["finished"] for state in states):
                    break
                time.sleep(2)
            exceptions = 0
            for i, page in enumerate(pages):
                page.get_by_text(LAST_ELEMENT).wait_for(timeout=30_000)  # every page drawn to its end
                exceptions += page.locator('[data-testid="stException"]').count()
            pages[-1].screenshot(path=str(shots / "hosted-load-last-visitor.png"))
            for context in contexts:
                context.close()
        first_move = {i: (s["firstMove"] - opened) / 1000 for i, s in enumerate(states) if s and s["firstMove"]}
        finished = {i: (s["finished"] - opened) / 1000 for i, s in enumerate(states) if s and s["finished"]}
        places = {p for s in states if s for p in s["places"]}
        figures = {"first_move_s": first_move, "finished_s": finished, "places_seen": sorted(places),
                   "peak_rss_mb": round(watch.peak_rss_mb), "health": [watch.health_checks, watch.health_failures]}
        (shots / "hosted-load.json").write_text(json.dumps(figures, indent=1))
    assert len(finished) == VISITORS, figures
    assert exceptions == 0
    assert max(places) >= VISITORS - 2, figures  # the waiting visitors saw their place in the queue
    # Time slices: every run moved before any run had finished (one run after another could not).
    assert len(first_move) == VISITORS and max(first_move.values()) < min(finished.values()), figures
    assert watch.health_checks > 10 and watch.health_failures == 0, figures
    assert watch.peak_rss_mb < MEMORY_BOUND_MB, figures


def test_a_closed_tab_frees_the_slot_and_sigterm_ends_training_cleanly(browser, tmp_path, shots):
    log = tmp_path / "server.log"
    link = "/?autorun=1&model=mlp&steps=100000&batch_size=16&record_every=100&eval_every=5000&seed={seed}"
    with hosted_server(log, BNVIZ_TIME_SLICE_S=0, BNVIZ_HEARTBEAT_S=HEARTBEAT_S,
                       BNVIZ_MAX_STEPS=100000) as (url, process):
        gone, staying = browser.new_context(), browser.new_context()
        first = gone.new_page()
        first.goto(url + link.format(seed=1))
        wait_for(lambda: (steps_of(progress_text(first)) or (0,))[0] > 0, 180)
        second = staying.new_page()
        second.goto(url + link.format(seed=2))
        wait_for(lambda: "number 1 in the queue" in progress_text(second), 180)
        gone.close()  # the tab is closed: no more heartbeats
        closed = time.monotonic()
        wait_for(lambda: (steps_of(progress_text(second)) or (0,))[0] > 0
                 and "Waiting" not in progress_text(second), HEARTBEAT_S + 20)
        freed_s = time.monotonic() - closed
        rss = rss_mb(process.pid)
        process.send_signal(signal.SIGTERM)  # with the second visitor's run training
        sent = time.monotonic()
        process.wait(timeout=10)
        exit_s = time.monotonic() - sent
        staying.close()
    (shots / "hosted-faults.json").write_text(json.dumps({"slot_freed_after_close_s": round(freed_s, 1),
                                                          "heartbeat_s": HEARTBEAT_S, "sigterm_exit_s":
                                                          round(exit_s, 2), "rss_mb": round(rss)}))
    assert freed_s < HEARTBEAT_S + 10  # the timeout, plus a refresh and a chunk
    assert exit_s < 5 and process.returncode == 0
    assert "bnviz: 1 training(s) stopped at shutdown" in log.read_text()


def wait_for(condition, timeout_s: float):
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)
