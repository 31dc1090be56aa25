"""The Papers page in headless Chromium: the shipped figures are there at once, and one reproduction run live at
the tiny budget fills its figure in and ends with a verdict on the live data."""

from __future__ import annotations

import time

import pytest

from bnviz import papers
from bnviz.ui import papers_section
from layout import collisions

pytestmark = pytest.mark.browser

FOOTER = "bnviz · papers"
SHIPPED_S = 90  # generous for a busy CI machine (a fresh server imports torch first): the measured time is printed
LIVE_S = 240


def plot(page, key: str):
    return page.locator(f".st-key-{key.replace('.', '-')} .js-plotly-plot")


def bn_points(page, key: str) -> int:
    """Points of the 'with BN' trace the browser draws in chart `key` (0 before it has one)."""
    return page.evaluate("""(sel) => { const gd = document.querySelector(sel);
        const t = gd && gd.data ? gd.data.find(d => d.name === 'with BN') : null; return t ? t.x.length : 0; }""",
                         f".st-key-{key.replace('.', '-')} .js-plotly-plot")


def show(page, name: str):
    """Pick reproduction `name` in the page's selector (one is drawn at a time)."""
    page.locator(".st-key-papers-shown").get_by_text(papers_section.LABELS[name], exact=True).click()


def open_papers(browser, server, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    started = time.monotonic()
    page.goto(server + "/Papers")
    page.get_by_text(FOOTER).wait_for(timeout=SHIPPED_S * 1000)
    return context, page, started


def test_shipped_figures_at_once_and_a_live_run_fills_in(server, browser, shots):
    context, page, started = open_papers(browser, server, 1400, 900)
    first = plot(page, "papers.ioffe2015.acc").locator(".scatterlayer .trace").first
    first.wait_for(timeout=SHIPPED_S * 1000)
    print(f"first shipped figure drawn {time.monotonic() - started:.1f} s after opening the page")
    page.screenshot(path=shots / "papers-desktop-top.png")
    problems = collisions(page)
    show(page, "higher_lr")
    plot(page, "papers.higher_lr.acc").locator(".scatterlayer .trace").first.wait_for(timeout=SHIPPED_S * 1000)
    assert not plot(page, "papers.ioffe2015.acc").count()  # one reproduction at a time
    shipped = len(papers.shipped("higher_lr")["measured"]["bn"]["rates"])
    assert bn_points(page, "papers.higher_lr.acc") == shipped
    problems += collisions(page)

    section = page.locator(".st-key-papers-higher_lr-budget")
    section.scroll_into_view_if_needed()
    section.get_by_text("tiny").click()
    page.locator(".st-key-papers-higher_lr-run button").click()
    seen, end = [], time.monotonic() + LIVE_S
    while not page.get_by_text("Live run finished").count():
        assert time.monotonic() < end, f"the live run did not finish; seen {seen}"
        if page.get_by_text("Live run training").count():
            seen.append(bn_points(page, "papers.higher_lr.acc"))
        time.sleep(0.2)
    page.wait_for_function(f"() => {{ const gd = document.querySelector('.st-key-papers-higher_lr-acc .js-plotly-plot');"
                           f" return gd && gd.data && gd.data.some(d => d.name === 'with BN' && d.x.length === "
                           f"{len(papers.higher_lr.TEST_RATES)}); }}", timeout=30_000)
    assert seen and min(seen) < len(papers.higher_lr.TEST_RATES), f"never seen partly drawn: {seen}"
    plot(page, "papers.higher_lr.acc").scroll_into_view_if_needed()
    page.screenshot(path=shots / "papers-desktop-live.png")
    assert page.get_by_text("Verdict:").count() == 1  # the live one is re-judged, not partial
    assert not page.get_by_text("Verdict (on the partial data so far)").count()
    context.close()

    context, page, _ = open_papers(browser, server, 390, 844)
    show(page, "wu2018")
    plot(page, "papers.wu2018.mlp").locator(".scatterlayer .trace").first.wait_for(timeout=SHIPPED_S * 1000)
    page.screenshot(path=shots / "papers-phone-top.png")
    plot(page, "papers.wu2018.mlp").scroll_into_view_if_needed()
    page.screenshot(path=shots / "papers-phone-wu.png")
    problems += collisions(page)
    context.close()
    assert not problems, problems
