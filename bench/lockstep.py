"""K arms in lockstep vs one Trainer: samples/s summed over the arms, timed in alternating blocks in one process.

`python -m bench.lockstep [--arms 2,4] [--batch-size 32] [--steps 40] [--blocks 6] [--threads 1]` prints one
JSON line per K: the median over blocks of lockstep time / (K x single-run time) (target <= 1.10, issue 13).
The arms differ only in seed, so each costs what the single run costs; evaluations are left out (eval_every
past the window), as both sides would pay them alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bnviz.compare import Arm, Comparison
from bnviz.config import RunConfig
from bnviz.data import load_dataset
from bnviz.lockstep import Lockstep
from bnviz.trainer import Trainer

TARGET = 1.10


def measure(k: int, batch_size: int, steps: int, blocks: int, warmup: int) -> dict:
    base = RunConfig(batch_size=batch_size, steps=1_000_000, eval_every=100_000, device="cpu")
    data = load_dataset(base.dataset)
    single = Trainer(base, data)
    lockstep = Lockstep(Comparison(base, tuple(Arm(f"seed {i}", {"seed": str(i)}) for i in range(k))), data)
    single.step(warmup)
    lockstep.step(warmup)
    ratios, single_s, lockstep_s = [], [], []
    for block in range(blocks):
        timings = {}
        for name in (("single", "lockstep") if block % 2 == 0 else ("lockstep", "single")):  # who goes first alternates
            runner = single if name == "single" else lockstep
            start = time.perf_counter()
            runner.step(steps)
            timings[name] = time.perf_counter() - start
        single_s.append(timings["single"])
        lockstep_s.append(timings["lockstep"])
        ratios.append(timings["lockstep"] / (k * timings["single"]))
    samples = batch_size * steps
    return {"arms": k, "batch_size": batch_size, "steps_per_block": steps, "blocks": blocks,
            "threads": torch.get_num_threads(),
            "single_samples_per_s": samples / statistics.median(single_s),
            "lockstep_samples_per_s_summed": k * samples / statistics.median(lockstep_s),
            "cost_ratio_median": statistics.median(ratios), "cost_ratio_min": min(ratios),
            "cost_ratio_max": max(ratios), "target": TARGET, "meets_target": statistics.median(ratios) <= TARGET}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="2,4", help="comma-separated K values")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40, help="steps per arm per block")
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for k in (int(a) for a in args.arms.split(",")):
        print(json.dumps(measure(k, args.batch_size, args.steps, args.blocks, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
