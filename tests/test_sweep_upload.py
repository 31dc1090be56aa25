"""AppTest of the Sweep page's sweep file: the page's .npz download is the CLI's --out file (`inspect` reads it);
an uploaded sweep shows as if just run (chart, table, downloads, link); a junk, run or comparison file is one
line naming the problem and changes nothing, not even a sweep in progress."""

import contextlib
import io
import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_charts import charts
from bnviz import sweep_file
from bnviz.cli import main as cli
from bnviz.comparison_record import ComparisonRecord
from bnviz.config import RunConfig
from bnviz.sweep import RunResult, Sweep
from bnviz.sweep_table import rows
from bnviz.record import RunRecord
from bnviz.ui import session
from bnviz.ui.compare_session import comparison_npz
from bnviz.ui.sweep_job import STATE_KEY
from bnviz.ui.sweep_upload import KEY, sweep_npz
from test_sweep_page import TINY, array

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "pages/Sweep.py"
SWEEP = Sweep(RunConfig(model="mlp", groups=4), {"batch_size": ("4", "16"), "norm": ("batch", "group")},
              seeds=(0, 1), images=400)


@pytest.fixture(autouse=True)
def one_slot_limiter(fresh_limiter):
    yield


def results() -> list[RunResult]:
    """Made-up outcomes, one per run of SWEEP, all different; one diverged."""
    out = []
    for i, cfg in enumerate(SWEEP.configs()):
        status = "diverged" if i == 5 else "finished"
        acc = math.nan if status == "diverged" else 0.5 + 0.03 * i
        out.append(RunResult(cfg, status, "diverged at step 3" if status == "diverged" else "", test_acc=acc,
                             test_loss=1.0 / (i + 1), train_mode_acc=acc, eval_mode_acc=acc,
                             images_seen=[0, 400], curve_acc=[0.1, acc], ms_per_step=2.0 + i))
    return out


def cli_file(tmp_path) -> bytes:
    """A sweep file written by the writer `python -m bnviz sweep --out` uses."""
    path = tmp_path / "cli.npz"
    sweep_file.save(path, results(), SWEEP, "local")
    return path.read_bytes()


def open_sweep(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params or {})
    return at.switch_page(PAGE).run()


def upload(at: AppTest, data: bytes, name: str) -> AppTest:
    return at.file_uploader(key=KEY).set_value((name, data, "application/octet-stream")).run()


def state(at: AppTest):
    return at.session_state[STATE_KEY]


def inspect_json(path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(["inspect", str(path), "--json"]) == 0
    return json.loads(out.getvalue())


def test_an_uploaded_sweep_shows_as_if_just_run_and_downloads_the_same_file(tmp_path):
    at = upload(open_sweep(), cli_file(tmp_path), "mine.npz")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Showing mine.npz" in i.value for i in at.info)
    assert any("Opened from mine.npz: 8 runs" in i.value for i in at.info)
    assert any("ran on local" in c.value for c in at.caption)
    header, table = rows(results(), list(SWEEP.grid))  # the trusted table: the file's own results
    shown = at.dataframe[0].value
    assert list(shown.columns) == header and len(shown) == len(table)
    assert list(shown["status"]) == [row[header.index("status")] for row in table]
    figure = charts(at)["sweep.chart"]
    assert [t["name"] for t in figure["data"]] == ["norm=batch", "norm=group"]
    by_key = {(r.config.batch_size, r.config.norm): [] for r in results()}
    for r in results():
        if r.status == "finished":
            by_key[(r.config.batch_size, r.config.norm)].append(100 * (1 - r.test_acc))
    for trace in figure["data"]:
        norm = trace["name"].split("=")[1]
        expected = [sum(v) / len(v) for v in (by_key[(4, norm)], by_key[(16, norm)])]
        assert array(trace["y"]) == pytest.approx(expected)
    assert [b.label for b in at.get("download_button")] == ["Sweep file (.npz)", "Metrics (.csv)"]
    # The form, the URL and the share link follow the file's sweep.
    assert at.query_params["grid"] == "batch_size:4,16;norm:batch,group" and at.query_params["images"] == "400"
    assert at.query_params["seeds"] == "0,1" and at.query_params["sweep"]
    # The page's download, as its button makes it: `inspect` reads it as the CLI's own file.
    job = state(at).job
    path = tmp_path / "page.npz"
    path.write_bytes(sweep_npz(job.results(), state(at).shown, job.backend_name))
    assert inspect_json(path) == inspect_json(tmp_path / "cli.npz")
    meta, _ = sweep_file.load(path)
    assert meta["grid"] == {"batch_size": ["4", "16"], "norm": ["batch", "group"]} and meta["backend"] == "local"
    again = upload(open_sweep(), path.read_bytes(), "page.npz")  # and opens again, the same
    assert again.dataframe[0].value.equals(shown)
    reloaded = open_sweep(dict(at.query_params))  # a reload of the page showing the file finds it too
    assert reloaded.dataframe[0].value.equals(shown) and not reloaded.warning


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[bytes, str]]:
    """Junk, and real files of the other kinds: a run trained by `train --out` (4 steps of the mlp), and a
    comparison of two such runs."""
    path = tmp_path_factory.mktemp("kinds") / "run.npz"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli(["train", "--model", "mlp", "--steps", "4", "--record-every", "2", "--eval-every", "4",
                    "--out", str(path)]) == 0
    run = RunRecord.load(path)
    return {"junk.npz": (b"not a zip at all" * 10, "junk.npz: "),
            "run.npz": (path.read_bytes(), "run.npz is a run file, not a sweep; open it in the Lab"),
            "cmp.npz": (comparison_npz(ComparisonRecord(["A", "B"], [run, run])),
                        "cmp.npz is a comparison file, not a sweep; open it in the Compare page")}


@pytest.mark.parametrize("name", ["junk.npz", "run.npz", "cmp.npz"])
def test_a_bad_file_is_one_line_naming_it_and_nothing_changes(name, bad_files):
    data, named = bad_files[name]
    at = open_sweep(TINY)
    before = state(at).spec, dict(at.query_params)
    at = upload(at, data, name)
    assert not at.exception
    assert len(at.error) == 1 and named in at.error[0].value and "\n" not in at.error[0].value, at.error[0].value
    assert (state(at).spec, dict(at.query_params)) == before and state(at).job is None


def test_a_sweep_in_progress_survives_any_upload(tmp_path):
    limiter = session.shared_limiter()
    lab_training = object()
    limiter.enter(lab_training)  # the only slot: the sweep stays queued, nothing trains
    assert limiter.wait_turn(lab_training, 5)
    try:
        at = open_sweep(TINY)
        at.button[0].click().run()
        job, spec = state(at).job, state(at).spec
        at = upload(at, b"junk" * 40, "junk.npz")
        assert "Could not open the file: junk.npz" in at.error[0].value
        at = upload(at, cli_file(tmp_path), "good.npz")  # even a good file does not replace it
        assert any("good.npz was not opened: a sweep is queued" in w.value for w in at.warning)
        assert state(at).job is job and job.state == "queued" and state(at).spec == spec
        assert "Queued: place 1" in at.info[0].value
    finally:
        limiter.leave(lab_training)
