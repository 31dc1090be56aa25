"""Hosted-demo benchmark: server RSS idle / one training / N sessions, then V visitors opening an autorun link
at once: time to first chart and to finish (p50/p95) and peak RSS. `python -m bench.hosted [visitors]`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

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


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
