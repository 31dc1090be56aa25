"""The Sweep page in headless Chromium: a tiny sweep's link with autorun=1 trains in the background and the
chart fills in, a reload finds it again (sweep= in the address bar), its text clear of collisions on a desktop
and on a phone."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from layout import collisions
from test_lab_browser import wait_for

pytestmark = pytest.mark.browser

FOOTER = "bnviz · sweeps"  # the Sweep page's last element
TINY = {"model": "mlp", "batch_size": "8", "steps": "20", "grid": "batch_size:4,8;norm:batch,none", "seeds": "0",
        "images": "none", "autorun": "1"}
SWEEP_S = 180  # four runs of 20 steps, with the worker's start, on a busy 2-core machine
VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}


def traces(page) -> int:
    # The title is cut for a phone ("... (eval mode) vs" + "batch_size" in the subtitle): match its head.
    return page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text="(eval mode)")) \
        .locator(".scatterlayer .trace").count()


def test_an_autorun_link_fills_the_chart_in(server, browser, shots):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{server}/Sweep?{urlencode(TINY)}")
        page.get_by_text(FOOTER).wait_for(timeout=60_000)
        wait_for(lambda: page.get_by_text("Finished: 4 of 4 runs").count() > 0, SWEEP_S, "the sweep finishes")
        wait_for(lambda: traces(page) == 2, 10, "a line per norm")
        assert page.get_by_text("This sweep ran on local:").count() > 0
        href = page.evaluate("location.href")
        assert "grid=batch_size" in href and "sweep=" in href  # the address bar: share link and the sweep's token
        page.reload()  # a new session: it finds the sweep's results on the server, not a fresh form
        page.get_by_text(FOOTER).wait_for(timeout=60_000)
        wait_for(lambda: page.get_by_text("Finished: 4 of 4 runs").count() > 0, 30, "the reload shows the sweep")
        wait_for(lambda: traces(page) == 2, 10, "its chart")
        assert page.get_by_text("Sweep file (.npz)").count() > 0
        for name, (width, height) in VIEWPORTS.items():
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1500)  # the chart resizes to its column
            page.get_by_text("Sweep: one curve, many runs").scroll_into_view_if_needed()
            page.screenshot(path=shots / f"sweep-{name}-top.png")
            page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
            page.screenshot(path=shots / f"sweep-{name}-chart.png")
            page.get_by_text("Open a sweep file (.npz)").scroll_into_view_if_needed()
            page.screenshot(path=shots / f"sweep-{name}-files.png")
            assert collisions(page) == [], name
    finally:
        context.close()
