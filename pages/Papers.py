"""bnviz papers: the known results about normalization, each with the paper's numbers, ours, and a verdict."""

import streamlit as st

from bnviz import papers
from bnviz.ui import papers_section, session
from bnviz.ui.entry import through_app

through_app()  # first: at a process's first request this page is rerun through app.py

limiter = session.shared_limiter()

st.title("Reproduce the papers")
session.link_problems(session.lab_session())  # a link's ignored parameters, named, on every page
st.caption("Each reproduction states a paper's claim, draws our shipped measurement at once and judges it against "
           "a stated threshold. Run it here retrains a smaller version live, through the same training queue as "
           "the lab, and recomputes the verdict on the live data.")
# One reproduction at a time: a visitor's browser draws its two or three figures, not all ten.
name = st.radio("Reproduction", papers.names(), format_func=papers_section.short_title, horizontal=True,
                key=papers_section.SHOWN_KEY)
papers_section.elsewhere(name)
papers_section.section(name, limiter)
st.divider()
st.caption("bnviz · papers · shipped results: bnviz/assets/papers/, made by scripts/make_paper_results.py.")
