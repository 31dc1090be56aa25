"""Real-browser fixtures: `streamlit run app.py` on a free loopback port, and Debian's headless Chromium.

Without Chromium (or the playwright package) the browser tests fail, never skip: `make test` installs
Debian's chromium; `pytest -m "not browser"` leaves them out on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.browser import CHROMIUM, CHROMIUM_FLAGS, serving_lab

ROOT = Path(__file__).resolve().parents[2]
LAST_ELEMENT = "bnviz · live BatchNorm lab"  # the lab's footer: drawn at the end of its first script run
SHOTS = Path(os.environ.get("BNVIZ_SCREENSHOTS", ROOT / "test-artifacts" / "browser"))
SERVER_START_S = 60


def pytest_terminal_summary(terminalreporter):
    if SHOTS.exists() and any(SHOTS.iterdir()):
        terminalreporter.write_line(f"browser test screenshots and timings: {SHOTS}")


def _unavailable(reason: str):
    pytest.fail(f"{reason} (`make chromium` installs Debian's chromium; `-m 'not browser'` leaves these tests out)")


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where screenshots go; printed at the end of the run."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {SHOTS}")
    return SHOTS


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The app's base URL; the server is stopped by its PID at the end (a server that never answers health
    errors the tests, with its log)."""
    with serving_lab(ROOT, tmp_path_factory.mktemp("streamlit") / "server.log", SERVER_START_S) as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (requirements-dev.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    """Open a page in a fresh browser context (no shared state: a new visitor) and wait until it is drawn."""
    contexts = []

    def open_page(url: str):
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        page.get_by_text(LAST_ELEMENT).wait_for(timeout=SERVER_START_S * 1000)
        # Widgets load their code lazily and show a skeleton until then.
        page.wait_for_function("!document.querySelector('[data-testid=\"stSkeleton\"]')",
                               timeout=SERVER_START_S * 1000)
        return page

    yield open_page
    for context in contexts:
        context.close()
