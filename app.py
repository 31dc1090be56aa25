"""bnviz: the entry script. It opens every page the same way (page config, this session, the URL, the
navigation, the lab's training badge) and then runs the page asked for."""

import streamlit as st

from bnviz.ui import session

# A new page is one more entry. A page's address is its file name, so the files keep the addresses shared
# links already use (/, /Microscope, /Theory). The folder is not named pages/: Streamlit (and AppTest) would
# run the files there as pages of their own, without this script.
LAB = st.Page("app_pages/Lab.py", title="Lab: live training", icon=":material/insights:", default=True)
PAGES = [
    LAB,
    st.Page("app_pages/Microscope.py", title="Microscope: one batch", icon=":material/biotech:"),
    st.Page("app_pages/Theory.py", title="Theory: BatchNorm done right", icon=":material/functions:"),
    st.Page("app_pages/Papers.py", title="Papers: reproduce the results", icon=":material/science:"),
]

st.set_page_config(layout="wide")  # each tab is titled by its st.Page title
lab = session.lab_session()
page = st.navigation(PAGES)
session.open_lab(lab, autorun_allowed=page is LAB)  # a link opened on another page never starts training
if page is not LAB:
    session.training_badge(lab)  # keeps a lab run alive while its user reads another page
page.run()
