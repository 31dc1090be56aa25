"""The Ray backend on a real one-machine cluster, started in a loopback-only network namespace (Ray would
otherwise advertise the machine's outside address), gives bitwise the local backend's results."""

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


def test_ray_cluster_gives_bitwise_the_local_backends_results(namespace, tmp_path):
    pytest.importorskip("ray", reason="pip install -r requirements-ray.txt (make test does)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")  # workers import this bnviz
    in_ns = ["ip", "netns", "exec", namespace]
    head = subprocess.Popen([*in_ns, RAY, "start", "--head", "--port", str(PORT), "--num-cpus", "2",
                             "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", f"/tmp/ray-{namespace}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The local backend trains while the head starts.
        base = RunConfig(batch_size=8, steps=8, record_every=4)
        configs = Sweep(base, {"norm": ("batch", "group")}).configs()
        local = {r.key: r for r in LocalBackend(workers=2, threads=1).results(configs)}
        log, _ = head.communicate(timeout=120)
        assert head.returncode == 0, log
        out = tmp_path / "ray.npz"
        done = sh(*in_ns, sys.executable, "-m", "bnviz", "sweep", *GRID, "--backend", "ray",
                  "--address", f"127.0.0.1:{PORT}", "--out", out, env=env, cwd=ROOT, timeout=240)
        assert "ray: cluster at 127.0.0.1" in done.stderr and "2 finished" in done.stdout, done.stderr
        meta, results = sweep_file.load(out)
        assert meta["backend"] == "ray" and len(results) == 2
        for result in results:
            other = local[result.key]
            assert result.status == other.status == "finished"
            assert np.array_equal(result.curve_acc, other.curve_acc)
            for name in FINAL:
                assert getattr(result, name) == getattr(other, name), name
    finally:
        head.kill()
        sh(*in_ns, RAY, "stop", "--force", check=False, env=env, timeout=60)
