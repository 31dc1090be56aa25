"""The Compare page in headless Chromium: a 3-arm link with autorun=1 trains and every arm's charts update
live; a Train click's time to the first charts of all three arms and the refresh gaps are saved (page clock)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from layout import collisions

pytestmark = pytest.mark.browser

LABELS = ("BN", "none", "batch 4")
PARAMS = {"model": "mlp", "steps": "150", "batch_size": "16", "record_every": "5", "eval_every": "20",
          "arm1.label": "BN", "arm1.norm": "batch", "arm2.label": "none", "arm2.norm": "none",
          "arm3.label": "batch 4", "arm3.batch_size": "4", "view": "1,4,5"}
LAST_SNAPSHOT = 145  # snapshots are taken before a step: every 5 steps, the last before step 150
HANG_S = 60  # only stops a hung page from hanging the test; the measured times are saved, not asserted
FOOTER = "compare: the arms share one training slot"

# The page's own clock: each arm's latest histogram step, when all three first show one (after the click, if
# any), and each time the shown steps change (a refresh that brought new data).
WATCH = """(labels) => {
  const watch = window.cmpWatch = {click: null, first: null, changes: [], armA: [], steps: {}};
  const steps = () => {
    const out = {};
    for (const title of document.querySelectorAll('.gtitle')) {
      const text = title.textContent || '';
      for (const label of labels) {
        const m = text.match(new RegExp(`■ ${label} · block1\\\\.norm at step (\\\\d+)`));
        if (m) out[label] = Number(m[1]);
      }
    }
    return out;
  };
  let shown = '';
  new MutationObserver(() => {
    const now = steps(), key = JSON.stringify(now);
    if (key === shown) return;
    shown = key;
    watch.changes.push(performance.now());
    if (now[labels[0]] !== watch.steps[labels[0]]?.at(-1)) watch.armA.push(performance.now());
    for (const [label, step] of Object.entries(now)) (watch.steps[label] ??= []).push(step);
    const all = labels.every(label => label in now);
    if (all && watch.first === null && (watch.click !== null || watch.armed)) watch.first = performance.now();
  }).observe(document, {subtree: true, childList: true, characterData: true});
}"""


def open_compare(browser, server, params: dict, viewport: dict, armed: bool):
    context = browser.new_context(viewport=viewport)
    # Watching from before the page's first script: an autorun comparison may start drawing at once.
    context.add_init_script(f"({WATCH})({json.dumps(list(LABELS))}); window.cmpWatch.armed = {json.dumps(armed)};")
    page = context.new_page()
    page.goto(f"{server}/Compare?{urlencode(params)}")
    page.get_by_text(FOOTER).wait_for(timeout=HANG_S * 1000)
    return context, page


# Scroll Streamlit's scrolling section to `top` px; true once its end is on screen.
SCROLL_TO = """(top) => {
  const el = document.querySelector('[data-testid="stMain"]');
  if (!el) return true;
  el.scrollTop = top;
  return el.scrollTop + el.clientHeight >= el.scrollHeight - 2;
}"""


def screenshots(page, path_stem, most: int = 8):
    """The whole page a screen at a time (Streamlit scrolls its main section, so full_page shows one screen)."""
    height = page.evaluate("window.innerHeight")
    for n in range(most):
        at_end = page.evaluate(SCROLL_TO, n * (height - 60))
        page.wait_for_timeout(400)
        page.screenshot(path=f"{path_stem}-{n + 1}.png")
        if at_end:
            break


def watch(page) -> dict:
    return page.evaluate("window.cmpWatch")


def wait_for(condition, timeout: float, what: str):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def finished(page) -> bool:
    return page.locator('[data-testid="stProgress"]').filter(has_text="finished").count() > 0


def arm_groups(page, title: str) -> set[str]:
    """The arms (legend groups) an overlaid chart draws lines for."""
    return set(page.evaluate("""(title) => {
      const plot = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => (p.querySelector('.gtitle')?.textContent || '').includes(title));
      return (plot?._fullData || []).filter(t => t.x && t.x.length > 1).map(t => t.legendgroup);
    }""", title))


def test_a_three_arm_link_trains_live_and_train_times_all_arms(browser, server, shots):
    params = {**PARAMS, "autorun": "1"}
    context, page = open_compare(browser, server, params, {"width": 1400, "height": 900}, armed=True)
    # autorun: every arm's histograms appear and move on to later steps while training.
    wait_for(lambda: watch(page)["first"] is not None, HANG_S, "the first charts of all three arms (autorun)")
    wait_for(lambda: finished(page), HANG_S * 3, "the comparison to finish")
    wait_for(lambda: all(max(watch(page)["steps"].get(label, [0])) >= LAST_SNAPSHOT for label in LABELS), HANG_S,
             "every arm's histograms at the last snapshot")
    seen = watch(page)["steps"]
    assert set(seen) == set(LABELS)
    assert all(max(seen[label]) > min(seen[label]) for label in LABELS), seen  # each arm's charts updated
    assert arm_groups(page, "Gradient norm per layer") >= set(LABELS)
    page.wait_for_timeout(1500)  # the last redraw settles
    screenshots(page, shots / "compare-1400x900")
    problems = collisions(page)
    autorun_changes = watch(page)["armA"]

    # The Train click, timed on the page clock: Reset (empty charts), then Train.
    page.get_by_role("button", name="Reset", exact=True).click()
    wait_for(lambda: page.get_by_text("Press Train").count() > 0, HANG_S, "the empty charts after Reset")
    page.evaluate(WATCH, list(LABELS))
    train = page.get_by_role("button", name="Train", exact=True)
    train.evaluate("b => b.addEventListener('click', () => { window.cmpWatch.click = performance.now(); })")
    train.click()
    wait_for(lambda: watch(page)["first"] is not None, HANG_S, "the first charts of all three arms (click)")
    wait_for(lambda: finished(page), HANG_S * 3, "the comparison to finish after the click")
    clicked = watch(page)
    changes = [t for t in clicked["armA"] if t >= clicked["first"]]  # arm A's histogram took a new step
    (shots / "compare-timings.json").write_text(json.dumps({
        "train_click_to_first_charts_of_3_arms_s": round((clicked["first"] - clicked["click"]) / 1000, 2),
        "refresh_gaps_s": [round((b - a) / 1000, 2) for a, b in zip(changes, changes[1:])],  # arm A, a new step
        "autorun_refresh_gaps_s": [round((b - a) / 1000, 2) for a, b in zip(autorun_changes, autorun_changes[1:])],
        "steps_seen_per_arm": clicked["steps"],
        "layout_problems_1400x900": problems}, indent=2))

    # Difference mode: each arm's histograms minus arm A's, at the same step.
    page.get_by_role("radio", name="minus arm A").check(force=True)
    wait_for(lambda: page.locator(".gtitle").filter(has_text="none − BN").count() > 0, HANG_S,
             "the difference histograms")
    page.wait_for_timeout(1000)
    page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text="none − BN")).first \
        .scroll_into_view_if_needed()
    page.screenshot(path=shots / "compare-difference-1400x900.png")
    assert not [c for c in collisions(page) if "−" in c["chart"]]
    context.close()

    phone, page = open_compare(browser, server, params, {"width": 390, "height": 844}, armed=True)
    wait_for(lambda: finished(page), HANG_S * 3, "the comparison to finish on a phone")
    page.wait_for_timeout(1500)
    screenshots(page, shots / "compare-390x844", most=14)
    (shots / "compare-layout-390x844.json").write_text(json.dumps(collisions(page), indent=2))
    phone.close()
