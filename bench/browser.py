"""The lab in headless Chromium, as a visitor uses it: Train click to the first charts, the gaps between chart
updates, and training throughput inside the app with the CPU the browser and the server take (from /proc).

The browser runs on the same machine as the server, as in the browser tests: on a small machine they share
its cores, which is the point of measuring it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("BNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# The page's own clock (a Playwright poll waits behind the renderer): the Train click, the first moment both
# the histograms and the gradient-norm lines are on screen, and each new last step of the gradient-norm chart.
WATCH = """() => {
  const watch = window.bnvizWatch = {click: null, first: null, changes: []};
  const grad = () => [...document.querySelectorAll('.js-plotly-plot')].find(plot =>
    (plot.querySelector('.gtitle')?.textContent || '').includes('Gradient norm per layer'));
  const histogram = () => [...document.querySelectorAll('.gtitle')].some(t => / at step \\d+/.test(t.textContent));
  let shown = null;
  new MutationObserver(() => {
    if (watch.click === null) return;
    const x = grad()?._fullData?.[0]?.x;
    if (watch.first === null && x && histogram()) watch.first = performance.now();
    const last = x && x.length ? String(x[x.length - 1]) : null;
    if (last && last !== shown) {
      if (shown !== null) watch.changes.push(performance.now());
      shown = last;
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributeFilter: ['d']});
}"""
PROGRESS_STEP = re.compile(r"step ([\d,]+) /")


def lab_in_browser(root: Path, batch_size: int, warm_s: float, window_s: float, log_path: Path) -> dict:
    """Start the lab, train at `batch_size` in Chromium, and measure over `window_s` after `warm_s`."""
    from playwright.sync_api import sync_playwright  # a bench (and dev) dependency, not the app's

    port = _free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                                  cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_health(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{url}/?steps=100000&batch_size={batch_size}")
            page.wait_for_function("window.Plotly !== undefined", timeout=60000)  # the empty charts are drawn
            page.evaluate(WATCH)
            train = page.get_by_role("button", name="Train", exact=True)
            train.evaluate("b => b.addEventListener('click', () => { window.bnvizWatch.click = performance.now(); })")
            train.click()
            page.wait_for_function("window.bnvizWatch.first !== null", timeout=60000)
            time.sleep(warm_s)
            chromium = _chromium_processes()
            steps0, browser0, server0, start = _steps(page), _cpu_s(chromium), _cpu_s([server.pid]), time.monotonic()
            time.sleep(window_s)
            steps1, browser1, server1 = _steps(page), _cpu_s(chromium), _cpu_s([server.pid])
            seconds = time.monotonic() - start
            watch = page.evaluate("window.bnvizWatch")
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    changes = watch["changes"]
    return {"batch_size": batch_size, "window_s": round(seconds, 1),
            "first_chart_s": round((watch["first"] - watch["click"]) / 1000, 2),
            "refresh_gaps_s": [round((b - a) / 1000, 2) for a, b in zip(changes, changes[1:])],
            "steps_per_s": round((steps1 - steps0) / seconds, 2),
            "chromium_cores": round((browser1 - browser0) / seconds, 2),
            "server_cores": round((server1 - server0) / seconds, 2)}


def _steps(page) -> int:
    """Steps trained so far, from the progress line ("step 1,234 / 100,000 · ...")."""
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    return int(PROGRESS_STEP.search(text).group(1).replace(",", ""))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_health(url: str, timeout_s: float = 60):
    end = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return
        except OSError:
            if time.monotonic() > end:
                raise RuntimeError(f"the lab did not answer at {url} within {timeout_s:.0f} s")
            time.sleep(0.3)


def _chromium_processes() -> list[int]:
    """Chromium's processes started by this one (through Playwright's driver)."""
    parents, names = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        names[int(pid)] = stat[stat.index("(") + 1:stat.rindex(")")]
        parents[int(pid)] = int(stat[stat.rindex(")") + 2:].split()[1])

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid, name in names.items() if "chrom" in name and ours(pid)]


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (all their threads) so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
