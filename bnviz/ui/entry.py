"""Every page goes through app.py, even at a server process's first request."""

import runpy

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx


def through_app() -> None:
    """Called first by every page file. With a top-level pages/ folder, Streamlit 1.67 runs the first request of
    a server process (and every AppTest run) through its v1 page runner (script_runner._mpa_v1), which runs the
    page file alone: no opening, no navigation, no URL knobs. Then this runs app.py in its place, in the same
    script run (a rerun would drop a click): app.py's st.navigation turns the v1 runner off for the process
    and runs this page again, this time through it."""
    if not getattr(PagesManager, "uses_pages_directory", False):
        return
    runpy.run_path(get_script_run_ctx().main_script_path, run_name="__main__")
    st.stop()  # the page has been drawn, through app.py
