"""Opening a record file in the app: bnviz/ui/upload.py's open_upload (the same loader as `inspect`) and the lab's
upload box in AppTest: a good run draws as if just trained; a hostile file is one st.error and changes nothing."""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from bnviz.opened_run import OpenedRun
from bnviz.record import RunRecord
from bnviz.ui import export, upload
from test_app import APP, TINY, assert_sane, chart_titles, lab, one_thread_limiter, placeholders, train_until  # noqa: F401
from test_hostile_files import CASES, arrays, good_record

ROOT = Path(__file__).resolve().parents[1]
IN_APP = ("junk", "truncated", "pickled", "zip_bomb")  # through the real page; every case goes through open_upload


class Upload(io.BytesIO):
    """What st.file_uploader hands over: a BytesIO with a name and a size."""

    def __init__(self, data: bytes, name: str = "run.npz"):
        super().__init__(data)
        self.name, self.size = name, len(data)


def npz_bytes(payload: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hostile_bytes(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("hostile-upload")
    out = {}
    for name, (build, _) in CASES.items():
        path = folder / f"{name}.npz"
        build(path)
        out[name] = path.read_bytes()
    return out


def test_the_upload_cap_is_the_servers_and_fits_the_loader():
    toml = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert toml["server"]["maxUploadSize"] == upload.UPLOAD_MB
    from bnviz import npz
    assert upload.UPLOAD_BYTES <= npz.MAX_FILE_BYTES and upload.UPLOAD_ARRAY_BYTES <= npz.MAX_TOTAL_BYTES


def test_a_good_run_record_opens_as_the_loader_reads_it(tiny_run_bytes):
    record = RunRecord.from_arrays(np.load(io.BytesIO(tiny_run_bytes)))
    kind, opened = upload.open_upload(Upload(export.record_npz(record)))
    assert kind == "run" and isinstance(opened, RunRecord)
    assert opened.config == record.config and opened.status == "finished"
    np.testing.assert_array_equal(opened.steps["loss"], record.steps["loss"])


@pytest.mark.parametrize("name", list(CASES))
def test_each_hostile_file_is_one_line_naming_the_problem(hostile_bytes, name, tmp_path):
    problem = upload.open_upload(Upload(hostile_bytes[name], f"{name}.npz"))
    assert isinstance(problem, str) and "\n" not in problem, problem
    expected = CASES[name][1].replace("the limit is 1,024.0 MiB", "the limit is 512.0 MiB")  # the upload's lower limit
    assert expected in problem and problem.startswith(f"{name}.npz")
    assert not list(tmp_path.parent.glob("**/*.ran"))  # the pickle's payload never ran


def test_a_file_over_the_cap_is_refused_before_it_is_read():
    class Huge(Upload):  # says it is over the cap; reading it would fail the test
        def read(self, *args):
            raise AssertionError("read past the size check")

    big = Huge(b"PK")
    big.size = upload.UPLOAD_BYTES + 1
    assert upload.open_upload(big) == f"run.npz: the file is {big.size / 2**20:,.1f} MiB; the upload limit is 200 MiB"


def test_an_unknown_kind_is_named():
    payload = arrays(good_record())
    payload["meta"] = np.array(json.dumps({**json.loads(str(payload["meta"])), "kind": "teapot"}))
    assert upload.open_upload(Upload(npz_bytes(payload))) == \
        "run.npz: unknown kind 'teapot'; this bnviz opens run, comparison, sweep"


# --- the lab page --------------------------------------------------------------------------------
def open_lab(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    return at.run()


def upload_to(at: AppTest, data: bytes, name: str) -> AppTest:
    return at.file_uploader(key=upload.KEY).set_value((name, data, "application/octet-stream")).run()


@pytest.fixture(scope="module")
def tiny_run_bytes() -> bytes:
    """A real record: a tiny mlp run trained in the lab and downloaded as the lab's button would."""
    at = open_lab(TINY)
    at.button(key="run.train").click().run()
    train_until(at)
    return export.record_npz(lab(at).run.latest_record())


def test_an_uploaded_run_is_shown_as_if_just_trained(tiny_run_bytes):
    at = open_lab()
    assert all(placeholders(at))
    at = upload_to(at, tiny_run_bytes, "mine.npz")
    assert_sane(at)
    run = lab(at).run
    assert isinstance(run, OpenedRun) and run.state == "finished" and run.cfg.model == "mlp"
    assert chart_titles(at) and not any(placeholders(at))  # the views draw the file's record
    assert any("Showing mine.npz" in i.value for i in at.info)
    assert lab(at).config == run.cfg and at.query_params["model"] == "mlp"  # sidebar, URL and links follow
    assert at.select_slider(key="view.step.30.5").value == 30  # the step scrubber, at "latest"
    assert [b.label for b in at.get("download_button")] == ["Run record (.npz)", "Metrics (.csv)"]
    at.select_slider(key="view.step.30.5").set_value(10).run()
    assert_sane(at)
    at.button(key="run.train").click().run()  # Train runs the file's settings anew
    assert not isinstance(lab(at).run, OpenedRun) and lab(at).run.cfg == run.cfg
    lab(at).run.stop()


@pytest.mark.parametrize("name", IN_APP)
def test_a_hostile_upload_is_one_error_and_no_exception(hostile_bytes, name):
    at = upload_to(open_lab(), hostile_bytes[name], f"{name}.npz")
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [f"Could not open the file: {upload.open_upload(Upload(hostile_bytes[name], f'{name}.npz'))}"]
    assert lab(at).run is None


def test_a_file_of_another_name_is_refused_by_the_loader_not_by_an_exception():
    at = upload_to(open_lab(), b"hello", "notes.txt")  # type=["npz"] raised StreamlitAPIException here
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["Could not open the file: notes.txt: not a bnviz record (.npz): "
                                           "BadZipFile: File is not a zip file"]


def test_a_record_whose_sites_disagree_with_its_model_is_refused_not_half_drawn():
    at = upload_to(open_lab(), export.record_npz(good_record()), "odd.npz")  # seed_cnn config, one site only
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["Could not open the file: odd.npz: its norm sites {'block1.norm': 2} "
                                           "are not those of model seed_cnn ({'block1.norm': 32, 'block2.norm': 64})"]


def test_junk_during_a_run_leaves_the_run_and_its_record_untouched(tiny_run_bytes, hostile_bytes):
    at = open_lab({**TINY, "steps": "2000"})
    at.button(key="run.train").click().run()
    run = lab(at).run
    at = upload_to(at, hostile_bytes["junk"], "junk.npz")
    assert len(at.error) == 1 and not at.exception
    at = upload_to(at, tiny_run_bytes, "mine.npz")  # a good file while training: not opened, said why
    assert lab(at).run is run and run.state in ("queued", "starting", "running")
    assert any("was not opened" in w.value for w in at.warning)
    run.stop()
    at.run()
    record = run.latest_record()
    steps = record.steps["step"].copy()
    at = upload_to(at, hostile_bytes["zip_bomb"], "bomb.npz")  # after it stopped: still untouched
    assert lab(at).run is run and run.latest_record() is record
    np.testing.assert_array_equal(lab(at).run.latest_record().steps["step"], steps)
    assert [b.label for b in at.get("download_button")] == ["Run record (.npz)", "Metrics (.csv)"]  # still offered
    assert not at.exception


def test_a_sweep_file_opens_as_a_sweep_and_the_lab_points_elsewhere(tmp_path):
    from bnviz import sweep_file
    sweep_file.save(tmp_path / "grid.npz", [])  # a sweep with no run finished yet: still a valid sweep file
    data = (tmp_path / "grid.npz").read_bytes()
    kind, (meta, results) = upload.open_upload(Upload(data, "grid.npz"))
    assert kind == "sweep" and meta["kind"] == "sweep" and results == []
    at = upload_to(open_lab(), data, "grid.npz")
    assert not at.exception and not at.error and lab(at).run is None
    assert [i.value for i in at.info] == ["grid.npz is a sweep file: the lab opens single runs; "
                                          "`python -m bnviz inspect grid.npz` summarizes a sweep."]
