"""The lab in headless Chromium, as a visitor uses it: Train click to the first charts, the gaps between chart
updates, and training throughput inside the app with the CPU the browser and the server take (from /proc).

The browser runs on the same machine as the server, as in the browser tests, which share this module's way
of serving the lab and of timing the charts. On a small machine they share its cores; with `browser_cpus`
the browser is kept on those CPUs and the server on the others, as when a visitor's browser runs on their
own machine (a hosted demo), so the app's own cost shows apart from the browser's.
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
from contextlib import ExitStack, contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("BNVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]

# The page's own clock: when the Train button is clicked, when the DOM first holds the histograms and the
# gradient-norm lines, each time that chart plots a new last step, and each new step count in the progress
# line. A Playwright poll waits behind the renderer's work (up to a second while plotly draws), so it would
# time the harness as much as the page; and a step count read at a random moment is up to one refresh old.
WATCH_CHARTS = """() => {
  const watch = window.bnvizWatch = {click: null, first: null, changes: [], plot: null, steps: []};
  const gradChart = window.bnvizGradChart = () => [...document.querySelectorAll('.js-plotly-plot')].find(chart =>
    (chart.querySelector('.gtitle')?.textContent || '').includes('Gradient norm per layer'));
  const gradDrawn = () => !!gradChart()?.querySelector('.scatterlayer .trace');
  const lastStep = () => {  // the last step the gradient-norm chart plots
    const x = gradChart()?._fullData?.[0]?.x;
    return x && x.length ? String(x[x.length - 1]) : null;
  };
  const histogram = () => [...document.querySelectorAll('.gtitle')]
    .some(title => /block1\\.norm at step/.test(title.textContent));
  const progressStep = () => {
    const match = document.querySelector('[data-testid="stProgress"]')?.textContent.match(/step ([\\d,]+) \\//);
    return match ? Number(match[1].replaceAll(',', '')) : null;
  };
  let shown = null;
  new MutationObserver(() => {
    if (watch.click === null) return;
    const trained = progressStep();
    if (trained !== null && trained !== watch.steps.at(-1)?.[1]) watch.steps.push([performance.now(), trained]);
    if (watch.first === null && gradDrawn() && histogram()) {
      watch.first = performance.now();
      watch.plot = gradChart();
    }
    const step = lastStep();
    if (step && step !== shown) {
      if (shown !== null) watch.changes.push(performance.now());
      shown = step;
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributeFilter: ['d']});
}"""
TIME_CLICK = "button => button.addEventListener('click', () => { window.bnvizWatch.click = performance.now(); })"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving_lab(root: Path, log_path: Path, start_timeout_s: float = 60, cpus: set[int] | None = None):
    """`streamlit run app.py` on a free loopback port (on `cpus` only, if given); yields (URL, PID) once
    /_stcore/health answers ok, and stops the server by its PID at the end. RuntimeError, with the server's
    log, if it never gets there."""
    port = free_port()
    with open(log_path, "w") as log:
        with _confined(cpus):
            process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(root / "app.py"), "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats",
                 "false"], cwd=root, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for_health(url, process, log_path, start_timeout_s)
            yield url, process.pid
        finally:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def _wait_for_health(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/_stcore/health not ok after {timeout_s:.0f} s:\n{log_path.read_text()}")
        time.sleep(0.2)


def lab_in_browser(root: Path, batch_size: int, warm_s: float, window_s: float, log_path: Path,
                   browser_cpus: set[int] | None = None) -> dict:
    """Start the lab, train at `batch_size` in Chromium, and measure over `window_s` after `warm_s`; with
    `browser_cpus`, Chromium runs on those CPUs only and the server on the others."""
    from playwright.sync_api import sync_playwright  # a bench (and dev) dependency, not the app's

    server_cpus = os.sched_getaffinity(0) - browser_cpus if browser_cpus else None
    with serving_lab(root, log_path, cpus=server_cpus) as (url, server), ExitStack() as stack:
        with _confined(browser_cpus):  # Playwright's driver starts here; Chromium inherits its CPUs
            playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/?steps=100000&batch_size={batch_size}")
        page.wait_for_function("window.Plotly !== undefined", timeout=60000)  # the empty charts are drawn
        page.evaluate(WATCH_CHARTS)
        train = page.get_by_role("button", name="Train", exact=True)
        train.evaluate(TIME_CLICK)
        train.click()
        page.wait_for_function("window.bnvizWatch.first !== null", timeout=60000)
        time.sleep(warm_s)
        chromium = _chromium_processes()
        placement = {"browser_cpus": _cpus(chromium), "server_cpus": _cpus([server])}
        page0, browser0, server0, start = _page_now(page), _cpu_s(chromium), _cpu_s([server]), time.monotonic()
        time.sleep(window_s)
        page1, browser1, server1 = _page_now(page), _cpu_s(chromium), _cpu_s([server])
        seconds = time.monotonic() - start
        watch = page.evaluate("({...window.bnvizWatch, plot: null})")
        browser.close()
    changes = watch["changes"]
    return {"batch_size": batch_size, "window_s": round(seconds, 1), **placement,
            "first_chart_s": round((watch["first"] - watch["click"]) / 1000, 2),
            "refresh_gaps_s": [round((b - a) / 1000, 2) for a, b in zip(changes, changes[1:])],
            "steps_per_s": _rate([(t, step) for t, step in watch["steps"] if page0 <= t <= page1]),
            "chromium_cores": round((browser1 - browser0) / seconds, 2),
            "server_cores": round((server1 - server0) / seconds, 2)}


@contextmanager
def _confined(cpus: set[int] | None):
    """Processes started inside run on `cpus` (a child inherits the affinity of the thread that starts it);
    this thread gets its own CPUs back at the end."""
    if not cpus:
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


def _cpus(pids: list[int]) -> list[int]:
    """The CPUs these processes may run on (all of them together)."""
    allowed = set()
    for pid in pids:
        try:
            allowed |= os.sched_getaffinity(pid)
        except OSError:
            continue  # ended
    return sorted(allowed)


def _page_now(page) -> float:
    return page.evaluate("performance.now()")


def _rate(samples: list[tuple[float, int]]) -> float | None:
    """Steps per second between the first and the last new step count the page showed (page clock, ms)."""
    if len(samples) < 2:
        return None
    (t0, step0), (t1, step1) = samples[0], samples[-1]
    return round((step1 - step0) * 1000 / (t1 - t0), 2)


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
