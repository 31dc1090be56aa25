"""Where bnviz's training time goes, next to the user's compiled loop, in alternating blocks in one process.

    .venv/bin/python -m bench.step_parts [--batch-size 32] [--no-bn] [--rounds 6]

Per round, one block each of: the user's compiled step (bench/user_loop.py); bnviz's Trainer.step at its default
recording; and bnviz's parts: the batch fetch, the compiled plain step alone (forward + backward + grad norms +
optimizer), one recorded (eager, hooked) step, one test evaluation. Prints the medians as one JSON line, with
what the recorded steps and evaluations add per step at the run's cadence.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from bench.user_loop import UserLoop


def _ms(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) * 1000 / n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-bn", action="store_true")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from bnviz.config import RunConfig
    from bnviz.trainer import Trainer
    bs, bn, n = args.batch_size, not args.no_bn, 30 if args.batch_size <= 32 else 10
    user = UserLoop(bs, bn, compiled=True)
    user.step(3)
    trainer = Trainer(RunConfig(batch_size=bs, norm="batch" if bn else "none", steps=10**6, compile="on"))
    trainer.step(1)
    trainer.start_compile().wait(1800)
    trainer.step(20)
    x, y = trainer._next_batch()

    def recorded_step():
        while trainer.steps_done % trainer.record.snapshot_every:
            trainer.step(1)
        start = time.perf_counter()
        trainer.step(1)
        return (time.perf_counter() - start) * 1000

    def plain_step():
        trainer._compiled.forward_backward(x, y)
        trainer._compiled.update()

    parts = {"user+compile": lambda: _ms(lambda: user.step(1), n), "bnviz": lambda: _ms(lambda: trainer.step(1), n),
             "fetch": lambda: _ms(trainer._next_batch, n), "plain": lambda: _ms(plain_step, n),
             "recorded": lambda: statistics.median(recorded_step() for _ in range(3)),
             "evaluate": lambda: _ms(trainer.evaluate, 1)}
    times = {name: [] for name in parts}
    loads = []
    for r in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for name in (list(parts) if r % 2 == 0 else reversed(list(parts))):
            times[name].append(parts[name]())
    med = {name: statistics.median(v) for name, v in times.items()}
    every, eval_every = trainer.record.snapshot_every, trainer.cfg.eval_interval
    out = {"batch_size": bs, "bn": bn, "mode": trainer.mode, "rounds": args.rounds, "load1": [min(loads), max(loads)],
           "ms": {k: round(v, 2) for k, v in med.items()},
           "per_step": {"recorded_extra": round((med["recorded"] - med["plain"]) / every, 2),
                        "evaluate": round(med["evaluate"] / eval_every, 2)},
           "bnviz_vs_user_compiled": round(statistics.median(u / b for u, b in zip(times["user+compile"],
                                                                                    times["bnviz"])), 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
