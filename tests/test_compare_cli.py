"""`python -m bnviz compare`: arms from --vary / --preset, bad flags named, the file inspect reads, the CSV, Ctrl-C."""

import csv
import json
import os
import signal

import pytest

from bnviz import cli
from bnviz.cli import compare as compare_cli
from bnviz.comparison_record import ComparisonRecord
from bnviz.summary import summarize
from test_cli import run_cli, strict_loads

TINY = ["--model", "mlp", "--batch-size", "8", "--steps", "12", "--record-every", "4", "--eval-every", "6",
        "--threads", "1"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("compare")
    threads = torch.get_num_threads()
    try:
        code, out, err = run_cli("compare", "--vary", "norm=batch,none", *TINY, "--eps", "1e-3",
                                 "--out", folder / "cmp.npz", "--csv", folder / "cmp.csv")
    finally:
        torch.set_num_threads(threads)
    assert code == 0, err
    return folder, out, err


def test_compare_trains_the_arms_and_reports_each(compared):
    folder, out, err = compared
    record = ComparisonRecord.load(folder / "cmp.npz")
    assert record.labels == ["BN", "norm=none"] and record.status == "finished"
    assert [(run.config.norm, run.config.eps, len(run.steps)) for run in record.runs] == \
        [("batch", 1e-3, 12), ("none", 1e-3, 12)]
    lines = out.splitlines()
    assert lines[0].startswith("finished: 2 arms") and lines[1].startswith("  BN: finished, 12 steps")
    assert "12/12" in err  # the progress bar went to stderr


def test_inspect_json_has_a_runs_keys_for_every_arm(compared):
    folder = compared[0]
    code, out, _ = run_cli("inspect", folder / "cmp.npz", "--json")
    assert code == 0
    summary = strict_loads(out)
    record = ComparisonRecord.load(folder / "cmp.npz")
    assert summary["kind"] == "comparison" and summary["verdict"]
    assert [arm["label"] for arm in summary["arms"]] == record.labels
    for arm, run in zip(summary["arms"], record.runs):
        single = json.loads(json.dumps(summarize(run)))
        assert set(single) <= set(arm)
        assert {k: arm[k] for k in single} == single  # each arm's object is what inspect says of the run alone
        assert arm["config"]["norm"] == run.config.norm and set(arm["sites"]) == set(run.sites)
        assert {"steps_to_90", "steps_to_95", "accuracy_gap", "message"} <= set(arm)


def test_inspect_text_names_every_arm_and_the_verdict(compared):
    code, out, _ = run_cli("inspect", compared[0] / "cmp.npz")
    assert code == 0 and "bnviz comparison, 2 arms, finished" in out
    assert "== arm 'BN': finished" in out and "== arm 'norm=none': finished" in out and "verdict: " in out
    assert out.count("  block1.norm (100 channels") == 2  # each arm's norm site


def test_csv_has_an_arm_column(compared):
    with open(compared[0] / "cmp.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["arm", "step", "loss"]
    assert [r[0] for r in rows[1:]] == ["BN"] * 12 + ["norm=none"] * 12
    record = ComparisonRecord.load(compared[0] / "cmp.npz")
    assert float(rows[13][2]) == pytest.approx(float(record.runs[1].steps["loss"][0]))


@pytest.mark.parametrize("argv,says", [
    (["--vary", "eps=1e-3,banana"],
     "argument --vary: arm 2 (eps=banana): eps='banana' is not allowed: float in (0, 1]"),
    (["--vary", "nrom=batch,none"], "argument --vary: 'nrom=batch,none' is not allowed: KNOB=V1,V2"),
    (["--vary", "seed=1,2,3,4,5"], "5 arms; a comparison has 2 to 4"),
    (["--vary", "seed=1"], "1 arms; a comparison has 2 to 4"),
    ([], "give --vary"),
    (["--preset", "bn-vs-none", "--vary", "seed=1,2"], "not both"),
    (["--preset", "nope"], "argument --preset: invalid choice"),
    (["--vary", "seed=1,2", "--eps", "0"], "argument --eps: 0.0 is not allowed: float in (0, 1]"),
    (["--preset", "norms-at-batch-2", "--model", "mlp"], "argument --preset: arm 2 (batch 2, GN): groups=8"),
])
def test_bad_flags_exit_2_naming_the_flag_the_arm_and_the_range(argv, says):
    code, _, err = run_cli("compare", *argv, "--out", os.devnull)
    assert code == 2 and says in err, err


def test_ctrl_c_saves_what_exists(tmp_path, monkeypatch):
    from bnviz.lockstep import Lockstep

    calls, original = [], Lockstep.step

    def step_then_interrupt(self, n=1):
        record = original(self, n)
        calls.append(n)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends
        return record

    monkeypatch.setattr(Lockstep, "step", step_then_interrupt)
    path = tmp_path / "stopped.npz"
    code, out, err = run_cli("compare", "--preset", "bn-vs-none", "--model", "mlp", "--batch-size", "8",
                             "--steps", "1000", "--out", path)
    assert code == cli.EXIT_STOPPED and "stopping" in err
    record = ComparisonRecord.load(path)
    done = 2 * compare_cli.CHUNK
    assert [(run.status, len(run.steps)) for run in record.runs] == [("stopped", done)] * 2
    assert out.startswith("stopped: 2 arms")
