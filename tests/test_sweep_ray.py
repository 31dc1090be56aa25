"""The Ray backend on a real one-machine cluster, started in a loopback-only network namespace (Ray would
otherwise advertise the machine's outside address), gives bitwise the local backend's results: from the CLI,
and from the Sweep page pointed at the cluster by $RAY_ADDRESS."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnviz import sweep_file
from bnviz.backends.local import LocalBackend
from bnviz.config import RunConfig
from bnviz.sweep import FINAL, Sweep
from bnviz.ui.sweep_link import read

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
PORT = 6379  # the namespace is private: nothing else listens there
GRID = ["--grid", "norm=batch,group", "--batch-size", "8", "--steps", "8", "--record-every", "4"]


def sh(*argv, check=True, **kwargs):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True, text=True, **kwargs)


@pytest.fixture
def namespace():
    """A network namespace with only loopback, up; deleted afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (`ip netns`) to isolate Ray on loopback")
    name = f"bnviz-ray-{os.getpid()}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


@pytest.fixture
def cluster(namespace):
    """`ray start --head` inside the namespace, starting (it takes seconds: the test works meanwhile);
    `wait()` returns the address. Stopped with `ray stop --force` afterwards, even on failure."""
    pytest.importorskip("ray", reason="pip install -r requirements-ray.txt (make test does)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")  # workers import this bnviz
    in_ns = ["ip", "netns", "exec", namespace]
    head = subprocess.Popen([*in_ns, RAY, "start", "--head", "--port", str(PORT), "--num-cpus", "2",
                             "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", f"/tmp/ray-{namespace}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait() -> str:
        log, _ = head.communicate(timeout=120)
        assert head.returncode == 0, log
        return f"127.0.0.1:{PORT}"

    try:
        yield in_ns, env, wait
    finally:
        head.kill()
        sh(*in_ns, RAY, "stop", "--force", check=False, env=env, timeout=60)


def assert_bitwise(results, local: dict):
    assert len(results) == len(local)
    for result in results:
        other = local[result.key]
        assert result.status == other.status == "finished"
        assert np.array_equal(result.curve_acc, other.curve_acc)
        for name in FINAL:
            assert getattr(result, name) == getattr(other, name), name


def test_ray_cluster_gives_bitwise_the_local_backends_results(cluster, tmp_path):
    in_ns, env, wait = cluster
    # The local backend trains while the head starts.
    base = RunConfig(batch_size=8, steps=8, record_every=4)
    configs = Sweep(base, {"norm": ("batch", "group")}).configs()
    local = {r.key: r for r in LocalBackend(workers=2, threads=1).results(configs)}
    address = wait()
    out = tmp_path / "ray.npz"
    done = sh(*in_ns, sys.executable, "-m", "bnviz", "sweep", *GRID, "--backend", "ray",
              "--address", address, "--out", out, env=env, cwd=ROOT, timeout=240)
    assert "ray: cluster at 127.0.0.1" in done.stderr and "2 finished" in done.stdout, done.stderr
    meta, results = sweep_file.load(out)
    assert meta["backend"] == "ray"
    assert_bitwise(results, local)


# The mlp, 8 steps at batch 8, BN and GN: two runs of well under a second each.
PAGE_SWEEP = {"model": "mlp", "batch_size": "8", "steps": "8", "record_every": "4", "grid": "norm:batch,group",
              "seeds": "0", "images": "none"}


def test_the_sweep_page_runs_on_the_ray_cluster_it_is_pointed_at(cluster, tmp_path):
    in_ns, env, wait = cluster
    configs = read(PAGE_SWEEP)[0].configs()  # the page's runs, as it reads its link
    local = {r.key: r for r in LocalBackend(workers=2, threads=1).results(configs)}  # while the head starts
    address = wait()
    page_env = dict(env, RAY_ADDRESS=address, BNVIZ_MAX_TRAININGS="1", BNVIZ_TRAIN_THREADS="1",
                    PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    done = sh(*in_ns, sys.executable, ROOT / "tests" / "ray_sweep_page.py", json.dumps(PAGE_SWEEP), tmp_path,
              check=False, env=page_env, cwd=ROOT, timeout=240)
    shown = json.loads((tmp_path / "page.json").read_text()) if (tmp_path / "page.json").exists() else {}
    assert done.returncode == 0, (shown, done.stdout[-2000:], done.stderr[-4000:])
    assert not shown["exceptions"] and not shown["errors"], shown
    said = f"ray: cluster at {address}, 1 torch thread(s) per task"
    assert f"A sweep started now runs on {said}." in shown["before"]  # before it starts
    assert f"This sweep ran on {said}." in shown["captions"]  # and after, from the job itself
    assert any("Finished: 2 of 2 runs" in text for text in shown["info"]), shown["info"]
    meta, results = sweep_file.load(tmp_path / "sweep.npz")  # the page's download
    assert meta["backend"] == "ray"
    assert_bitwise(results, local)
