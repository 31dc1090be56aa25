"""Sweep benchmark (issue 14): the GN Fig. 1 grid in miniature (5 batch sizes x 4 norms, 2,000 images each)
one run after another in one process, on the local backend, and on a one-machine Ray cluster in a
loopback-only network namespace; Ray's per-task overhead; a 600-run grid's cost on paper.

    .venv/bin/python -m bench.sweep [--images 2000]     # writes bench/out/sweep.json and prints a summary
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RAY = Path(sys.executable).with_name("ray")
PORT = 6379
GRID = {"batch_size": ("2", "4", "8", "16", "32"), "norm": ("batch", "group", "layer", "none")}


def configs(images: int):
    from bnviz.config import RunConfig
    from bnviz.sweep import Sweep

    return Sweep(RunConfig(), GRID, images=images).configs()


def sequential(cfgs) -> dict:
    """The same runs one after another in this process, one torch thread."""
    import torch

    from bnviz.sweep import train_run

    torch.set_num_threads(1)
    started, per_run = time.perf_counter(), []
    for cfg in cfgs:
        t = time.perf_counter()
        train_run(cfg)
        per_run.append(time.perf_counter() - t)
    return {"wall_s": time.perf_counter() - started, "per_run_s": per_run}


def timed(backend, cfgs) -> dict:
    started = time.perf_counter()
    results = list(backend.results(cfgs))
    assert all(r.status == "finished" for r in results), [r.message for r in results]
    return {"wall_s": time.perf_counter() - started}


def ray_client(address: str, images: int) -> dict:
    """Runs inside the namespace: the grid as Ray tasks, then the per-task overhead of empty tasks."""
    import ray

    from bnviz.backends.ray import RayBackend

    backend = RayBackend(address, threads=1)
    backend.connect()
    grid = timed(backend, configs(images))
    noop = ray.remote(num_cpus=1)(lambda: None)
    ray.get([noop.remote() for _ in range(4)])  # workers up
    t = time.perf_counter()
    for _ in range(50):
        ray.get(noop.remote())
    one_by_one = (time.perf_counter() - t) / 50
    t = time.perf_counter()
    ray.get([noop.remote() for _ in range(200)])
    batched = (time.perf_counter() - t) / 200
    return {**grid, "task_roundtrip_s": one_by_one, "task_throughput_s": batched}


def on_ray(images: int) -> dict:
    ns = f"bnviz-bench-{os.getpid()}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    in_ns = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run([*in_ns, "ip", "link", "set", "lo", "up"], check=True)
        t = time.perf_counter()
        subprocess.run([*in_ns, str(RAY), "start", "--head", "--port", str(PORT), "--num-cpus", "2",
                        "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", f"/tmp/ray-{ns}"],
                       check=True, env=env, capture_output=True)
        start_s = time.perf_counter() - t
        done = subprocess.run([*in_ns, sys.executable, "-m", "bench.sweep", "--images", str(images),
                               "--ray-client", f"127.0.0.1:{PORT}"], check=True, env=env, cwd=ROOT,
                              capture_output=True, text=True)
        return {**json.loads(done.stdout.strip().splitlines()[-1]), "cluster_start_s": start_s}
    finally:
        subprocess.run([*in_ns, str(RAY), "stop", "--force"], env=env, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns])


def on_paper(per_run_s: list[float], overhead_s: float, worker_start_s: float, cores: int = 2) -> dict:
    """A 600-run grid (this grid x 30 seeds) on m machines of `cores` cores: the work split over m x cores
    one-thread workers, plus each task's overhead, plus one worker start (torch import) per worker."""
    mean = statistics.mean(per_run_s)
    out = {}
    for machines in (1, 4, 16):
        slots = machines * cores
        out[machines] = (600 / slots) * (mean + overhead_s) + worker_start_s
    return {"mean_run_s": mean, "wall_s_by_machines": out}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--ray-client", metavar="ADDR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ray_client:
        print(json.dumps(ray_client(args.ray_client, args.images)))
        return
    from bnviz.backends import local_layout
    from bnviz.backends.local import LocalBackend

    cfgs = configs(args.images)
    load = os.getloadavg()[0]
    local = timed(LocalBackend(*local_layout()), cfgs)
    seq = sequential(cfgs)
    ray = on_ray(args.images)
    local2 = timed(LocalBackend(*local_layout()), cfgs)  # again after: the load drifts
    local_s = statistics.mean([local["wall_s"], local2["wall_s"]])
    result = {"images": args.images, "runs": len(cfgs), "load_average_at_start": load,
              "load_average_at_end": os.getloadavg()[0], "sequential": seq, "local": [local, local2], "ray": ray,
              "speedup_local_vs_sequential": seq["wall_s"] / local_s, "ray_over_local": ray["wall_s"] / local_s,
              "on_paper_600_runs": on_paper(seq["per_run_s"], ray["task_throughput_s"], 15.0)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sweep.json").write_text(json.dumps(result, indent=1))
    print(f"{len(cfgs)} runs, {args.images} images each, load average {load:.1f} -> {result['load_average_at_end']:.1f}")
    print(f"sequential {seq['wall_s']:.0f} s | local {local['wall_s']:.0f} s, {local2['wall_s']:.0f} s | "
          f"ray {ray['wall_s']:.0f} s (cluster start {ray['cluster_start_s']:.0f} s)")
    print(f"local vs sequential: {result['speedup_local_vs_sequential']:.2f}x faster; ray / local: "
          f"{result['ray_over_local']:.2f}x")
    print(f"ray per task: {ray['task_roundtrip_s'] * 1000:.1f} ms round trip, "
          f"{ray['task_throughput_s'] * 1000:.2f} ms each when submitted together")
    paper = result["on_paper_600_runs"]
    print(f"600 runs on paper (mean run {paper['mean_run_s']:.1f} s here): " + ", ".join(
        f"{m} machine(s) {s / 60:.1f} min" for m, s in paper["wall_s_by_machines"].items()))


if __name__ == "__main__":
    main()
