"""The browserless visitor (bench/ws_visitor.py): its chart test against plotly's own JSON, and two visitors
against a real `streamlit run app.py` seeing a chart with data and their runs' finish."""

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from streamlit.proto.Element_pb2 import Element

from bench.ws_visitor import chart_with_data, figure_has_data, run_visitors
from tests.browser.hosted import hosted_server

LINK = "/?autorun=1&model=mlp&steps={steps}&batch_size=16&record_every=20&eval_every=100&seed={seed}"


def test_figure_has_data_reads_plotly_json_lists_and_typed_arrays():
    assert figure_has_data(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])).to_json())
    assert figure_has_data(go.Figure(go.Scatter(x=np.arange(3.0), y=np.ones(3))).to_json())  # typed array
    assert not figure_has_data(go.Figure(go.Scatter(x=[], y=[])).to_json())  # a labelled placeholder
    assert not figure_has_data(go.Figure(layout={"title": "Loss"}).to_json())
    assert not figure_has_data("not json")


def test_chart_with_data_looks_inside_plotly_chart_specs_only():
    element = Element()
    element.plotly_chart.spec = go.Figure(go.Bar(x=["a"], y=[1])).to_json()
    assert chart_with_data(element)
    element = Element()
    element.markdown.body = go.Figure(go.Bar(x=["a"], y=[1])).to_json()  # chart JSON as text is no chart
    assert not chart_with_data(element)


def test_two_visitors_see_a_chart_and_their_runs_finish(tmp_path: Path):
    # One training at a time, short slices: the two runs take turns, so each needs its page's fragment
    # reruns (the only thing that refreshes the progress, and the server's heartbeat) to reach the finish.
    with hosted_server(tmp_path / "server.log", BNVIZ_TIME_SLICE_S=0.5, BNVIZ_HEARTBEAT_S=5) as (url, _):
        visits = run_visitors(url, [LINK.format(steps=300, seed=s) for s in (0, 1)], until_s=120)
    log = (tmp_path / "server.log").read_text()
    for visit in visits:
        assert visit.error is None, (visit, log[-2000:])
        assert visit.exceptions == [], visit.exceptions
        assert visit.first_chart_s is not None, (visit, log[-2000:])
        assert visit.ended == "finished" and visit.finished_s is not None, (visit, log[-2000:])
        assert "step 300 / 300" in visit.progress, visit.progress
        assert visit.fragment_reruns > 0
    assert "Traceback" not in log, log[-3000:]
