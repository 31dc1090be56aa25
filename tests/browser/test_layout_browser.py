"""No text of any chart collides, measured from the SVG Chromium drew: the lab with every view on after a
short training of each model and of a diverged run, the microscope and the theory page, on a desktop and
on a phone (tests/browser/layout.py says what counts as a collision)."""

from __future__ import annotations

import pytest

from layout import PAGES, VIEWPORTS, collisions, settle

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("size", VIEWPORTS)
def test_no_chart_text_collides(server, new_page, size):
    found = {}
    for name, address in PAGES.items():
        page = new_page(server + address, viewport=VIEWPORTS[size])
        settle(page)
        assert page.locator(".js-plotly-plot").count() >= 2, f"{name}: its charts were not drawn"
        found.update({f"{name}: {chart['chart']}": chart["problems"] for chart in collisions(page)})
        page.context.close()
    assert not found, "\n".join(f"{size} {chart}: {'; '.join(problems)}" for chart, problems in found.items())
