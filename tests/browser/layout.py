"""Text collisions in the rendered charts: every plotly chart's titles, axis titles, legend entries and
annotations, measured from the SVG the browser drew (no pixel guessing)."""

from __future__ import annotations

# Returns, for every chart on the page: its title and the problems found, each a short sentence.
# Boxes come from getBoundingClientRect of the drawn SVG text; the modebar counts as a box while shown.
FIND_COLLISIONS = r"""
(minOverlapPx) => {
  const textOf = el => (el.textContent || '').trim();
  const kinds = [['title', '.gtitle'], ['x title', '.xtitle, .x2title, .x3title'],
                 ['y title', '.ytitle, .y2title, .y3title'], ['legend', '.legendtext'],
                 ['annotation', '.annotation-text'], ['colorbar title', '.cbtitle text']];
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
        if (r.width > 0 && r.height > 0 && textOf(el)) boxes.push({kind, text: textOf(el), r});
      }
    const problems = [];
    for (const b of boxes) {
      const cut = b.r.left < frame.left - 1 || b.r.right > frame.right + 1 ||
                  b.r.top < frame.top - 1 || b.r.bottom > frame.bottom + 1;
      if (cut) problems.push(`${b.kind} "${b.text}" is cut by the chart's edge`);
    }
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        if (overlap(boxes[i].r, boxes[j].r) > minOverlapPx)
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
