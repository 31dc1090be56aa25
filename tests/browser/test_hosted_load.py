"""A classroom at once on a hosted server (real `streamlit run`, headless Chromium): 8 visitors open the same
autorun link; every run finishes, the waiting ones see their place and their run moves by time slices; then
a closed tab frees its slot within the heartbeat timeout, and SIGTERM ends a training cleanly within 5 s."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from tests.browser.hosted import SEEN, Watch, hang_report, hosted_server, progress_text, rss_mb, seen, steps_of

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]  # hang guards inside; a loaded machine is slow

VISITORS = 8
SLICE_S = 0.75
# Runs that need several slices each even on a fast idle machine (and more on a slow one), short overall.
# Without time slices the last visitor's first step would come only after the runs before it had finished.
LINK = "/?autorun=1&model=mlp&steps=500&batch_size=16&record_every=50&eval_every=500&seed={seed}"
MEMORY_BOUND_MB = 1500  # README, Hosting: the server's bound for 30 sessions (measured ~ 1,030 MB)
HEARTBEAT_S = 15  # short enough to wait for; 4 s was too short on a loaded machine: a page refreshing late
# lost its run while open ("no sign of the browser for 4 s", seen here at load 16 on 2 cores)
STOPPED = re.compile(r"bnviz: 1 training\(s\) stopped at shutdown in ([\d.]+) s")
HANG_S = 420  # hang guards only (a hang shows as a blank page or a traceback, which fail at once): a 2-core
# machine loaded by other work is slow, never wrong


def test_eight_visitors_at_once_all_finish_taking_turns(browser, tmp_path, shots):
    log = tmp_path / "server.log"
    steps = Steps()
    # A long heartbeat: a page on a loaded machine may refresh late, and its run must not stop for that here.
    with hosted_server(log, BNVIZ_TIME_SLICE_S=SLICE_S, BNVIZ_HEARTBEAT_S=300) as (url, process):
        steps.done("server up")
        with Watch(url, process.pid) as watch:
            contexts = [browser.new_context(viewport={"width": 1300, "height": 900}) for _ in range(VISITORS)]
            pages = [context.new_page() for context in contexts]
            # The pages' uncaught JavaScript errors (a crashed Streamlit frontend: a blank page that never
            # finishes), and their console's error lines for the hang report.
            crashes: dict[int, list[str]] = {i: [] for i in range(VISITORS)}
            console: dict[int, list[str]] = {i: [] for i in range(VISITORS)}
            for i, page in enumerate(pages):
                page.add_init_script(script=f"({SEEN})()")
                page.on("pageerror", lambda error, i=i: crashes[i].append(str(error)[:300]))
                page.on("console", lambda message, i=i: message.type == "error" and len(console[i]) < 5
                        and console[i].append(message.text[:300]))
            for seed, page in enumerate(pages):
                page.goto(url + LINK.format(seed=seed), wait_until="commit")
            steps.done("pages opened")
            hang = lambda what: hang_report(process, log, pages, shots,  # noqa: E731
                                            f"{what}; uncaught: {crashes}; console errors: {console}")
            # Every page loads (drawn to its footer) and every run finishes, as the pages recorded it (SEEN). A
            # traceback in the server's log or a page's uncaught error fails at once; a hang guard that fires
            # reports the server's threads, each page's state and errors, and screenshots.
            started = time.monotonic()
            while not all((state := seen(page)) and state["drawn"] and state["finished"] for page in pages):
                if time.monotonic() - started > HANG_S or "Traceback" in log.read_text() or any(crashes.values()):
                    pytest.fail(hang(f"pages not all drawn and finished after {time.monotonic() - started:.0f} s"))
                time.sleep(1)
            steps.done("runs finished")
            states = [seen(page) for page in pages]
            exceptions = sum(page.locator('[data-testid="stException"]').count() for page in pages)
            pages[-1].screenshot(path=str(shots / "hosted-load-last-visitor.png"))
            for context in contexts:
                context.close()
        # Judged from when every page shows its run (all queued or moving), whatever the pages' load times:
        # the runs that had not moved yet by then all move before any of them finishes. First come, first
        # served without slices would train them one after another.
        ready = max(s["shown"] for s in states)
        fresh = [i for i, s in enumerate(states) if s["firstMove"] > ready]
        t0 = min(s["shown"] for s in states)
        figures = {"ready_s": round((ready - t0) / 1000, 1), "fresh": fresh,
                   **{key: {i: round((s[key] - t0) / 1000, 1) for i, s in enumerate(states) if s[key]}
                      for key in ("shown", "queued", "firstMove", "finished", "drawn")},
                   "requeued": [i for i, s in enumerate(states) if s["requeued"]],
                   "places_seen": sorted({p for s in states for p in s["places"]}),
                   "peak_rss_mb": round(watch.peak_rss_mb), "health": [watch.health_checks, watch.health_failures],
                   "steps_s": steps.times, "console_errors": console,
                   "logs": {i: [[round((t - t0) / 1000, 1), e] for t, e in s["log"]] for i, s in enumerate(states)}}
        (shots / "hosted-load.json").write_text(json.dumps(figures, indent=1))
    assert exceptions == 0 and "Traceback" not in log.read_text(), log.read_text()[-5000:]  # page or server
    assert not any(crashes.values()), crashes
    waited = [s for s in states if s["queued"] is not None]
    assert len(waited) >= VISITORS // 2 and all(s["places"] for s in waited), figures  # a queue, places shown
    # Time slices, seen by each page whatever its lag: its run trained, then waited again unfinished
    # ("step N / M · Waiting ..."); first come, first served never shows that. All but the last one left
    # training alone, who may find nobody waiting.
    assert sum(s["requeued"] for s in states) >= VISITORS - 1, figures
    # Order: the runs that had not moved when every page showed its run all move before any of them
    # finishes (without slices the second would move only after the first finished). On a loaded machine
    # pages load so slowly that every run has moved by then: the requeue check above covers that case.
    # Each against the others' finish: a page may first see its own run move in the refresh that shows it
    # finished (an idle machine trains a last slice fast), which says nothing of the order.
    if len(fresh) >= 2:
        assert all(states[a]["firstMove"] < states[b]["finished"] for a in fresh for b in fresh if a != b), figures
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
        wait_for(lambda: (steps_of(progress_text(first)) or (0,))[0] > 0, HANG_S)
        second = staying.new_page()
        second.goto(url + link.format(seed=2))
        wait_for(lambda: "number 1 in the queue" in progress_text(second), HANG_S)
        gone.close()  # the tab is closed: no more heartbeats
        closed = time.monotonic()
        wait_for(lambda: (steps_of(progress_text(second)) or (0,))[0] > 0
                 and "Waiting" not in progress_text(second), HANG_S)
        freed_s = time.monotonic() - closed
        rss = rss_mb(process.pid)
        process.send_signal(signal.SIGTERM)  # with the second visitor's run training
        sent = time.monotonic()
        process.wait(timeout=60)  # a hang guard; the < 5 s is asserted below
        exit_s = time.monotonic() - sent
        staying.close()
    (shots / "hosted-faults.json").write_text(json.dumps({"slot_freed_after_close_s": round(freed_s, 1),
                                                          "heartbeat_s": HEARTBEAT_S, "sigterm_exit_s":
                                                          round(exit_s, 2), "rss_mb": round(rss),
                                                          "log": log.read_text()[-500:]}))
    # The first run trained 100,000 steps: only its heartbeat timeout can free the slot (plus a refresh and a
    # chunk; generous for a loaded machine: the figure is in hosted-faults.json).
    assert freed_s < HEARTBEAT_S + 30
    assert process.returncode == 0
    # Stopped by the shutdown itself (bnviz/ui/shutdown.py), not by a heartbeat running out meanwhile, and the
    # process gone within 5 s of the signal (the interpreter's exit collections skipped: gc.freeze at exit;
    # measured 0.9-1.3 s at load 7 on 2 cores, 6-9 s before).
    stopped = STOPPED.search(log.read_text())
    assert stopped and float(stopped.group(1)) < 5, log.read_text()[-3000:]
    assert exit_s < 5, (exit_s, log.read_text()[-3000:])


def wait_for(condition, timeout_s: float):
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


class Steps:
    """Wall time of each step of a test, printed as it goes (pytest -s) and kept for its figures."""

    def __init__(self):
        self.start = self.last = time.monotonic()
        self.times: dict[str, float] = {}

    def done(self, what: str):
        now = time.monotonic()
        self.times[what] = round(now - self.last, 1)
        print(f"{what}: {now - self.last:.1f} s (total {now - self.start:.1f} s)", flush=True)
        self.last = now
