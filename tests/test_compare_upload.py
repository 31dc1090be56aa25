"""Opening a comparison file on the Compare page (bnviz/ui/compare_upload.py) in AppTest: the page's own download
opens as if just trained (same arms, summary, charts, link); junk, a run file, a sweep file or a file while a
comparison trains is one message and changes nothing."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from bnviz.comparison_record import ComparisonRecord
from bnviz.opened_run import OpenedComparison
from bnviz.ui import export, upload
from bnviz.ui.compare_session import comparison_npz
from bnviz.ui.compare_upload import KEY
from apptest_charts import charts
from test_app import TINY, assert_sane, one_thread_limiter  # noqa: F401 (the limiter is an autouse fixture)
from test_compare_page import TWO_ARMS, open_compare, state
from test_upload import Upload


def upload_to(at: AppTest, data: bytes, name: str) -> AppTest:
    return at.file_uploader(key=KEY).set_value((name, data, "application/octet-stream")).run()


def titles(at: AppTest) -> dict[str, str]:
    return {key: figure["layout"]["title"]["text"] for key, figure in charts(at).items()}


@pytest.fixture(scope="module")
def trained():
    """A tiny comparison trained on the page to the end: the page as it then is, and the file it downloads."""
    at = open_compare({**TINY, **TWO_ARMS, "arm2.batch_size": "8", "view": "1,5"})
    at.button(key="cmp.run.train").click().run()
    end = time.monotonic() + 120
    while state(at).training:
        assert time.monotonic() < end, f"still {state(at).run.state}"
        time.sleep(0.2)
    at.run()
    record = state(at).run.latest_record()
    return {"record": record, "bytes": comparison_npz(record), "configs": state(at).comparison.configs,
            "table": at.dataframe[0].value, "titles": titles(at)}


def test_the_pages_own_download_opens_as_if_just_trained(trained):
    at = upload_to(open_compare({"view": "1,5"}), trained["bytes"], "mine.npz")
    assert_sane(at)
    run = state(at).run
    assert isinstance(run, OpenedComparison) and run.state == "finished"
    assert state(at).comparison.labels == ["BN", "none"]
    assert state(at).comparison.configs == trained["configs"]  # the same arms, knob for knob
    assert at.dataframe[0].value.equals(trained["table"])  # the same summary table
    assert titles(at) == trained["titles"]  # the same charts, at the same steps
    assert any("Showing mine.npz" in i.value and "2 arms" in i.value for i in at.info)
    # The link (and the arms editor) hold the file's arms: the link opens the same arms in a new session.
    linked = open_compare({key: at.query_params[key] for key in at.query_params})
    assert not linked.warning and state(linked).comparison.configs == trained["configs"]
    assert at.text_input(key="cmp.arms.1.overrides").value == "norm=none, batch_size=8"
    assert [b.label for b in at.get("download_button")] == ["Comparison record (.npz)", "Metrics (.csv)"]
    assert at.button(key="cmp.run.train").label == "Train again"
    at.button(key="cmp.run.train").click().run()  # trains the file's arms anew
    assert not isinstance(state(at).run, OpenedComparison) and state(at).run.cfg.configs == trained["configs"]
    state(at).run.stop()


def test_junk_a_run_file_a_sweep_file_and_bad_labels_are_named_and_change_nothing(trained, tmp_path):
    from bnviz import sweep_file
    at = open_compare(TINY)
    before = state(at).comparison
    sweep_file.save(tmp_path / "grid.npz", [])
    duplicate = ComparisonRecord(["same", "same"], trained["record"].runs)
    files = {"junk.npz": (b"not a zip at all", "error", "Could not open the file: " + upload.open_upload(
                 Upload(b"not a zip at all", "junk.npz"))),  # the loader's own message, as `inspect` gives
             "run.npz": (export.record_npz(trained["record"].runs[0]), "info", "run.npz is a run file: this page "
                         "opens comparisons; the lab opens a run (its sidebar's Open a record)."),
             "grid.npz": ((tmp_path / "grid.npz").read_bytes(), "info", "grid.npz is a sweep file: this page opens "
                          "comparisons; `python -m bnviz inspect grid.npz` summarizes a sweep."),
             "twins.npz": (comparison_npz(duplicate), "error", None)}
    for name, (data, level, message) in files.items():
        at = upload_to(at, data, name)
        assert not at.exception
        shown = [m.value for m in getattr(at, level)]
        assert len(shown) == 1 and (message is None or shown == [message]), shown
        assert state(at).run is None and state(at).comparison == before  # nothing changed
    assert "arm2.label" in shown[0] and "different from the other arms'" in shown[0]  # twins: the label named


def test_a_file_opened_while_a_comparison_trains_leaves_it_training(trained):
    at = open_compare({**TINY, **TWO_ARMS, "steps": "20000"})
    at.button(key="cmp.run.train").click().run()
    run = state(at).run
    at = upload_to(at, trained["bytes"], "mine.npz")
    assert not at.exception
    assert [w.value for w in at.warning] == ["mine.npz was not opened: the comparison is running, and opening a "
                                             "file replaces it. Let it finish (or press Reset), then open the "
                                             "file again."]
    assert state(at).run is run and run.state == "running" and state(at).comparison.labels == ["BN", "none"]
    at = upload_to(at, b"junk", "junk.npz")
    assert len(at.error) == 1 and state(at).run is run and run.state == "running"
    at.button(key="cmp.run.reset").click().run()
    assert state(at).run is None
