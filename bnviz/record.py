"""RunRecord: a run's numbers as plain numpy arrays, saved and loaded as .npz without pickle.

A record has three tables, each a `Series` of equal-length columns:
- `steps`: one row per training step: `step`, `loss`, `train_acc` (of the training batch), `ms_per_step`,
  `grad_norm` [layers] (L2 norm of each layer's weight gradient).
- `snapshots`: one row per recorded step (every `snapshot_every` steps, step 0 first): `step`,
  `update_ratio` [layers] (|delta W| / |W| of that step's update), and for each norm site `s` and
  kind `k` in ("pre", "post") (the norm's input and output):
  `s/k/mean`, `s/k/std`, `s/k/percentiles` [len(PERCENTILES)], `s/k/range` [lo, hi] (histogram edges),
  `s/k/channel_hist` [channels, bins] (counts of a fixed subsample, per channel),
  `s/k/channel_mean`, `s/k/channel_std` [channels], `s/k/nonfinite` (values left out);
  `s/saturated` (fraction of saturated or dead units of the block's activation);
  BatchNorm sites also `s/batch_mean`, `s/batch_var`, `s/running_mean`, `s/running_var`, `s/gamma`, `s/beta`.
- `evals`: one row per evaluation: `step`, `test_loss`, `test_acc`, and `train_mode_acc`/`eval_mode_acc`
  (the same test batches through batch statistics vs running statistics).
"""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import numpy as np

from bnviz.config import ConfigError, RunConfig

SCHEMA = 1
PERCENTILES = (1, 7, 15, 16, 31, 50, 69, 84, 85, 93, 99)  # TensorBoard's bands and the BN paper's 15/50/85
KINDS = ("pre", "post")
STATUSES = ("running", "finished", "stopped", "diverged", "paused")
MAX_SNAPSHOTS = 400  # past this, every other snapshot is dropped and the cadence doubles
TABLES = ("steps", "snapshots", "evals")
STACK_EVERY = 256  # rows kept as separate arrays before a column is stacked
BATCHNORM_FIELDS = ("batch_mean", "batch_var", "running_mean", "running_var", "gamma", "beta")


def column_key(site: str, *parts: str) -> str:
    """The snapshot column of a norm site: column_key("block1.norm", "pre", "std") is "block1.norm/pre/std"."""
    return "/".join((site, *parts))


class RecordError(ValueError):
    """A record file that is not a valid bnviz record."""


