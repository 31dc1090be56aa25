"""bnviz: the entry script. It opens every page the same way (page config, this session, the URL, the
navigation, the lab's training badge) and then runs the page asked for."""

from pathlib import Path

import streamlit as st

from bnviz.ui import compare_session, session, sweep_job

# A new page is one more entry. A page's address is its file name, so the files keep the addresses shared
# links already use (/, /Microscope, /Theory). Each page file first calls through_app() (bnviz/ui/entry.py):
# Streamlit 1.67 runs the files in pages/ on their own, without this script, at a process's first request.
LAB = st.Page("pages/Lab.py", title="Lab: live training", icon=":material/insights:", default=True)
COMPARE = st.Page("pages/Compare.py", title="Compare: paired runs", icon=":material/compare:")
SWEEP = st.Page("pages/Sweep.py", title="Sweep: a grid of runs", icon=":material/stacked_line_chart:")
PAGES = [
    LAB,
    COMPARE,
    SWEEP,
    st.Page("pages/Papers.py", title="Papers: reproduce the results", icon=":material/science:"),
    st.Page("pages/Microscope.py", title="Microscope: one batch", icon=":material/biotech:"),
    st.Page("pages/Theory.py", title="Theory: BatchNorm done right", icon=":material/functions:"),
]

# The tab's icon is a file shipped here: a ":material/...:" page icon makes the browser fetch its SVG from
# a font host (Streamlit's frontend builds that favicon URL), which fails offline. The nav's material icons
# are drawn with the font Streamlit bundles, so they need no network.
ICON = Path(__file__).resolve().parent / "bnviz" / "assets" / "icon.png"
st.set_page_config(layout="wide", page_icon=str(ICON))  # each tab is titled by its st.Page title
lab = session.lab_session()
page = st.navigation(PAGES)
session.open_lab(lab, autorun_allowed=page is LAB)  # a link opened on another page never starts training
if page is not LAB:
    session.training_badge(lab)  # keeps a lab run alive while its user reads another page
if page is not COMPARE:
    compare_session.training_badge()  # and the comparison's
if page is not SWEEP:
    sweep_job.badge()  # and a sweep
page.run()
