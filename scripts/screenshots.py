"""Screenshots of every view of the lab and of the other pages, at desktop and phone size, into docs/.

    .venv/bin/python scripts/screenshots.py [--out docs] [--only lab-seed_cnn,theory]

Starts the app on a loopback port, opens each page of tests/browser/layout.py:PAGES in headless Chromium,
waits for its short training run to end, and writes docs/views-{desktop,phone}-N.png (view N of the seed
CNN), docs/{desktop,phone}-{microscope,theory}.png and docs/lab.png. Prints each chart's text collisions (none expected).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

from bench.browser import CHROMIUM, CHROMIUM_FLAGS, serving_lab  # noqa: E402
from layout import PAGES, VIEWPORTS, collisions, settle  # noqa: E402

VIEWS_PAGE = "lab-seed_cnn"  # the page whose views are photographed one by one
PHOTOGRAPHED = {VIEWS_PAGE, "microscope", "theory"}  # the other labs are measured only: docs/ stays ~3 MB
# Streamlit scrolls its main area, not the window: a page is photographed whole in a viewport as tall as it.
PAGE_HEIGHT = "() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"
VIEW_BOX = r"""
(number) => {  // the page area from view N's heading to the next heading (or the captions' end)
  const heads = [...document.querySelectorAll('h3')].filter(h => /^\d+\. /.test(h.innerText));
  const i = heads.findIndex(h => h.innerText.startsWith(number + '. '));
  if (i < 0) return null;
  const top = heads[i].getBoundingClientRect().top - 8;
  let bottom;
  if (i + 1 < heads.length) bottom = heads[i + 1].getBoundingClientRect().top - 8;
  else {
    const caps = [...document.querySelectorAll('[data-testid="stCaption"], [data-testid="stCaptionContainer"]')]
      .filter(c => c.getBoundingClientRect().top > top);
    bottom = Math.min(...caps.map(c => c.getBoundingClientRect().bottom)) + 8;
  }
  return {x: 0, y: top, width: document.documentElement.clientWidth, height: bottom - top};
}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--only", default="", help="comma-separated page names of layout.PAGES")
    args = parser.parse_args()
    names = [n for n in PAGES if not args.only or n in args.only.split(",")]
    from playwright.sync_api import sync_playwright
    args.out.mkdir(parents=True, exist_ok=True)
    found = 0
    with tempfile.TemporaryDirectory() as tmp, serving_lab(ROOT, Path(tmp) / "server.log") as (url, _), \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            for size, viewport in VIEWPORTS.items():
                for name in names:
                    context = browser.new_context(viewport=viewport)
                    page = context.new_page()
                    page.goto(url + PAGES[name])
                    settle(page)
                    problems = collisions(page)
                    found += sum(len(c["problems"]) for c in problems)
                    for chart in problems:
                        print(f"{size} {name}: {chart['chart']}: " + "; ".join(chart["problems"]))
                    if size == "desktop" and name == VIEWS_PAGE:
                        page.screenshot(path=args.out / "lab.png")
                    page.set_viewport_size({**viewport, "height": min(20000, page.evaluate(PAGE_HEIGHT))})
                    page.wait_for_timeout(1500)
                    if name == VIEWS_PAGE:
                        for number in range(1, 8):
                            box = page.evaluate(VIEW_BOX, number)
                            if box:
                                page.screenshot(path=args.out / f"views-{size}-{number}.png", clip=box)
                    elif name in PHOTOGRAPHED:
                        page.screenshot(path=args.out / f"{size}-{name}.png")
                    context.close()
        finally:
            browser.close()
    print(f"{found} text collisions; screenshots in {args.out}")


if __name__ == "__main__":
    main()