def read_npz(path) -> dict[str, np.ndarray]:
    """Every array of a bnviz .npz file (a path or a binary file object), refusing pickles: the one reader
    that every kind of record file (run, comparison, sweep) goes through."""
    if isinstance(path, (str, Path)) and not Path(path).is_file():
        raise RecordError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # np.load would take any other file for a pickle
        raise RecordError(f"{path}: not a bnviz record (.npz): not a zip archive")
    if hasattr(path, "seek"):
        path.seek(0)  # is_zipfile read from the file object
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except ValueError as err:  # numpy refuses object (pickled) arrays with allow_pickle=False
        raise RecordError(f"{path}: refused, it holds pickled objects ({err})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise RecordError(f"{path}: not a bnviz record (.npz): {err}") from None


class Series:
    """An append-only table of equal-length numpy columns, safe to read while a trainer appends."""

    def __init__(self, columns: dict[str, np.ndarray] | None = None):
        self._rows: dict[str, list[np.ndarray]] = {}
        self._stacked: dict[str, np.ndarray] = dict(columns or {})
        self._len = len(next(iter(self._stacked.values()))) if self._stacked else 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._len

    def names(self) -> list[str]:
        return sorted(set(self._rows) | set(self._stacked))

    def append(self, **row):
        with self._lock:
            for name, value in row.items():
                pending = self._rows.setdefault(name, [])
                pending.append(np.array(value))  # a copy: a view would keep its whole source buffer alive
                if len(pending) >= STACK_EVERY:  # many small arrays cost far more memory than one
                    self._stack(name)
            self._len += 1

    def _stack(self, name: str):
        pending = self._rows.get(name)
        if pending:
            parts = [self._stacked[name]] if name in self._stacked else []
            self._stacked[name] = np.concatenate(parts + [np.stack(pending)])
            self._rows[name] = []

    def __getitem__(self, name: str) -> np.ndarray:
        with self._lock:
            self._stack(name)
            if name not in self._stacked:
                raise KeyError(name)
            return self._stacked[name]

    def __contains__(self, name: str) -> bool:
        return name in self._rows or name in self._stacked

    def thin(self):
        """Keep every other row (0, 2, 4, ...): older history gets evenly sparser, never randomly."""
        for name in self.names():
            column = self[name]
            with self._lock:
                self._stacked[name] = column[::2].copy()
        with self._lock:
            self._len = (self._len + 1) // 2

    def columns(self) -> dict[str, np.ndarray]:
        return {name: self[name] for name in self.names()}


class RunRecord:
    """The record of one run: its config, status, layout (sites, layers) and three tables."""

    def __init__(self, config: RunConfig, sites: dict[str, int], layers: list[str],
                 batchnorm_sites: list[str], snapshot_every: int | None = None):
        self.config = config
        self.sites = dict(sites)  # norm site name -> channels (units)
        self.layers = list(layers)  # layers whose weight gradients are tracked
        self.batchnorm_sites = list(batchnorm_sites)
        self.snapshot_every = snapshot_every or config.record_every
        self.status = "running"
        self.status_step: int | None = None  # the step that diverged
        self.steps, self.snapshots, self.evals = Series(), Series(), Series()

    # --- reading ---------------------------------------------------------------------------
    def hist(self, site: str, kind: str, channel: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Histogram edges [snapshots, bins+1] and counts [snapshots, bins] (all channels or one)."""
        counts = self.snapshots[column_key(site, kind, "channel_hist")].astype(np.int64)
        counts = counts.sum(axis=1) if channel is None else counts[:, channel]
        lo, hi = self.snapshots[column_key(site, kind, "range")].T
        edges = np.linspace(lo, hi, counts.shape[1] + 1, axis=1)
        return edges, counts

    def add_snapshot(self, **row):
        self.snapshots.append(**row)
        if len(self.snapshots) > MAX_SNAPSHOTS:
            self.snapshots.thin()
            self.snapshot_every *= 2

    def frozen(self) -> "RunRecord":
        """A copy whose tables no longer change (the columns are shared, not copied): safe to read while
        a trainer goes on appending to this one."""
        copy = RunRecord(self.config, self.sites, self.layers, self.batchnorm_sites, self.snapshot_every)
        copy.end(self.status, self.status_step)
        for table in TABLES:
            setattr(copy, table, Series(getattr(self, table).columns()))
        return copy

    def end(self, status: str, step: int | None = None):
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        self.status, self.status_step = status, step

    # --- saving and loading ----------------------------------------------------------------
    def meta(self) -> dict:
        return {"schema": SCHEMA, "config": self.config.to_params(), "status": self.status,
                "status_step": self.status_step, "sites": self.sites, "layers": self.layers,
                "batchnorm_sites": self.batchnorm_sites, "snapshot_every": self.snapshot_every}

    def save(self, path):
        """Write a compressed .npz to a path or a binary file object."""
        arrays = {"meta": np.array(json.dumps(self.meta()))}
        for table in TABLES:
            for name, column in getattr(self, table).columns().items():
                arrays[f"{table}/{name}"] = column
        if isinstance(path, (str, Path)):
            with open(path, "wb") as f:  # a file object keeps numpy from appending ".npz"
                np.savez_compressed(f, **arrays)
        else:
            np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path) -> "RunRecord":
        """Read a record from a path or a binary file object (an upload), refusing pickles."""
        return cls.from_arrays(read_npz(path), str(path))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], origin: str = "record") -> "RunRecord":
        if "meta" not in arrays:
            raise RecordError(f"{origin}: no 'meta' entry; not a bnviz record")
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as err:
            raise RecordError(f"{origin}: unreadable meta: {err}") from None
        if not isinstance(meta, dict):
            raise RecordError(f"{origin}: meta is not a JSON object")
        if meta.get("schema") != SCHEMA:
            raise RecordError(f"{origin}: schema {meta.get('schema')!r}, this bnviz reads schema {SCHEMA}")
        try:
            config = RunConfig.from_params(meta["config"])
            record = cls(config, meta["sites"], meta["layers"], meta["batchnorm_sites"],
                         int(meta["snapshot_every"]))
            record.end(meta["status"], meta["status_step"])
        except (KeyError, TypeError, ValueError, ConfigError) as err:
            raise RecordError(f"{origin}: invalid meta: {err}") from None
        for table in TABLES:
            prefix = table + "/"
            columns = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            setattr(record, table, Series(columns))
        record.validate(origin)
        return record

    def expected_columns(self) -> dict[str, dict[str, tuple]]:
        """Per table, each column's name and the shape of one row."""
        n_layers, bins = len(self.layers), self.config.hist_bins
        snap = {"step": (), "update_ratio": (n_layers,)}
        for site, channels in self.sites.items():
            snap[column_key(site, "saturated")] = ()
            for kind in KINDS:
                shapes = {"mean": (), "std": (), "nonfinite": (), "percentiles": (len(PERCENTILES),),
                          "range": (2,), "channel_hist": (channels, bins), "channel_mean": (channels,),
                          "channel_std": (channels,)}
                snap.update({column_key(site, kind, stat): shape for stat, shape in shapes.items()})
            if site in self.batchnorm_sites:
                snap.update({column_key(site, name): (channels,) for name in BATCHNORM_FIELDS})
        return {"steps": {"step": (), "loss": (), "train_acc": (), "ms_per_step": (), "grad_norm": (n_layers,)},
                "snapshots": snap,
                "evals": {"step": (), "test_loss": (), "test_acc": (), "train_mode_acc": (),
                          "eval_mode_acc": ()}}

    def validate(self, origin: str = "record"):
        for table, expected in self.expected_columns().items():
            series = getattr(self, table)
            names = set(series.names())
            if names and names != set(expected):
                missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
                raise RecordError(f"{origin}: table {table!r} columns differ: missing {missing}, extra {extra}")
            for name in names:
                column = series[name]
                if column.dtype == object:
                    raise RecordError(f"{origin}: {table}/{name} holds Python objects")
                if column.shape != (len(series), *expected[name]):
                    raise RecordError(f"{origin}: {table}/{name} has shape {column.shape}, "
                                      f"expected {(len(series), *expected[name])}")
