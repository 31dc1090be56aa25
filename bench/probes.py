"""Single-run probes: step time over a long run (drift), bare loop and Trainer interleaved in one process, time to
the first record, and run-record size."""

from __future__ import annotations

import io
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from bench.bare_loop import BareLoop
from bench.common import clock, config
from bnviz.config import RunConfig
from bnviz.data import load_dataset
from bnviz.record import STACK_EVERY, RunRecord
from bnviz.trainer import Trainer


def drift(job: dict) -> dict:
    """ms of every step of an `epochs`-long run at `batch_size` (bnviz: its own ms_per_step; bare: timed here)."""
    steps = job["epochs"] * (len(load_dataset("mnist-5k").x_train) // job["batch_size"])
    if job["contender"] == "bnviz":
        trainer = Trainer(RunConfig(batch_size=job["batch_size"], norm=job["norm"], steps=steps, device="cpu"))
        start = clock()
        record = trainer.step(steps)
        wall = clock() - start
        ms = record.steps["ms_per_step"].astype(float)
    else:
        loop = BareLoop(dict(job, warmup=0, steps=steps))
        start = clock()
        ms = np.array(loop.step_times(steps))
        wall = clock() - start
    return dict(job, steps=steps, wall_seconds=wall, ms_per_step=[round(v, 3) for v in ms], **window_stats(ms))


def window_stats(ms: np.ndarray) -> dict:
    """First vs last 10% of the steps: mean and median ms, and last/first (> 1.10 misses the target)."""
    tenth = max(1, len(ms) // 10)
    first, last = ms[:tenth], ms[-tenth:]
    return {"first10_mean_ms": float(first.mean()), "last10_mean_ms": float(last.mean()),
            "first10_median_ms": float(np.median(first)), "last10_median_ms": float(np.median(last)),
            "drift_mean": float(last.mean() / first.mean()), "drift_median": float(np.median(last) / np.median(first))}


def interleaved(job: dict) -> dict:
    """The bare loop and the Trainer in one process, stepped in alternating blocks of `steps`: what recording
    costs, free of the process-to-process variance (the same bare loop in fresh processes varies by ~10%).
    The order alternates (bare first, then bnviz first) so neither always follows the other; b/a is the median
    of each round's ratio, so a slow moment of the machine, or a block that holds a test-set evaluation,
    counts once. Then the Trainer alone, period by period: a recorded step's extra cost over a plain one."""
    cfg = config(job)
    total = job["warmup"] + job["blocks"] * job["steps"] + (job["periods"] + 1) * cfg.record_every + 1
    bare, trainer = BareLoop(job), Trainer(cfg.replace(steps=max(cfg.steps, total)))  # never ends inside
    bare.step(job["warmup"])
    trainer.step(job["warmup"])
    bare_ms, bnviz_ms = [], []
    for block in range(job["blocks"]):
        pair = [(bare, bare_ms), (trainer, bnviz_ms)]
        for loop, times in pair if block % 2 == 0 else pair[::-1]:
            start = clock(bare.device)
            loop.step(job["steps"])
            times.append((clock(bare.device) - start) * 1000 / job["steps"])
    ratios = np.array(bare_ms) / np.array(bnviz_ms)
    recorded, plain = recorded_step_cost(trainer, job["periods"])
    assert not trainer.done, "the Trainer ended inside the probe: its steps were too few"
    return dict(job, bare_ms=float(np.median(bare_ms)), bnviz_ms=float(np.median(bnviz_ms)),
                b_over_a=float(np.median(ratios)), b_over_a_quartiles=np.percentile(ratios, [25, 75]).tolist(),
                plain_step_ms=plain, recorded_step_ms=recorded,
                # what recording adds per step on average: a recorded step's extra, once per period
                recording_share=(recorded - plain) / trainer.record.snapshot_every / plain)


def recorded_step_cost(trainer: Trainer, periods: int) -> tuple[float, float]:
    """Median ms of a recorded (snapshot) step and of a plain step, over whole snapshot periods stepped as
    step(1) (the recorded step) then step(every - 1) (the plain ones): each pays the host transfers and
    record appends it pays in training. A period that holds a test-set evaluation does not count."""
    every, interval = trainer.record.snapshot_every, trainer.cfg.eval_interval
    trainer.step(-trainer.steps_done % every)  # to the next recorded step
    recorded, plain = [], []
    for _ in range(periods):
        evaluates = (trainer.steps_done // interval) != ((trainer.steps_done + every) // interval)
        start = clock(trainer.device.type)
        trainer.step(1)
        middle = clock(trainer.device.type)
        trainer.step(every - 1)
        if not evaluates:
            recorded.append((middle - start) * 1000)
            plain.append((clock(trainer.device.type) - middle) * 1000 / (every - 1))
    return float(np.median(recorded)), float(np.median(plain))


def first_record(job: dict) -> dict:
    """Seconds from Trainer(cfg) to the first recorded step (default config, torch already imported)."""
    cfg = RunConfig(device="cpu")
    start = clock()
    dataset = load_dataset(cfg.dataset)  # what Trainer(cfg) does first; timed apart to show the split
    loaded = clock()
    trainer = Trainer(cfg, dataset)
    built = clock()
    record = trainer.step(1)
    done = clock()
    assert len(record.snapshots) == 1 and len(record.steps) == 1
    return dict(job, total_s=done - start, data_s=loaded - start, build_s=built - loaded, first_step_s=done - built)


def record_size(job: dict) -> dict:
    """Bytes of a default-cadence record after `steps` steps, and projected to `target_steps` with the thinning."""
    cfg = RunConfig(batch_size=job["batch_size"], steps=job["steps"], device="cpu")
    trainer = Trainer(cfg)
    start = clock()
    record = trainer.step(cfg.steps)
    seconds = clock() - start
    tables = {"steps": record.steps, "snapshots": record.snapshots, "evals": record.evals}
    rows = {name: len(series) for name, series in tables.items()}
    appended = {name: held_bytes(series) for name, series in tables.items()}  # before anything read a column
    pending = {name: max(map(len, series._rows.values()), default=0) for name, series in tables.items()}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.npz"
        record.save(path)  # reads every column: all rows are stacked now
        npz = path.stat().st_size
    per_row = {name: {"raw": sum(c.nbytes for c in series.columns().values()) / max(1, len(series)),
                      "deflated": deflated_bytes(series) / max(1, len(series))} for name, series in tables.items()}
    target = projected_rows(cfg, job["target_steps"])
    project = {kind: sum(per_row[t][kind] * target[t] for t in tables) for kind in ("raw", "deflated")}
    # Rows never read stay separate arrays until STACK_EVERY of them are stacked: what that costs over the stacked
    # form is bounded by STACK_EVERY - 1 such rows per table, whatever the run's length.
    unstacked = sum((appended[t] - held_bytes(tables[t])) / pending[t] * (STACK_EVERY - 1)
                    for t in tables if pending[t])
    return dict(job, seconds=seconds, rows=rows, npz_bytes=npz, appended_bytes=sum(appended.values()),
                stacked_bytes=held_bytes(*tables.values()), per_row_bytes=per_row, target_rows=target,
                projected_npz_bytes=project["deflated"] + npz_overhead(record), projected_stacked_bytes=project["raw"],
                projected_appended_bytes=project["raw"] + unstacked)


def projected_rows(cfg: RunConfig, steps: int) -> dict:
    """Rows of each table after `steps` steps, by the Trainer's rule and RunRecord's own thinning."""
    record = RunRecord(cfg, {}, [], [])
    for step in range(steps):
        if step % record.snapshot_every == 0:
            record.add_snapshot(step=step)
    # Every eval_interval steps while running, and once at the end.
    return {"steps": steps, "snapshots": len(record.snapshots), "evals": (steps - 1) // cfg.eval_interval + 1}


def deflated_bytes(series) -> int:
    """The columns deflated one by one at zlib's default level, as np.savez_compressed stores them."""
    return sum(len(zlib.compress(np.ascontiguousarray(c).tobytes())) for c in series.columns().values())


def npz_overhead(record: RunRecord) -> int:
    """Bytes of an empty record of the same layout: zip directory, npy headers, meta."""
    empty = RunRecord(record.config, record.sites, record.layers, record.batchnorm_sites)
    buffer = io.BytesIO()
    empty.save(buffer)
    return len(buffer.getvalue())


def held_bytes(*tables) -> int:
    """Memory the Series hold: stacked columns and appended rows, each buffer counted once."""
    arrays = [a for series in tables for a in series._stacked.values()]
    arrays += [a for series in tables for rows in series._rows.values() for a in rows]
    owners, total = {}, 0
    for a in arrays:
        total += sys.getsizeof(a) - (a.nbytes if a.base is None else 0) + 8  # header and list slot
        owner = a
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        owners[id(owner)] = owner.nbytes  # a row may be a view into one host transfer's buffer
    return total + sum(owners.values())
