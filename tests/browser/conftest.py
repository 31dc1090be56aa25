"""Real-browser fixtures: `streamlit run app.py` on a free loopback port, and Debian's headless Chromium.

Without Chromium (or the playwright package) the browser tests fail, never skip: `make test` installs
Debian's chromium; `pytest -m "not browser"` leaves them out on purpose.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
LAST_ELEMENT = "bnviz · live BatchNorm lab"  # the lab's footer: drawn at the end of its first script run
SHOTS = Path(os.environ.get("BNVIZ_SCREENSHOTS", ROOT / "test-artifacts" / "browser"))
SERVER_START_S = 60


def pytest_terminal_summary(terminalreporter):
    if SHOTS.exists() and any(SHOTS.iterdir()):
        terminalreporter.write_line(f"browser test screenshots and timings: {SHOTS}")


def _unavailable(reason: str):
    pytest.fail(f"{reason} (`make chromium` installs Debian's chromium; `-m 'not browser'` leaves these tests out)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where screenshots go; printed at the end of the run."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {SHOTS}")
    return SHOTS


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The app's base URL; the server is stopped by its PID at the end."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().decode().strip() == "ok":
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{url}/_stcore/health not ok after {SERVER_START_S} s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


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
