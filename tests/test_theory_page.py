"""AppTest of the theory page: it loads, its widgets move its numbers, and nothing broken is ever shown."""

import base64
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_charts import charts

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def page():
    # Opened as a page of the app (not on its own) so that the sidebar's links to the other pages resolve.
    at = AppTest.from_file(APP, default_timeout=30).switch_page("pages/Theory.py")
    at.run()
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def values(array) -> np.ndarray:
    """A trace's x or y: plotly sends numpy arrays base64-encoded ({"dtype", "bdata"})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array, dtype=float)


def assert_sane(at: AppTest):
    """Must not happen: an exception element, an error box, or a NaN/inf in any number or chart shown."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    text = "\n".join([m.value for m in at.metric] + [m.value for m in at.markdown] + [m.value for m in at.caption])
    assert not re.search(r"\b(nan|NaN|inf|Infinity)\b", text)
    for chart in charts(at).values():
        for trace in chart["data"]:
            for axis in ("x", "y"):
                assert np.all(np.isfinite(values(trace[axis]))), (chart["layout"]["title"]["text"], axis)


def test_page_loads_with_every_section(page):
    assert_sane(page)
    assert [h.value for h in page.header][0].startswith("1. Running statistics")
    assert len(page.header) == 5
    assert len(charts(page)) == 6
    assert len(page.latex) >= 5
    sources = page.markdown[-1].value
    for source in ("Ioffe & Szegedy 2015", "PyTorch BatchNorm2d docs", "Keras BatchNormalization docs",
                   "Wu & Johnson 2021"):
        assert source in sources


def numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text.replace("−", "-"))]


def test_input_distribution_moves_running_stats_but_not_the_articles(page):
    # The article's (0, 1) statistics let x through in eval mode: the output keeps the input's mean and std.
    assert numbers(metric(page, "Eval mode, the article's")) == pytest.approx([5.0, 2.0], abs=0.3)
    assert numbers(metric(page, "Eval mode, PyTorch's")) == pytest.approx([0.0, 1.0], abs=0.3)
    page.slider(key="theory.mean").set_value(-7.0).run()
    page.slider(key="theory.std").set_value(0.5).run()
    assert_sane(page)
    assert numbers(metric(page, "Eval mode, the article's")) == pytest.approx([-7.0, 0.5], abs=0.1)
    assert numbers(metric(page, "Eval mode, PyTorch's")) == pytest.approx([0.0, 1.0], abs=0.3)
    article, running = (values(trace["y"]) for trace in charts(page)["theory.rm"]["data"][:2])  # then the reference mark
    assert running[-1] == pytest.approx(-7.0, abs=0.2)  # PyTorch's running mean found the input's
    assert article[-1] == pytest.approx(0.0, abs=1e-9)  # the article's did not


def test_gamma_beta_move_the_output(page):
    page.slider(key="theory.gamma").set_value(-2.0).run()
    page.slider(key="theory.beta").set_value(3.0).run()
    assert_sane(page)
    assert metric(page, "Output y") == "mean 3, std 2"
    assert numbers(metric(page, "Identity: max"))[0] < 1e-12


def test_variance_and_momentum_controls(page):
    page.select_slider(key="theory.var").set_value(1e-3).run()
    assert metric(page, "Post std, Keras") == "0.7071"
    page.select_slider(key="theory.momentum").set_value(0.5).run()
    assert metric(page, "Batches to reach 95% with m = 0.5") == "5"  # 0.5^5 < 0.05 < 0.5^4
    assert numbers(metric(page, "Keras rule with k = 0.5"))[0] < 1e-12
    assert_sane(page)


def test_small_batch_spreads_and_momentum_zero_breaks_eval(page):
    page.select_slider(key="theory.batch").set_value(256).run()
    wide = float(metric(page, "Train mode: spread"))
    page.select_slider(key="theory.batch").set_value(2).run()
    assert float(metric(page, "Train mode: spread")) > 3 * wide
    page.radio(key="theory.mode_momentum").set_value(0.0).run()
    assert_sane(page)
    assert metric(page, "Running mean / var") == "0.00 / 1.00"
    assert metric(page, "Eval mode output of x0") == "7.000"  # x0 = 7 passes through un-normalized
