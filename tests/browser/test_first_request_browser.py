"""A server process's first request goes through app.py like every later one, whichever page it asks for:
Streamlit 1.67 runs a file in pages/ on its own at a process's first request (bnviz/ui/entry.py)."""

from __future__ import annotations

import pytest

from bench.browser import serving_lab
from conftest import ROOT, SERVER_START_S

pytestmark = pytest.mark.browser

NAV_TITLES = ("Lab: live training", "Compare: paired runs", "Sweep: a grid of runs",
              "Papers: reproduce the results", "Microscope: one batch", "Theory: BatchNorm done right")


@pytest.mark.parametrize("path, drawn", [
    ("/Microscope?placement=before", "placement before"),  # the lab's knobs, read from the URL by app.py
    ("/?placement=before&norm=group", "bnviz · live BatchNorm lab"),
])
def test_first_request_of_a_process_runs_the_entry_script(browser, tmp_path, path, drawn):
    with serving_lab(ROOT, tmp_path / "server.log", SERVER_START_S) as (url, _):
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        try:
            page = context.new_page()
            page.goto(url + path)  # nothing has asked this process for a page before
            page.get_by_text(drawn).first.wait_for(timeout=SERVER_START_S * 1000)
            nav = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
            assert [t.split("\n")[-1].strip() for t in nav] == list(NAV_TITLES), nav  # app.py's navigation, not one per file
            assert page.locator('[data-testid="stException"]').count() == 0
            if path.startswith("/?"):
                # The lab read the link's knobs and wrote the whole view back into the address.
                page.wait_for_function("location.search.includes('smoothing=')", timeout=SERVER_START_S * 1000)
                assert "norm=group" in page.url and "placement=before" in page.url, page.url
        finally:
            context.close()
