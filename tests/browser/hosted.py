"""Helpers for the hosted-demo load tests: a hosted server with its own environment, and a visitor's view."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from bench.browser import _wait_for_health, free_port
from tests.browser.conftest import LAST_ELEMENT

ROOT = Path(__file__).resolve().parents[2]
STEP = re.compile(r"step ([\d,]+) / ([\d,]+)")
PLACE = re.compile(r"number (\d+) in the queue")
# `streamlit run` as its CLI does it, plus a thread dump on SIGUSR1 into the server's log: a hang guard that
# fires says where the server's threads were (faulthandler: stdlib, works with every thread busy).
SERVE = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
         "from streamlit.web.cli import main; sys.exit(main())")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def hosted_server(log_path: Path, **env):
    """`streamlit run app.py` on loopback in hosted mode with `env`; yields (url, process). The caller may
    SIGTERM it; otherwise it is stopped by its PID at the end."""
    port = free_port()
    full_env = {**os.environ, "BNVIZ_HOSTED": "1", "BNVIZ_MAX_TRAININGS": "1", "BNVIZ_TRAIN_THREADS": "1",
                **{k: str(v) for k, v in env.items()}}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "run", str(ROOT / "app.py"), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, log_path, 60)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Watch:
    """Samples the server's health and RSS in a thread while a test drives the browsers."""

    def __init__(self, url: str, pid: int, every_s: float = 0.5, timeout_s: float = 30):
        # timeout_s: a hang guard; a loaded machine may answer slowly, a hung server not at all
        self.url, self.pid, self.every_s, self.timeout_s = url, pid, every_s, timeout_s
        self.health_failures, self.health_checks, self.peak_rss_mb = 0, 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _loop(self):
        while not self._stop.is_set():
            self.peak_rss_mb = max(self.peak_rss_mb, rss_mb(self.pid))
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=self.timeout_s) as response:
                    ok = response.read().decode().strip() == "ok"
            except OSError:
                ok = False
            self.health_checks += 1
            self.health_failures += not ok
            self._stop.wait(self.every_s)


# In each page (epoch ms, so pages compare): when its progress line first showed, when it first waited, when
# its run first moved, when it finished, the queue places shown, whether it was sent back to the queue after
# training a slice, and when a chart with data was first drawn. Recorded by the page
# itself, so a busy test process sampling late cannot shift the times.
SEEN = r"""(LAST_ELEMENT = FOOTER) => {
  window.bnvizSeen = {places: [], shown: null, queued: null, firstMove: null, finished: null, requeued: false,
                      chart: null, drawn: null, log: []};
  new MutationObserver(() => {
    const text = document.querySelector('[data-testid="stProgress"]')?.textContent || '';
    const now = performance.timeOrigin + performance.now(), seen = window.bnvizSeen;
    if (text && !text.includes('Not started') && seen.shown === null) seen.shown = now;  // its run, queued or not
    const waiting = text.includes('Waiting');
    if (waiting && seen.queued === null) seen.queued = now;
    const place = text.match(/number (\d+) in the queue/);
    if (place && !seen.places.includes(+place[1])) seen.places.push(+place[1]);
    const step = text.match(/step ([\d,]+) \//);
    const moved = step && +step[1].replace(/,/g, '') > 0;
    if (moved && seen.firstMove === null) seen.firstMove = now;  // trained: running, or back in the queue
    if (moved && waiting) seen.requeued = true;  // trained a slice, then went back to the queue
    if (text.includes('finished') && seen.finished === null) seen.finished = now;
    const footer = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].some(
        caption => caption.textContent.includes(LAST_ELEMENT));
    if (seen.drawn === null && footer) seen.drawn = now;  // the page's first run ended
    const entry = `${footer ? 'footer' : 'no footer'} | ${text.slice(0, 60)}`;
    if (seen.log.length < 60 && seen.log.at(-1)?.[1] !== entry) seen.log.push([Math.round(now), entry]);
    if (seen.chart === null && [...document.querySelectorAll('.js-plotly-plot')].some(chart =>
        chart.querySelector('.gtitle') && (chart._fullData || []).some(trace => trace.x?.length > 0)))
      seen.chart = now;  // a titled chart with data (the labelled placeholders before a run have none)
  }).observe(document, {subtree: true, childList: true, characterData: true});
}""".replace("FOOTER", json.dumps(LAST_ELEMENT))


def seen(page) -> dict:
    return page.evaluate("window.bnvizSeen")


def progress_text(page) -> str:
    """The progress line as the page shows it now ("" before it is drawn); read at once, no waiting."""
    return page.evaluate("document.querySelector('[data-testid=\"stProgress\"]')?.textContent || ''")


def steps_of(text: str) -> tuple[int, int] | None:
    m = STEP.search(text)
    return (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))) if m else None


def hang_report(process, log_path: Path, pages=(), shots: Path | None = None, what: str = "") -> str:
    """What a hang guard shows when it fires: the server's threads (faulthandler, into its log), each page's
    record and progress line (and a screenshot in `shots`), the log's tail."""
    states = []
    for i, page in enumerate(pages):
        try:
            states.append({"page": i, "progress": progress_text(page), "seen": seen(page),
                           "exceptions": page.locator('[data-testid="stException"]').count()})
            if shots is not None:
                page.screenshot(path=str(shots / f"hang-page-{i}.png"))
        except Exception as err:  # noqa: BLE001  a page that cannot answer is part of the report
            states.append({"page": i, "error": repr(err)})
    if process.poll() is None:
        process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
    report = f"hang: {what}\npages: {json.dumps(states, indent=1)}\nserver log (tail):\n{log_path.read_text()[-20000:]}"
    if shots is not None:
        (shots / "hang-report.txt").write_text(report)
    return report
