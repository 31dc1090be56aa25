"""No text of any chart collides, measured from the SVG Chromium drew: the lab with every view on after a
short training of each model and of a diverged run, the microscope and the theory page, on a desktop and
on a phone (tests/browser/layout.py says what counts as a collision)."""

from __future__ import annotations

import pytest

from layout import PAGES, VIEWPORTS, collisions, settle

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("size", VIEWPORTS)
def test_no_chart_text_collides(server, browser, size, name):
    # A context of its own (a new visitor): new_page waits for the lab's footer, which other pages lack.
    context = browser.new_context(viewport=VIEWPORTS[size])
    try:
        page = context.new_page()
        page.goto(server + PAGES[name])
        settle(page)
        assert page.locator(".js-plotly-plot").count() >= 2, f"{name}: its charts were not drawn"
        found = collisions(page)
    finally:
        context.close()
    assert not found, "\n".join(f"{size} {name}: {c['chart']}: {'; '.join(c['problems'])}" for c in found)
