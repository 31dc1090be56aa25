"""Hosted-demo benchmark: server RSS idle / one training / N sessions, then V visitors opening an autorun link
at once: time to first chart and to finish (p50/p95) and peak RSS. `python -m bench.hosted [visitors]`.

`--client ws`: the visitors are bench/ws_visitor.py clients speaking Streamlit's websocket protocol instead of
headless Chromium pages, so on a small machine the renderers no longer take the CPU the server needs (30
Chromium pages on 2 shared cores: load 31 median, up to 45); the figures are then the server's own. The memory
figures for one training and 10 sessions are measured in the Chromium mode only."""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench import ws_visitor
from bench.browser import CHROMIUM, CHROMIUM_FLAGS
from tests.browser.hosted import SEEN, Watch, hosted_server, rss_mb, seen

LINK = "/?autorun=1&model=mlp&steps=400&batch_size=16&record_every=40&eval_every=200&seed={seed}"
# A drawn chart (a titled .js-plotly-plot with data, as SEEN records it), for the one-training figure.
FIRST_CHART = "window.bnvizSeen?.chart != null"


def percentile(values: list[float], q: float) -> float | None:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else None


def main(visitors: int = 30, sessions: int = 10, out: Path = Path("bench/out/hosted.json")):
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {"visitors": visitors, "note": "2 shared, loaded cores: times are noisy"}
    with hosted_server(out.with_suffix(".log"), BNVIZ_TIME_SLICE_S=1.5) as (url, process), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        time.sleep(2)
        figures["rss_idle_mb"] = round(rss_mb(process.pid))
        one = browser.new_context().new_page()
        one.add_init_script(script=f"({SEEN})()")
        one.goto(url + "/?autorun=1&model=seed_cnn&steps=2000&seed=0")
        one.wait_for_function(FIRST_CHART, timeout=300_000)
        figures["rss_one_training_mb"] = round(rss_mb(process.pid))
        others = [browser.new_context().new_page() for _ in range(sessions - 1)]
        for page in others:
            page.goto(url, wait_until="commit")
        for page in others:
            page.get_by_text("bnviz · live BatchNorm lab").wait_for(timeout=300_000)
        figures[f"rss_{sessions}_sessions_mb"] = round(rss_mb(process.pid))
        print(json.dumps(figures), flush=True)  # the memory figures, before the long part
        for page in [one] + others:
            page.context.close()
        with Watch(url, process.pid) as watch:
            pages = [browser.new_context().new_page() for _ in range(visitors)]
            for page in pages:
                page.add_init_script(script=f"({SEEN})()")
            opened = time.time() * 1000
            for seed, page in enumerate(pages):
                page.goto(url + LINK.format(seed=seed), wait_until="commit")
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                states = [seen(page) for page in pages]
                if all(s and s["finished"] for s in states):
                    break
                time.sleep(1)
        # Both times as each page recorded them (SEEN): a busy harness sampling late cannot shift them.
        chart = {i: (s["chart"] - opened) / 1000 for i, s in enumerate(states) if s and s["chart"]}
        finish = [(s["finished"] - opened) / 1000 for s in states if s and s["finished"]]
        figures.update(first_chart_p50_s=percentile(list(chart.values()), 0.5),
                       first_chart_p95_s=percentile(list(chart.values()), 0.95),
                       finish_p50_s=percentile(finish, 0.5), finish_p95_s=percentile(finish, 0.95),
                       charts_seen=len(chart), finished=len(finish), peak_rss_mb=round(watch.peak_rss_mb),
                       health_failures=watch.health_failures)
        browser.close()
    out.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


def main_ws(visitors: int = 30, out: Path = Path("bench/out/hosted-ws.json")):
    """The same V visitors as main's, as websocket clients (no browser)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {"visitors": visitors, "client": "ws (Streamlit protocol, no browser)",
               "note": "2 shared, loaded cores: times are noisy"}
    with hosted_server(out.with_suffix(".log"), BNVIZ_TIME_SLICE_S=1.5) as (url, process):
        time.sleep(2)
        figures["rss_idle_mb"] = round(rss_mb(process.pid))
        load = Load()
        with Watch(url, process.pid) as watch, load:
            visits = ws_visitor.run_visitors(url, [LINK.format(seed=seed) for seed in range(visitors)], 1800)
    chart = [v.first_chart_s for v in visits if v.first_chart_s is not None]
    finish = [v.finished_s for v in visits if v.finished_s is not None]
    figures.update(first_chart_p50_s=percentile(chart, 0.5), first_chart_p95_s=percentile(chart, 0.95),
                   finish_p50_s=percentile(finish, 0.5), finish_p95_s=percentile(finish, 0.95),
                   charts_seen=len(chart), finished=len(finish), peak_rss_mb=round(watch.peak_rss_mb),
                   health_failures=watch.health_failures, health_checks=watch.health_checks,
                   visitors_with_exceptions=sum(bool(v.exceptions) for v in visits),
                   exceptions=sorted({e for v in visits for e in v.exceptions})[:5],
                   errors=sorted({v.error for v in visits if v.error})[:5],
                   ended={str(end): sum(v.ended == end for v in visits) for end in {v.ended for v in visits}},
                   fragment_reruns_sent=sum(v.fragment_reruns for v in visits), **load.figures())
    out.write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


class Load:
    """The machine's 1-minute load average, sampled every 5 s while a bench runs (others share the cores)."""

    def __init__(self):
        self.samples, self._stop = [], threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
            self._stop.wait(5)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(6)

    def figures(self) -> dict:
        return {"load_min": min(self.samples, default=None), "load_median": percentile(self.samples, 0.5),
                "load_max": max(self.samples, default=None)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("visitors", type=int, nargs="?", default=30)
    parser.add_argument("sessions", type=int, nargs="?", default=10, help="sessions for the memory figure")
    parser.add_argument("--client", choices=("chromium", "ws"), default="chromium",
                        help="chromium: headless browser pages (default); ws: Streamlit-protocol clients")
    args = parser.parse_args()
    if args.client == "ws":
        main_ws(args.visitors)
    else:
        main(args.visitors, args.sessions)
