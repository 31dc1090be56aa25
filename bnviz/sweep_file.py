"""A sweep's results as one .npz: a JSON `meta` ({"kind": "sweep", ...}, one entry per run) and each run's
accuracy curve as arrays; written atomically (tmp + rename) so a kill never leaves half a file."""

from __future__ import annotations

import dataclasses
import json
import math
import numpy as np

from bnviz.config import ConfigError, RunConfig
from bnviz.record import RecordError, read_meta, read_npz, write_npz
from bnviz.sweep import FINAL, STATUSES, RunResult, Sweep

KIND, SCHEMA = "sweep", 1


def _number(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None  # JSON has no NaN


def sweep_meta(sweep: Sweep | None) -> dict:
    if sweep is None:
        return {}
    return {"base": sweep.base.to_params(), "grid": {k: list(v) for k, v in sweep.grid.items()},
            "seeds": list(sweep.seeds), "images": sweep.images, "steps": sweep.steps}


def save(path, results: list[RunResult], sweep: Sweep | None = None, backend: str = ""):
    """Write every result (finished so far) to `path`, replacing it atomically, or to a binary file object."""
    runs, arrays = [], {}
    for i, r in enumerate(results):
        runs.append({"config": r.config.to_params(), "status": r.status, "message": r.message,
                     "final": {name: _number(getattr(r, name)) for name in FINAL},
                     "ms_per_step": _number(r.ms_per_step), "attempts": r.attempts})
        arrays[f"runs/{i}/images_seen"] = np.asarray(r.images_seen, np.int64)
        arrays[f"runs/{i}/curve_acc"] = np.asarray(r.curve_acc, np.float32)
    meta = {"kind": KIND, "schema": SCHEMA, "backend": backend, **sweep_meta(sweep), "runs": runs}
    write_npz(path, {"meta": np.array(json.dumps(meta, allow_nan=False)), **arrays})


def load(path) -> tuple[dict, list[RunResult]]:
    """(meta, results) of a sweep file, through the one safe reader; a malformed file raises RecordError."""
    arrays = read_npz(path)
    return read_meta(arrays, str(path)), results_of(arrays, str(path))


def results_of(arrays: dict, path: str) -> list[RunResult]:
    """The runs of a sweep file's arrays (as read by read_npz)."""
    meta = read_meta(arrays, path)
    if meta.get("kind") != KIND:
        raise RecordError(f"{path}: not a sweep file (kind {meta.get('kind')!r})")
    if meta.get("schema") != SCHEMA:
        raise RecordError(f"{path}: sweep schema {meta.get('schema')!r}, this bnviz reads schema {SCHEMA}")
    results = []
    try:
        for i, run in enumerate(meta["runs"]):
            if run["status"] not in STATUSES:
                raise ValueError(f"status {run['status']!r}")
            final = {k: math.nan if run["final"][k] is None else float(run["final"][k]) for k in FINAL}
            results.append(RunResult(
                RunConfig.from_params(run["config"]), run["status"], str(run["message"]), **final,
                images_seen=arrays[f"runs/{i}/images_seen"], curve_acc=arrays[f"runs/{i}/curve_acc"],
                ms_per_step=math.nan if run["ms_per_step"] is None else float(run["ms_per_step"]),
                attempts=int(run["attempts"])))
    except (KeyError, TypeError, ValueError, ConfigError) as err:
        raise RecordError(f"{path}: invalid sweep file: {type(err).__name__}: {err}") from None
    return results


def summary(results: list[RunResult]) -> dict:
    """What `inspect --json` prints for a sweep."""
    return {"runs": [{"config": dataclasses.asdict(r.config), "status": r.status, "message": r.message,
                      "final": {name: _number(getattr(r, name)) for name in FINAL},
                      "ms_per_step": _number(r.ms_per_step), "attempts": r.attempts} for r in results]}
