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

import numpy as np

from bnviz.config import ConfigError, RunConfig
from bnviz.npz import RecordError, read_meta, read_npz, write_npz  # noqa: F401  re-exported: the one reader

SCHEMA = 1
PERCENTILES = (1, 7, 15, 16, 31, 50, 69, 84, 85, 93, 99)  # TensorBoard's bands and the BN paper's 15/50/85
KINDS = ("pre", "post")
STATUSES = ("running", "finished", "stopped", "diverged", "failed", "paused")
MAX_SNAPSHOTS = 400  # past this, every other snapshot is dropped and the cadence doubles
TABLES = ("steps", "snapshots", "evals")
STACK_EVERY = 256  # rows kept as separate arrays before a column is stacked
BATCHNORM_FIELDS = ("batch_mean", "batch_var", "running_mean", "running_var", "gamma", "beta")
# Columns a diverging run may fill with NaN/Inf (the step that blew up is kept); every other column must be
# finite: steps, accuracies, timings, histogram ranges and counts, saturated fractions.
MAY_BE_NONFINITE = ("loss", "grad_norm", "update_ratio", "test_loss", "mean", "std", "percentiles",
                    "channel_mean", "channel_std", *BATCHNORM_FIELDS)
INTEGER_COLUMNS = ("step", "channel_hist")
MAX_CHANNELS = 4096  # units of one norm site
MAX_SNAPSHOT_EVERY = 10**9  # the cadence doubles each time the snapshots are thinned
FRACTIONS = ("train_acc", "test_acc", "train_mode_acc", "eval_mode_acc", "saturated")  # in [0, 1]


def column_key(site: str, *parts: str) -> str:
    """The snapshot column of a norm site: column_key("block1.norm", "pre", "std") is "block1.norm/pre/std"."""
    return "/".join((site, *parts))


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
        self.status_step: int | None = None  # the step that diverged, failed or was stopped at
        self.message: str | None = None  # why it failed
        self.steps, self.snapshots, self.evals = Series(), Series(), Series()
        self.mode: str | None = None  # how the trainer ran its plain steps (Trainer.mode), when known

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
        copy.end(self.status, self.status_step, self.message)
        copy.mode = self.mode
        for table in TABLES:
            setattr(copy, table, Series(getattr(self, table).columns()))
        return copy

    def end(self, status: str, step: int | None = None, message: str | None = None):
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
            raise ValueError(f"status_step {step!r} is not an int >= 0 or null")
        if message is not None and not isinstance(message, str):
            raise ValueError(f"message {message!r} is not a string or null")
        self.status, self.status_step, self.message = status, step, message

    # --- saving and loading ----------------------------------------------------------------
    def meta(self) -> dict:
        return {"schema": SCHEMA, "config": self.config.to_params(), "status": self.status,
                "status_step": self.status_step, "message": self.message, "sites": self.sites, "layers": self.layers,
                "batchnorm_sites": self.batchnorm_sites, "snapshot_every": self.snapshot_every,
                **({"mode": self.mode} if self.mode else {})}

    def arrays(self) -> dict[str, np.ndarray]:
        """The record as the arrays of its file: `meta` and `<table>/<column>`."""
        arrays = {"meta": np.array(json.dumps(self.meta()))}
        for table in TABLES:
            arrays.update({f"{table}/{name}": column for name, column in getattr(self, table).columns().items()})
        return arrays

    def save(self, path):
        """Write the record to a binary file object, or atomically to a path (bnviz.npz.write_npz)."""
        write_npz(path, self.arrays())

    @classmethod
    def load(cls, path) -> "RunRecord":
        """Read a record from a path or a binary file object (an upload), refusing pickles."""
        return cls.from_arrays(read_npz(path), str(path))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], origin: str = "record") -> "RunRecord":
        meta = read_meta(arrays, origin)
        schema = meta.get("schema")
        if schema != SCHEMA:
            newer = isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA
            hint = ": it was written by a newer bnviz; upgrade to read it" if newer else ""
            raise RecordError(f"{origin}: schema {schema!r}, this bnviz reads schema {SCHEMA}{hint}")
        if not isinstance(meta.get("config"), dict) or not all(isinstance(v, str) for v in meta["config"].values()):
            raise RecordError(f"{origin}: invalid meta: 'config' must be an object of strings")
        try:
            config = RunConfig.from_params(meta["config"])
        except ConfigError as err:
            raise RecordError(f"{origin}: invalid config: {err}") from None
        try:
            record = cls(config, *_layout(meta))
            record.end(meta["status"], meta["status_step"], meta.get("message"))
            record.mode = meta.get("mode")
            if record.mode is not None and not isinstance(record.mode, str):
                raise ValueError(f"mode {record.mode!r} is not a string or null")
        except (KeyError, TypeError, ValueError) as err:
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
                check_values(f"{origin}: {table}/{name}", name.rsplit("/", 1)[-1], column)


def check_values(where: str, kind: str, column: np.ndarray):
    """Refuse a column whose dtype or values its kind (the last part of its name) does not allow."""
    if column.dtype.kind not in "biuf":
        raise RecordError(f"{where}: dtype {column.dtype}; allowed: bool, int, uint or float")
    if kind in INTEGER_COLUMNS and column.dtype.kind not in "iu":
        raise RecordError(f"{where}: dtype {column.dtype}; allowed: an integer type")
    if kind not in MAY_BE_NONFINITE and column.dtype.kind == "f" and not np.isfinite(column).all():
        raise RecordError(f"{where}: holds NaN or Inf; only {', '.join(MAY_BE_NONFINITE)} may (a diverged run)")
    if kind in FRACTIONS and column.size and not ((column >= 0) & (column <= 1)).all():
        raise RecordError(f"{where}: values outside [0, 1]")
    if kind in ("step", "channel_hist", "nonfinite") and column.size and column.min() < 0:
        raise RecordError(f"{where}: negative values; allowed: >= 0")
    if kind == "step" and (column[1:] <= column[:-1]).any():
        raise RecordError(f"{where}: steps not strictly increasing")
    if kind == "range" and column.size and (column[:, 0] > column[:, 1]).any():
        raise RecordError(f"{where}: a histogram range with lo > hi")


def _layout(meta: dict) -> tuple[dict[str, int], list[str], list[str], int]:
    """sites, layers, batchnorm_sites and snapshot_every from a record's meta, type- and range-checked."""
    sites, layers, batchnorm = meta["sites"], meta["layers"], meta["batchnorm_sites"]
    if not isinstance(sites, dict) or not all(isinstance(c, int) and 1 <= c <= MAX_CHANNELS for c in sites.values()):
        raise ValueError(f"'sites' must map each norm site to its channels, an int in [1, {MAX_CHANNELS}]")
    for name, names in (("layers", layers), ("batchnorm_sites", batchnorm)):
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{name!r} must be a list of names")
    if not set(batchnorm) <= set(sites):
        raise ValueError(f"'batchnorm_sites' {batchnorm} must be norm sites, one of {sorted(sites)}")
    every = meta["snapshot_every"]
    if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= MAX_SNAPSHOT_EVERY:
        raise ValueError(f"'snapshot_every' {every!r} is not an int in [1, {MAX_SNAPSHOT_EVERY}]")
    return sites, layers, batchnorm, every
