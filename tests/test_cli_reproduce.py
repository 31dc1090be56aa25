"""`python -m bnviz reproduce`: --list, bad names and backends refused naming the argument, and a real (test
budget) run whose --json and --out carry the verdict computed from the data."""

import contextlib
import io
import json

import pytest

from bnviz import cli, papers


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_list_names_every_reproduction():
    code, out, _ = _run(["reproduce", "--list"])
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == papers.names()


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "nope"], "argument NAME: 'nope' is not allowed: one of ioffe2015"),
    (["reproduce"], "argument NAME: None is not allowed"),
    (["reproduce", "ioffe2015", "--backend", "dask"], "argument --backend: 'dask' is not allowed: one of local, ray"),
    (["reproduce", "ioffe2015", "--backend", "ray"], "argument --address: address=None is not allowed: a Ray cluster"),
    (["reproduce", "ioffe2015", "--workers", "0"], "argument --workers: 0 is not allowed: an int >= 1"),
    (["reproduce", "ioffe2015", "--out", "/no/such/dir/r.json"], "argument --out: folder '/no/such/dir'"),
])
def test_bad_arguments_exit_2_naming_them(argv, message, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # --backend ray without an address: never a private cluster
    code, _, err = _run(argv)
    assert code == 2 and message in err


def test_json_and_out_carry_the_measured_verdict(tmp_path):
    out = tmp_path / "r.json"
    code, stdout, _ = _run(["reproduce", "ioffe2015", "--test", "--json", "--out", str(out), "--threads", "1"])
    assert code == 0
    printed = json.loads(stdout)
    assert {"name", "claim", "paper", "measured", "threshold", "holds"} <= set(printed)
    assert printed["name"] == "ioffe2015" and printed["budget"] == "test"
    assert printed["holds"] is papers.get("ioffe2015").verdict(printed["measured"])[0]
    assert json.loads(out.read_text())["measured"] == printed["measured"]
