"""CLI: flags mirror RunConfig, bad flags are named, train writes the record asked for, inspect reports it."""

import contextlib
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnviz import cli
from bnviz.config import FIELDS, RunConfig
from bnviz.record import KINDS, PERCENTILES, SCHEMA, RunRecord

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--batch-size", "8", "--steps", "12", "--record-every", "4"]


def run_cli(*argv) -> tuple[int, str, str]:
    """main(argv) in-process, with its exit code (argparse's SystemExit included), stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def _reject(constant):
    raise ValueError(f"non-standard JSON constant {constant}")


def strict_loads(text: str):
    return json.loads(text, parse_constant=_reject)  # NaN / Infinity literals are not JSON


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run through the CLI, with non-default flags of every kind (float, none, bool, choice)."""
    import torch

    path = tmp_path_factory.mktemp("cli") / "run.npz"
    flags = [*TINY, "--placement", "before", "--momentum", "none", "--no-affine", "--eps", "1e-3",
             "--activation", "tanh", "--seed", "3", "--eval-every", "6", "--threads", "1", "--out", path]
    threads = torch.get_num_threads()
    try:
        code, out, err = run_cli("train", *flags)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)  # process-wide: leave other tests as they were
    assert code == 0, err
    return path, out, err


# --- help and flags ---------------------------------------------------------------------------
def test_help_explains_every_field_with_default_and_range(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    text = " ".join(out.split())  # undo line wrapping
    defaults = RunConfig().to_params()
    for name, spec in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        assert flag + " " in text, flag
        assert f"{spec.help}. Allowed: {spec.allowed()}. Default: {defaults[name]}" in text, name
    assert "--no-affine" in text and "--out" in text


def test_module_help_runs_as_a_program():
    done = subprocess.run([sys.executable, "-m", "bnviz", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and "inspect" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "bnviz", "train", "--batch-size", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--batch-size" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("flags, field", [
    (["--batch-size", "0"], "batch_size"),
    (["--batch-size", "2.5"], "batch_size"),
    (["--eps", "2"], "eps"),
    (["--eps", "0"], "eps"),
    (["--placement", "sideways"], "placement"),
    (["--momentum", "fast"], "momentum"),
    (["--affine", "maybe"], "affine"),
    (["--weight-decay", "-1"], "weight_decay"),
    (["--record-every", "0"], "record_every"),
    (["--lr", "nan"], "lr"),
    (["--threads", "0"], "threads"),
])
def test_bad_flag_exits_nonzero_naming_flag_and_range(flags, field):
    code, _, err = run_cli("train", *flags)
    assert code == 2
    flag = "--" + field.replace("_", "-")
    allowed = FIELDS[field].allowed() if field in FIELDS else "an int >= 1"
    assert f"argument {flag}:" in err and allowed in err
    assert "Traceback" not in err


def test_bad_combination_names_the_flag():
    code, _, err = run_cli("train", "--norm", "group", "--groups", "3")
    assert code == 2 and "argument --groups:" in err and "must divide" in err


def test_absent_device_names_the_flag():
    from bnviz.trainer import available_devices

    absent = [d for d in ("cuda", "mps") if d not in available_devices()]  # no machine has both
    code, _, err = run_cli("train", "--device", absent[0], "--steps", "1")
    assert code == 2 and "argument --device:" in err and "not present" in err


@pytest.mark.parametrize("flags, expected", [
    ([], RunConfig()),
    (["--affine"], RunConfig(affine=True)),
    (["--affine", "false"], RunConfig(affine=False)),
    (["--no-affine"], RunConfig(affine=False)),
    (["--momentum", "none"], RunConfig(momentum=None)),
    (["--momentum", "0.01", "--eps", "1e-3", "--batch-size", "1"], RunConfig(momentum=0.01, eps=1e-3, batch_size=1)),
])
def test_flags_parse_like_url_params(flags, expected):
    parser = cli.build_parser()
    assert cli.config_from_args(parser, parser.parse_args(["train", *flags])) == expected


# --- train ------------------------------------------------------------------------------------
def test_train_writes_a_record_with_the_flags_config(trained):
    path, out, err = trained
    record = RunRecord.load(path)
    assert record.config == RunConfig(batch_size=8, steps=12, record_every=4, placement="before", momentum=None,
                                      affine=False, eps=1e-3, activation="tanh", seed=3, eval_every=6)
    assert record.status == "finished" and len(record.steps) == 12
    np.testing.assert_array_equal(record.steps["step"], np.arange(12))
    assert out.count("\n") == 1 and out.startswith("finished: 12/12 steps")
    accuracy = record.evals["test_acc"][-1]
    assert f"test accuracy {accuracy:.2%}" in out and "ms/step (median)" in out
    assert "12/12" in err  # the progress bar went to stderr


def test_ctrl_c_stops_and_saves_the_record(tmp_path, monkeypatch):
    from bnviz.trainer import Trainer

    calls = []
    original = Trainer.step

    def step_then_interrupt(self, n=1):
        record = original(self, n)
        calls.append(n)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends
        return record

    monkeypatch.setattr(Trainer, "step", step_then_interrupt)
    path = tmp_path / "stopped.npz"
    code, out, err = run_cli("train", "--batch-size", "8", "--steps", "1000", "--out", path)
    assert code == cli.EXIT_STOPPED
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    record = RunRecord.load(path)
    done = 2 * cli.CHUNK
    assert (record.status, record.status_step, len(record.steps)) == ("stopped", done, done)
    assert out.startswith(f"stopped at step {done}: {done}/1000 steps") and "stopping" in err


def test_second_ctrl_c_interrupts_at_once():
    with cli.StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_diverged_run_is_saved_and_reported(tmp_path):
    path = tmp_path / "diverged.npz"
    # Seed 2: this init diverges within 10 steps (with paired init, seed 0's CNN no longer does).
    code, out, _ = run_cli("train", "--optimizer", "sgd", "--lr", "10", "--placement", "none", "--batch-size", "8",
                           "--steps", "60", "--seed", "2", "--out", path)
    record = RunRecord.load(path)
    assert record.status == "diverged" and code == 0
    assert not np.isfinite(record.steps["loss"][-1]) and np.isfinite(record.steps["loss"][:-1]).all()
    assert record.status_step == record.steps["step"][-1]
    assert out.startswith(f"diverged at step {record.status_step} ")
    # One step number: the summary line and inspect name no other step (no "10/60" beside "step 9").
    numbers = {int(n) for n in re.findall(r"\bsteps? (?:0-)?(\d+)", out)}
    assert numbers == {record.status_step} and f"steps 0-{record.status_step} of 60" in out
    code, human, _ = run_cli("inspect", path)
    assert f"diverged at step {record.status_step}" in human and f"steps 0-{record.status_step} of 60" in human
    assert f"{len(record.steps)}/60" not in human
    code, out, _ = run_cli("inspect", path, "--json")
    summary = strict_loads(out)
    assert code == 0 and summary["train_loss"][-1] is None and summary["status_step"] == record.status_step


def test_a_record_downloaded_while_paused_says_paused(tmp_path):
    from bnviz.trainer import Trainer
    from bnviz.ui.export import as_paused, record_npz
    record = Trainer(RunConfig(model="mlp", batch_size=8, steps=50, record_every=5)).step(10)
    assert record.status == "running"
    path = tmp_path / "paused.npz"
    path.write_bytes(record_npz(as_paused(record)))
    assert record.status == "running"  # the run's own record: it may resume
    code, human, _ = run_cli("inspect", path)
    assert code == 0 and "schema 1, paused" in human and "running" not in human.split("\n")[0]
    assert RunRecord.load(path).status == "paused"


# --- inspect ----------------------------------------------------------------------------------
def test_inspect_json_reports_every_site_and_layer(trained):
    path = trained[0]
    record = RunRecord.load(path)
    code, out, _ = run_cli("inspect", path, "--json")
    assert code == 0
    summary = strict_loads(out)
    assert summary["schema"] == SCHEMA and summary["status"] == "finished" and summary["steps"] == 12
    assert summary["config"] == dataclasses.asdict(record.config) and set(summary["config"]) == set(FIELDS)
    assert summary["ms_per_step"] == pytest.approx(float(np.median(record.steps["ms_per_step"])))
    np.testing.assert_array_equal(np.float32(summary["train_loss"]), record.steps["loss"])
    np.testing.assert_array_equal(np.float32(summary["test_accuracy"]), record.evals["test_acc"])
    assert summary["eval_step"] == [6, 12]  # --eval-every 6
    snaps = record.snapshots
    assert set(summary["sites"]) == set(record.sites) == {"block1.norm", "block2.norm"}
    for site in record.sites:
        for kind in KINDS:
            stats = summary["sites"][site][kind]
            np.testing.assert_array_equal(stats["step"], [0, 4, 8])
            for stat in ("mean", "std"):
                np.testing.assert_array_equal(np.float32(stats[stat]), snaps[f"{site}/{kind}/{stat}"])
            for p in (15, 50, 85):
                column = snaps[f"{site}/{kind}/percentiles"][:, PERCENTILES.index(p)]
                np.testing.assert_array_equal(np.float32(stats[f"p{p}"]), column)
    assert set(summary["grad_norms"]) == set(record.layers) and len(record.layers) >= 3
    for i, layer in enumerate(record.layers):
        norms = np.float32(summary["grad_norms"][layer])
        np.testing.assert_array_equal(norms, record.steps["grad_norm"][:, i])
        assert len(norms) == 12 and (norms > 0).all()


def test_inspect_text_names_sites_and_layers(trained):
    path = trained[0]
    code, out, _ = run_cli("inspect", path)
    record = RunRecord.load(path)
    assert code == 0 and "finished" in out and "--placement=before" in out
    for name in [*record.sites, *record.layers]:
        assert name in out


def _pickled(path):
    np.savez(path, meta=np.array([{"schema": 1}], dtype=object))


def _numeric_meta(path):
    np.savez(path, meta=np.array(1.0))


def _truncated(path, source):
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])


@pytest.mark.parametrize("make, says", [
    (lambda p, src: p.write_bytes(os.urandom(2000)), "not a bnviz record"),
    (lambda p, src: p.write_bytes(b""), "not a bnviz record"),
    (lambda p, src: _pickled(p), "pickled"),
    (lambda p, src: _numeric_meta(p), ""),  # any clean message will do
    (_truncated, "not a bnviz record"),
    (lambda p, src: None, "no such file"),
])
def test_inspect_refuses_bad_files_cleanly(tmp_path, trained, make, says):
    path = tmp_path / "bad.npz"
    make(path, trained[0])
    for flags in ([], ["--json"]):
        code, out, err = run_cli("inspect", path, *flags)
        assert code == 1 and out == ""
        assert err.startswith("error: ") and str(path) in err and says in err
