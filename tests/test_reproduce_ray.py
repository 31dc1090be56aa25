"""`reproduce NAME --backend ray` sends the runs to the Ray cluster (a real one-machine cluster in the loopback-only
network namespace of tests/test_sweep_ray.py) and measures what the local pool measures."""

import json
import os
import subprocess
import sys

import pytest

from bnviz import papers
from bnviz.backends import make_backend
from test_sweep_ray import PORT, RAY, ROOT, namespace, sh  # noqa: F401 (namespace is a fixture)


def test_reproduce_on_ray_measures_what_the_local_pool_measures(namespace):  # noqa: F811
    pytest.importorskip("ray", reason="pip install -r requirements-ray.txt (make test does)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    in_ns = ["ip", "netns", "exec", namespace]
    head = subprocess.Popen([*in_ns, RAY, "start", "--head", "--port", str(PORT), "--num-cpus", "2",
                             "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", f"/tmp/ray-{namespace}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        local = papers.run("higher_lr", "test", backend=make_backend("local", workers=2, threads=1))  # meanwhile
        log, _ = head.communicate(timeout=120)
        assert head.returncode == 0, log
        done = sh(*in_ns, sys.executable, "-m", "bnviz", "reproduce", "higher_lr", "--test", "--json", "--backend",
                  "ray", "--address", f"127.0.0.1:{PORT}", "--threads", "1", env=env, cwd=ROOT, timeout=240)
        assert "ray: cluster at 127.0.0.1" in done.stderr, done.stderr
        on_ray = json.loads(done.stdout)
        assert on_ray["runs"] == len(papers.get("higher_lr").configs("test"))
        assert on_ray["measured"] == local["measured"] and on_ray["holds"] is local["holds"]
    finally:
        head.kill()
        sh(*in_ns, RAY, "stop", "--force", check=False, env=env, timeout=60)
