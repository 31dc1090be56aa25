"""The honest benchmark (issue 18): bnviz vs a user's own PyTorch loop, eager and compiled, in one process.

    .venv/bin/python -m bench.honest                  # ~10 min on 2 cores: bench/out/honest.{json,md}
    .venv/bin/python -m bench.honest --rounds 3 --batch-sizes 32 --no-keras   # a quick look

Contenders, stepped in alternating blocks (the order flips every round) so every ratio is paired:
- user: `bench/user_loop.py` as a user writes it (nn.Sequential, randperm batches, no bnviz import);
- user+compile: the same loop's step wrapped in torch.compile;
- bnviz: the Trainer at its default recording (snapshots every 10 steps, test evaluations at their default
  cadence), compile=on, timed only once its compiled step is ready;
- with --before, "bnviz, update eager": the same with its grad norms and optimizer step eager, as in issue 18's
  first version (only forward + backward compiled), for a paired before/after;
- keras (batch 32 with BN only): the article's program, `fit` over one block of batches per call.
Each block records the machine's load (os.getloadavg, /proc/stat busy share) and each round a calibration:
a fixed 1024^3 fp32 matmul's GFLOP/s. A step's FLOPs are counted by FlopCounterMode on the user's step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.user_loop import UserLoop, load_images

BLOCK_STEPS = {32: 30, 128: 10}


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def fma_peak_gflops(threads: int) -> tuple[float, str]:
    """fp32 FMA peak of `threads` cores, with the assumption it rests on."""
    text = Path("/proc/cpuinfo").read_text()
    flags = next(line for line in text.splitlines() if line.startswith("flags")).split()
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    ghz = (max(mhz) / 1000) if mhz else 2.6
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = lanes * 2 * 2  # two FMA pipes per core (Zen 4/5, Skylake-SP and later), 2 FLOPs per FMA
    return threads * ghz * per_cycle, (f"{threads} cores x {ghz:.2f} GHz (/proc/cpuinfo, no turbo) x {lanes} fp32 lanes "
                                       f"x 2 FMA pipes x 2 FLOP/FMA")


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def step_flops(batch_size: int, batchnorm: bool) -> int:
    loop = UserLoop(batch_size, batchnorm)
    with FlopCounterMode(display=False) as counter:
        loop.step(1)
    return counter.get_total_flops()


class Bnviz:
    def __init__(self, batch_size: int, batchnorm: bool, eager_update: bool = False):
        from bnviz.config import RunConfig
        from bnviz.trainer import Trainer
        self.trainer = Trainer(RunConfig(batch_size=batch_size, norm="batch" if batchnorm else "none",
                                         steps=1_000_000, compile="on"))
        self.trainer.step(1)
        compiled = self.trainer.start_compile()
        compiled.wait(1800)
        self.mode = self.trainer.mode
        if eager_update:  # the first version: only forward + backward compiled, grad norms and optimizer eager
            compiled.update = lambda: _eager_update(self.trainer)

    def step(self, n: int):
        self.trainer.step(n)


def _eager_update(trainer):
    grad_norm = torch.stack(torch._foreach_norm([w.grad for w in trainer._weight_list]))
    trainer.optimizer.step()
    return grad_norm


class Keras:
    def __init__(self, batch_size: int, batchnorm: bool):
        from bench.keras_seed import article_model
        x, y = load_images()
        self.images, self.labels = x.numpy().transpose(0, 2, 3, 1).copy(), np.eye(10, dtype=np.float32)[y.numpy()]
        self.model, self.batch_size, self.rng = article_model(batchnorm), batch_size, np.random.default_rng(0)
        self.step(2)

    def step(self, n: int):
        index = self.rng.choice(len(self.images), n * self.batch_size, replace=False)
        self.model.fit(self.images[index], self.labels[index], batch_size=self.batch_size, epochs=1, shuffle=False,
                       verbose=0)


class User:
    def __init__(self, batch_size: int, batchnorm: bool, compiled: bool):
        self.loop = UserLoop(batch_size, batchnorm, compiled)
        self.loop.step(3)  # a compiled loop compiles here

    def step(self, n: int):
        self.loop.step(n)


def timed_block(contender, steps: int) -> dict:
    load, busy = os.getloadavg()[0], cpu_busy()
    start = time.perf_counter()
    contender.step(steps)
    seconds = time.perf_counter() - start
    busy_end = cpu_busy()
    return {"ms": seconds * 1000 / steps, "load1": load,
            "busy": (busy_end[0] - busy[0]) / max(1, busy_end[1] - busy[1])}


def measure(batch_size: int, batchnorm: bool, rounds: int, keras: bool, before: bool = False) -> dict:
    started = time.perf_counter()
    contenders = {"user": User(batch_size, batchnorm, False), "user+compile": User(batch_size, batchnorm, True)}
    contenders["bnviz"] = bnviz = Bnviz(batch_size, batchnorm)
    if before:
        contenders["bnviz, update eager"] = Bnviz(batch_size, batchnorm, eager_update=True)
    if keras and batch_size == 32 and batchnorm:
        contenders["keras"] = Keras(batch_size, batchnorm)
    setup_s = time.perf_counter() - started
    blocks = {name: [] for name in contenders}
    calibration = []
    for r in range(rounds):
        calibration.append(matmul_gflops())
        names = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        for name in names:
            blocks[name].append(timed_block(contenders[name], BLOCK_STEPS[batch_size]))
    flops = step_flops(batch_size, batchnorm)
    out = {"batch_size": batch_size, "bn": batchnorm, "rounds": rounds, "block_steps": BLOCK_STEPS[batch_size],
           "bnviz_mode": bnviz.mode, "setup_s": setup_s, "step_gflop": flops / 1e9,
           "calibration_gflops": calibration, "blocks": blocks, "contenders": {}}
    for name, rows in blocks.items():
        ms = statistics.median(row["ms"] for row in rows)
        out["contenders"][name] = {"ms": ms, "samples_per_s": batch_size * 1000 / ms,
                                   "gflops": flops / 1e9 / (ms / 1000),
                                   "vs_user": statistics.median(u["ms"] / row["ms"]
                                                                for u, row in zip(blocks["user"], rows))}
    if "keras" in blocks:
        out["bnviz_vs_keras"] = statistics.median(k["ms"] / b["ms"] for k, b in zip(blocks["keras"], blocks["bnviz"]))
    return out


def markdown(results: list[dict], peak: float, assumption: str) -> str:
    lines = ["| batch | BN | contender | ms/step | samples/s | GFLOP/s | % of peak | x user (paired) |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for name, c in res["contenders"].items():
            lines.append(f"| {res['batch_size']} | {'yes' if res['bn'] else 'no'} | {name} | {c['ms']:.1f} | "
                         f"{c['samples_per_s']:.0f} | {c['gflops']:.1f} | {100 * c['gflops'] / peak:.0f}% | "
                         f"{c['vs_user']:.2f} |")
    lines.append("")
    for res in results:
        bound_ms = res["step_gflop"] / peak * 1000
        load = [b["load1"] for rows in res["blocks"].values() for b in rows]
        busy = [b["busy"] for rows in res["blocks"].values() for b in rows]
        keras = f", bnviz / keras {res['bnviz_vs_keras']:.2f}x" if "bnviz_vs_keras" in res else ""
        lines.append(f"- batch {res['batch_size']} BN {res['bn']}: {res['step_gflop']:.2f} GFLOP/step, FLOP bound "
                     f"{bound_ms:.1f} ms, bnviz {res['contenders']['bnviz']['ms'] / bound_ms:.1f}x the bound "
                     f"(mode {res['bnviz_mode']}){keras}; calibration matmul {min(res['calibration_gflops']):.0f}-"
                     f"{max(res['calibration_gflops']):.0f} GFLOP/s; load1 {min(load):.1f}-{max(load):.1f}, "
                     f"CPU busy {100 * min(busy):.0f}-{100 * max(busy):.0f}%")
    lines.append(f"- peak {peak:.0f} GFLOP/s fp32 = {assumption}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--batch-sizes", default="32,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-keras", action="store_true")
    parser.add_argument("--before", action="store_true",
                        help="add bnviz with its grad norms and optimizer step eager (issue 18's first version)")
    parser.add_argument("--out", default="bench/out")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    peak, assumption = fma_peak_gflops(args.threads)
    results = []
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        for batchnorm in (True, False):
            results.append(measure(batch_size, batchnorm, args.rounds, not args.no_keras, args.before))
            print(markdown(results[-1:], peak, assumption), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "machine": platform.processor() or platform.machine(), "threads": args.threads,
            "peak_gflops": peak, "peak_assumption": assumption}
    (out / "honest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "honest.md").write_text(markdown(results, peak, assumption))
    print(markdown(results, peak, assumption))


if __name__ == "__main__":
    main()
