"""The lab in headless Chromium while it trains: a reload finds its run, toggling views logs no error, and
nothing is fetched from outside this machine."""

from __future__ import annotations

import os
import re
import time
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

LAST_ELEMENT = "bnviz · live BatchNorm lab"  # the lab's footer (as in conftest.py)
HISTOGRAM = re.compile(r"block1\.norm at step (\d+)")

LONG = "model=mlp&steps=100000&batch_size=16&record_every=5&eval_every=500"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
SHOTS = os.environ.get("BNVIZ_SHOTS_12U")  # also save the screenshots there (the notes)


def histogram_step(page) -> int | None:
    steps = [int(m.group(1)) for t in page.locator(".gtitle").all_text_contents() if (m := HISTOGRAM.search(t))]
    return steps[0] if steps else None


def wait_for(condition, timeout: float, what: str):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"{what}: not within {timeout} s"
        time.sleep(0.1)


def watch(page) -> dict:
    """Every request URL and every console error or uncaught exception of the page, as they come."""
    seen = {"requests": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: message.type == "error" and seen["errors"].append(message.text))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    return seen


def outside(urls: list[str]) -> list[str]:
    return [u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss")
            and urlparse(u).hostname not in LOOPBACK]


def shot(page, shots, name: str):
    page.screenshot(path=shots / name, full_page=True)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}", full_page=True)


def test_a_reload_during_training_finds_the_run_and_nothing_leaves_loopback(server, new_page, shots):
    page = new_page(f"{server}/?{LONG}")
    seen = watch(page)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_for(lambda: (histogram_step(page) or 0) >= 20, 90, "the histograms past step 20")
    token = re.search(r"[?&]run=([\w-]+)", page.evaluate("location.href")).group(1)
    before = histogram_step(page)
    page.reload()
    page.get_by_text(LAST_ELEMENT).wait_for(timeout=60000)
    # The same run goes on: the charts continue past the step shown before the reload, not from 0 or empty.
    wait_for(lambda: (histogram_step(page) or 0) > before, 30, "the charts after the reload")
    assert page.get_by_text("this chart fills in live").count() == 0  # no empty placeholder chart
    assert "Waiting for a free training slot" not in page.locator('[data-testid="stProgress"]').first.inner_text()
    assert f"run={token}" in page.evaluate("location.href")
    shot(page, shots, "12u-after-reload.png")
    page.get_by_role("button", name="Reset", exact=True).click()
    assert not outside(seen["requests"]), outside(seen["requests"])
    assert any("/app/static/plotly" in u for u in seen["requests"]) or seen["requests"]  # it did fetch


def test_toggling_views_while_training_logs_no_console_error(server, new_page, shots):
    page = new_page(f"{server}/?{LONG}&view=1,2,3,4,5,6,7")
    seen = watch(page)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_for(lambda: (histogram_step(page) or 0) >= 10, 90, "the histograms past step 10")  # 7 views, busy CI
    for label in ("2. Distribution over time", "6. Running vs batch statistics", "3. Histograms over steps"):
        pill = page.get_by_role("button", name=label, exact=True)
        pill.click()  # off
        time.sleep(1.0)
        pill.click()  # on again
        time.sleep(1.0)
    # Streamlit marks each element of the live fragment stale from the start of its rerun until it is sent
    # again; sampled while training, the charts and captions of views 5-7 must never show faded.
    faded, stale, samples = 0, 0, 40
    for _ in range(samples):
        state = page.evaluate("""() => [...document.querySelectorAll('.st-key-live .stElementContainer')]
            .map(e => [e.dataset.stale === 'true', parseFloat(getComputedStyle(e).opacity)])""")
        stale += any(s for s, _ in state)
        faded += any(o < 0.99 for _, o in state)
        time.sleep(0.1)
    (shots / "12u-stale-frames.txt").write_text(f"{stale} of {samples} frames had stale elements; {faded} faded\n")
    assert faded == 0, f"{faded} of {samples} frames faded"
    shot(page, shots, "12u-all-views-training.png")
    page.set_viewport_size({"width": 390, "height": 844})
    time.sleep(1.5)
    shot(page, shots, "12u-phone-training.png")
    pause = page.get_by_role("button", name="Pause", exact=True)
    if pause.is_enabled():  # a very busy machine may have ended the run (heartbeat) by now
        pause.click()
    wait_for(lambda: page.get_by_text("Test accuracy").count() > 0, 10, "the test accuracy metric")
    page.get_by_role("button", name="Reset", exact=True).click()
    assert not seen["errors"], seen["errors"]
    assert not outside(seen["requests"]), outside(seen["requests"])
