"""Text collisions in the rendered charts: every plotly chart's titles, axis titles, legend entries and
annotations, measured from the SVG the browser drew (no pixel guessing)."""

from __future__ import annotations

# Returns, for every chart on the page: its title and the problems found, each a short sentence.
# Boxes come from getBoundingClientRect of the drawn SVG text; the modebar (as if shown) and
# reference lines (shapes) count as boxes that no text may overlap.
FIND_COLLISIONS = r"""
(minOverlapPx) => {
  const textOf = el => (el.textContent || '').trim();
  const kinds = [['title', '.gtitle'], ['x title', '.xtitle, .x2title, .x3title'],
                 ['y title', '.ytitle, .y2title, .y3title'], ['legend', '.legendtext'],
                 ['annotation', '.annotation-text'], ['colorbar title', '.cbtitle text'],
                 ['subtitle', '.gtitle-subtitle'], ['tick', 'g.xaxislayer-above text, g.yaxislayer-above text'],
                 ['modebar', '.modebar-group'], ['line', '.shapelayer path'], ['plot area', '.nsewdrag']];
  const marks = new Set(['modebar', 'line', 'plot area']);  // not text: they may touch each other, never a text
  // Text that belongs inside a plot area (an annotation: a hint, a panel's title) may lie in one; the rest not.
  const mayMeet = (a, b) => (marks.has(a.kind) && marks.has(b.kind)) || (a.kind === 'tick' && b.kind === 'tick') ||
    ((a.kind === 'plot area' || b.kind === 'plot area') && (a.kind === 'annotation' || b.kind === 'annotation'));
  const overlap = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
                            Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const out = [];
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const svg = plot.querySelector('.main-svg');
    if (!svg || !plot.offsetParent) continue;  // not displayed
    const frame = svg.getBoundingClientRect();
    const boxes = [];
    for (const [kind, selector] of kinds)
      for (const el of plot.querySelectorAll(selector)) {
        const r = el.getBoundingClientRect();
        // The toolbar shows on hover or tap and must then hide nothing; a reference line must cross no text.
        const text = {modebar: 'toolbar', line: 'reference line', 'plot area': 'plot'}[kind] || textOf(el);
        if (r.width > 0 && r.height > 0 && text) boxes.push({kind, text, r});
      }
    const problems = [];
    for (const b of boxes) {
      if (marks.has(b.kind)) continue;
      const cut = b.r.left < frame.left - 1 || b.r.right > frame.right + 1 ||
                  b.r.top < frame.top - 1 || b.r.bottom > frame.bottom + 1;
      if (cut) problems.push(`${b.kind} "${b.text}" is cut by the chart's edge`);
    }
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        if (overlap(boxes[i].r, boxes[j].r) > minOverlapPx && !mayMeet(boxes[i], boxes[j]))
          problems.push(`${boxes[i].kind} "${boxes[i].text}" overlaps ${boxes[j].kind} "${boxes[j].text}"`);
    const title = plot.querySelector('.gtitle');
    if (problems.length) out.push({chart: title ? textOf(title) : '(untitled)', problems});
  }
  return out;
}
"""


def collisions(page, min_overlap_px: float = 4.0) -> list[dict]:
    """Charts on `page` whose text boxes overlap or are cut (empty when every chart reads cleanly)."""
    return page.evaluate(FIND_COLLISIONS, min_overlap_px)


# --- the pages measured (by tests/browser/test_layout_browser.py) and photographed (scripts/screenshots.py) ---
TINY = "steps=24&record_every=4&eval_every=8&view=1,2,3,4,5,6,7&autorun=1"
PAGES = {  # name -> address: a short training of each model with every view on, a diverged run, the other pages
    "lab-seed_cnn": f"/?model=seed_cnn&{TINY}",
    "lab-mlp": f"/?model=mlp&{TINY}",
    "lab-diverged": f"/?model=mlp&optimizer=sgd&lr=10&placement=none&{TINY}",
    "compare": f"/Compare?model=mlp&arm1.label=BN&arm1.norm=batch&arm2.label=none&arm2.norm=none"
               f"&arm3.label=batch%204&arm3.batch_size=4&{TINY}",  # 3 arms, every view overlaid
    "microscope": "/Microscope",
    "theory": "/Theory",
}
VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
SETTLED = r"""
() => {  // every chart drawn, and no run still training (its progress shows 'step N / N' or a divergence)
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const text = document.body.innerText;
  const running = /step ([\d,]+) \/ ([\d,]+)/.exec(text);
  const done = !running || running[1] === running[2] || /Diverged at step/.test(text);
  return plots.length > 0 && plots.every(p => p.querySelector('.main-svg')) && done;
}
"""


def settle(page, timeout_s: float = 150):
    """Wait until the page's run has ended and its charts are drawn, then a moment for the last redraw."""
    page.wait_for_function(SETTLED, timeout=timeout_s * 1000, polling=250)
    page.wait_for_timeout(1500)
    page.wait_for_function(SETTLED, timeout=timeout_s * 1000, polling=250)
