"""The in-place chart component: plotly.js published for the browser, its address, and the fallback to
st.plotly_chart when it cannot be served. (The browser test checks that a live chart keeps its plot and the
user's zoom across updates.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly
import pytest
from streamlit.testing.v1 import AppTest

from bnviz.ui import live_chart

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@pytest.fixture
def static_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(live_chart, "STATIC_DIR", tmp_path / "static")
    live_chart._publish_plotly_js.cache_clear()
    yield tmp_path / "static"
    live_chart._publish_plotly_js.cache_clear()


def options(monkeypatch, **values):
    """st.get_option with some server options replaced."""
    real = live_chart.st.get_option
    monkeypatch.setattr(live_chart.st, "get_option", lambda name: values.get(name.split(".")[-1], real(name)))


def test_publishes_the_plotly_package_copy_of_plotly_js_under_its_version(static_dir):
    name = live_chart._publish_plotly_js()
    served = static_dir / name
    assert served.read_bytes() == PLOTLY_JS.read_bytes()
    banner_version = re.search(rb"plotly\.js v(\d+\.\d+\.\d+)", PLOTLY_JS.read_bytes()[:200]).group(1).decode()
    assert name == f"plotly-{banner_version}.min.js"  # a new plotly version gets a new name: no stale cache
    assert [p.name for p in static_dir.iterdir()] == [name]  # no partial copy left behind


def test_a_stale_copy_is_replaced(static_dir):
    static_dir.mkdir()
    stale = static_dir / f"plotly-{live_chart.get_plotlyjs_version()}.min.js"
    stale.write_text("truncated")
    live_chart._publish_plotly_js()
    assert stale.read_bytes() == PLOTLY_JS.read_bytes()


def test_the_address_follows_the_server_base_path(static_dir, monkeypatch):
    name = live_chart._publish_plotly_js()
    options(monkeypatch, enableStaticServing=True, baseUrlPath="")
    assert live_chart.plotly_js_url() == f"/app/static/{name}"
    options(monkeypatch, enableStaticServing=True, baseUrlPath="/demo/bnviz/")
    assert live_chart.plotly_js_url() == f"/demo/bnviz/app/static/{name}"


def test_no_address_without_static_serving_or_a_folder_to_publish_in(tmp_path, monkeypatch):
    options(monkeypatch, enableStaticServing=False)
    assert live_chart.plotly_js_url() is None
    options(monkeypatch, enableStaticServing=True)
    (tmp_path / "app").write_text("a file where the app's folder should be")
    monkeypatch.setattr(live_chart, "STATIC_DIR", tmp_path / "app" / "static")  # cannot be created
    live_chart._publish_plotly_js.cache_clear()
    try:
        assert live_chart.plotly_js_url() is None
    finally:
        live_chart._publish_plotly_js.cache_clear()


def test_the_lab_falls_back_to_st_plotly_chart_when_plotly_js_cannot_be_served(monkeypatch):
    monkeypatch.setattr(live_chart, "plotly_js_url", lambda: None)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    specs = [json.loads(c.proto.spec)["layout"]["title"] for c in at.get("plotly_chart")]
    titles = [t["text"] + (f": {t['subtitle']['text']}" if "subtitle" in t else "") for t in specs]
    assert titles == ["block1.norm: Pre vs post histograms", "block2.norm: Pre vs post histograms",
                      "Gradient norm per layer", "Update:data ratio per layer", "Test digits"]
    assert not at.get("bidi_component")
