"""Plotly charts that update in place: a small Streamlit component that hands each new figure to Plotly.react.

st.plotly_chart (Streamlit 1.67) derives a chart's element id from its figure, so each live update mounts a
new chart: the browser builds it from scratch (a busy renderer while the lab trains) and a
user's zoom is lost. This component is identified by its key alone; its JavaScript keeps one plot per
key and calls Plotly.react, which redraws what changed and keeps zoom and pan (layout.uirevision).
plotly.js is the copy inside the plotly package, served by Streamlit's static file serving.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from pathlib import Path

import plotly
import plotly.graph_objects as go
import streamlit as st
from plotly.offline import get_plotlyjs_version

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"  # Streamlit serves the folder beside app.py
PLOTLY_CONFIG = {"displaylogo": False}  # the rest of plotly's modebar stays, PNG export included
PLOTLY_HEIGHT = 450  # plotly's (and st.plotly_chart's) height for a figure that sets none
log = logging.getLogger(__name__)

JS = """
// Load plotly.js once per page, for every chart.
const loadPlotly = src => window.bnvizPlotly ??= new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = src;
  script.onload = () => resolve(window.Plotly);
  script.onerror = () => reject(new Error(`plotly.js could not be loaded from ${src}`));
  document.head.appendChild(script);
});

// Draw the newest figure; figures that arrive while plotly draws replace each other, so a busy browser
// skips to the latest instead of falling behind.
async function draw(plot, src) {
  const Plotly = await loadPlotly(src);
  while (plot.bnvizNext) {
    const {figure, config} = plot.bnvizNext;
    plot.bnvizNext = null;
    await Plotly.react(plot, figure.data, figure.layout, {...config, modeBarButtonsToAdd: [FULL_SCREEN]});
  }
}

// st.plotly_chart's full-screen view, for a projector: the chart alone, as large as the screen.
const FULL_SCREEN = {
  name: "fullscreen", title: "Full screen",
  icon: {width: 1000, height: 1000, path: "M100 100H400V180H180V400H100ZM600 100H900V400H820V180H600Z" +
                                          "M100 600H180V820H400V900H100ZM820 600H900V900H600V820H820Z"},
  click: plot => document.fullscreenElement === plot ? document.exitFullscreen() : plot.requestFullscreen(),
};

function update(plot, src) {
  if (plot.bnvizDrawing) return;  // the running draw() takes the new figure
  plot.bnvizDrawing = draw(plot, src)
    .catch(error => { plot.textContent = String(error); })
    .finally(() => {
      plot.bnvizDrawing = null;
      if (plot.bnvizNext) update(plot, src);  // arrived as draw() was returning
    });
}

export default function ({data, parentElement}) {
  let plot = parentElement.querySelector(".bnviz-chart");
  if (!plot) {  // first data for this key; later data update the same plot
    plot = document.createElement("div");
    plot.className = "bnviz-chart";
    parentElement.appendChild(plot);
    // A view toggled off detaches its plots, and a hidden one has no layout box: Plotly refuses to resize
    // either ("Resize must be passed a displayed plot div element"), so only a shown plot is resized.
    plot.bnvizResize = new ResizeObserver(() => {
      // getClientRects, not offsetParent: a plot in full screen has no offsetParent, and must resize.
      if (plot._fullLayout && plot.isConnected && plot.getClientRects().length > 0) {
        window.Plotly.Plots.resize(plot).catch(() => {});  // detached between the check and the resize
      }
    });
    plot.bnvizResize.observe(plot);
  }
  plot.style.height = `${data.height}px`;
  plot.bnvizNext = {figure: JSON.parse(data.figure), config: data.config};
  update(plot, data.plotly_js);
  return () => {  // unmounted: the view or the site changed
    plot.bnvizResize.disconnect();
    window.Plotly?.purge(plot);
    plot.remove();
  };
}
"""

CSS = ".bnviz-chart:fullscreen { height: 100vh !important; background: white; }"

_component = st.components.v2.component("bnviz_live_chart", js=JS, css=CSS, isolate_styles=False)
# pandas, imported whole before any chart. A session's first chart imports it (Streamlit's component call
# looks for dataframes in its data: streamlit/dataframe_util.py), while plotly's validators and to_json read
# sys.modules["pandas"] without importing it (_plotly_utils/basevalidators.py, is_homogeneous_array). So a
# second session building a figure meanwhile found a half-initialized module: "partially initialized module
# 'pandas' has no attribute 'Series'" in the live fragment (8 visitors at once, in the server log of
# tests/browser/test_hosted_load.py; an empty figure's to_json, warmed here before, never imports pandas).
# Any thread drawing a chart imports this module first, and the import system makes it wait until this
# module, and so pandas, is complete.
import pandas  # noqa: E402,F401


class Prepared:
    """A figure and its JSON, serialized once (to_json is a large part of a refresh) and sent as is."""

    def __init__(self, figure: go.Figure):
        self.figure, self.json = figure, figure.to_json()


def prepared(figure: go.Figure) -> Prepared:
    return Prepared(figure)


def plotly_chart(figure: go.Figure | Prepared, key: str):
    """Draw `figure` under `key`; the next call with the same key updates the same chart in place.

    Where plotly.js cannot be served (no static file serving: the app started outside the project's folder,
    without its .streamlit/config.toml; or no write access to static/) it falls back to st.plotly_chart,
    which redraws the chart at each update.
    """
    ready = figure if isinstance(figure, Prepared) else Prepared(figure)
    src = plotly_js_url()
    if src is None:
        st.plotly_chart(ready.figure, key=key, config=PLOTLY_CONFIG)
        return
    height = ready.figure.layout.height or PLOTLY_HEIGHT
    _component(data={"figure": ready.json, "config": PLOTLY_CONFIG, "height": height, "plotly_js": src},
               key=key, height=height)


def plotly_js_url() -> str | None:
    """Where the browser finds plotly.js, or None when it cannot be served."""
    if not st.get_option("server.enableStaticServing"):
        return None
    name = _publish_plotly_js()
    if name is None:
        return None
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return "/" + "/".join(part for part in (base, "app/static", name) if part)


@functools.cache
def _publish_plotly_js() -> str | None:
    """Copy the plotly package's plotly.js into the static folder (once per version); its file name."""
    name = f"plotly-{get_plotlyjs_version()}.min.js"
    source, target = Path(plotly.__file__).parent / "package_data" / "plotly.min.js", STATIC_DIR / name
    try:
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            STATIC_DIR.mkdir(exist_ok=True)
            partial = target.with_name(f"{name}.{os.getpid()}.partial")  # another server may copy at once
            shutil.copyfile(source, partial)
            os.replace(partial, target)
    except OSError as error:
        log.warning("plotly.js cannot be served from %s (%s): charts redraw in full at each update", target, error)
        return None
    return name
