"""Sweep: a base RunConfig, a grid of knob values and seeds, expanded into validated runs, each trained to a
budget of steps or images and kept as a compact RunResult.

Streamlit-free and backend-free: `train_run` trains one config in the calling process; the backends
(bnviz/backends) only decide where it is called.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import traceback
from dataclasses import dataclass, field

import numpy as np

from bnviz.config import FIELDS, ConfigError, RunConfig

CHUNK = 25  # steps per Trainer.step call
STATUSES = ("finished", "diverged", "failed")  # a run's outcome; "failed": it raised (message says what)
FINAL = ("test_acc", "test_loss", "train_mode_acc", "eval_mode_acc")
NOT_GRID = {"seed": "use seeds (--seeds) for seeds", "steps": "use the steps or images budget (--steps/--images)"}


def run_key(cfg: RunConfig) -> str:
    """A run's identity: its config's flat params as canonical JSON (resume matches on it)."""
    return json.dumps(cfg.to_params(), sort_keys=True)


@dataclass
class RunResult:
    """The compact outcome of one run: final eval-mode metrics, the accuracy curve and the step time."""

    config: RunConfig
    status: str
    message: str = ""
    test_acc: float = math.nan  # eval mode (running statistics), at the end of training
    test_loss: float = math.nan
    train_mode_acc: float = math.nan  # the same test batches through batch statistics
    eval_mode_acc: float = math.nan
    images_seen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # at each evaluation
    curve_acc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # test accuracy there
    ms_per_step: float = math.nan  # median; timing, so never part of a bitwise comparison
    attempts: int = 1  # 2 when a worker died under it and it was retried
    record: object = None  # the full RunRecord when asked for (keep_record)
    extra: dict = field(default_factory=dict)  # what a `finish` measured on the trained model (plain numbers)

    @property
    def key(self) -> str:
        return run_key(self.config)

    @property
    def final(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in FINAL}

    # Plain form for crossing process boundaries (pool pipes, Ray object store): no locks, no classes.
    def to_wire(self) -> dict:
        wire = {k: getattr(self, k) for k in ("status", "message", "ms_per_step", "attempts", "extra", *FINAL)}
        wire.update(config=self.config.to_params(), images_seen=self.images_seen, curve_acc=self.curve_acc)
        if self.record is not None:
            buffer = io.BytesIO()
            self.record.save(buffer)
            wire["record"] = buffer.getvalue()
        return wire

    @classmethod
    def from_wire(cls, wire: dict) -> "RunResult":
        from bnviz.record import RunRecord

        wire = dict(wire)
        record = wire.pop("record", None)
        result = cls(config=RunConfig.from_params(wire.pop("config")), **wire)
        result.record = RunRecord.load(io.BytesIO(record)) if record is not None else None
        return result


@dataclass(frozen=True)
class Sweep:
    """Runs = product of the grid's values x seeds; a budget of `images` sets steps = ceil(images / batch)."""

    base: RunConfig
    grid: dict[str, tuple[str, ...]]
    seeds: tuple[int, ...] = (0,)
    images: int | None = None
    steps: int | None = None

    def configs(self) -> list[RunConfig]:
        """Every run's config, validated: a bad knob, value or combination raises ConfigError, before training."""
        if self.images is not None and self.steps is not None:
            raise ConfigError("images", self.images, "give a budget of images or of steps, not both")
        if self.images is not None and not (isinstance(self.images, int) and self.images >= 1):
            raise ConfigError("images", self.images, "an int >= 1 (training images per run)")
        for seed in self.seeds:
            FIELDS["seed"].check("seeds", seed)
        parsed = {}
        for knob, values in self.grid.items():
            if knob not in FIELDS:
                raise ConfigError(knob, ",".join(values), f"unknown knob; known: {', '.join(FIELDS)}")
            if knob in NOT_GRID:
                raise ConfigError(knob, ",".join(values), f"not a grid knob: {NOT_GRID[knob]}")
            if not values:
                raise ConfigError(knob, "", "at least one value")
            parsed[knob] = []
            for raw in values:
                value = FIELDS[knob].parse(knob, raw)
                FIELDS[knob].check(knob, value)
                parsed[knob].append(value)
        configs = []
        for combo in itertools.product(*parsed.values()):
            for seed in self.seeds:
                changes = dict(zip(parsed, combo), seed=seed)
                configs.append(self._build(changes))
        return configs

    def _build(self, changes: dict) -> RunConfig:
        batch_size = changes.get("batch_size", self.base.batch_size)
        if self.images is not None:
            changes["steps"] = math.ceil(self.images / batch_size)
        elif self.steps is not None:
            changes["steps"] = self.steps
        try:
            return self.base.replace(**changes)
        except ConfigError as err:  # a combination PyTorch cannot train: say which run
            where = ", ".join(f"{k}={FIELDS[k].format(v)}" for k, v in changes.items() if k != "seed")
            if err.field == "steps" and self.images is not None:
                raise ConfigError("images", self.images, f"gives steps={changes['steps']} at batch_size="
                                  f"{batch_size}; steps must be {FIELDS['steps'].allowed()}") from None
            raise ConfigError(err.field, err.value, f"{err.allowed} (in the run {where})") from None


def train_run(cfg: RunConfig, keep_record: bool = False, finish=None, probe=None) -> RunResult:
    """Train `cfg` to its steps in this process; any exception becomes a 'failed' result, never a raise.
    Top-level functions (they cross to the workers): `finish(trainer) -> dict` measures on the trained model,
    `probe(trainer) -> {name: value}` after every step (bnviz.papers.runs.Probe); both land in `extra`."""
    try:
        from bnviz.trainer import Trainer

        trainer = Trainer(cfg)
        probes: dict = {}
        while not trainer.done:
            trainer.step(1 if probe is not None else CHUNK)
            if probe is not None and trainer.record.status in ("running", "finished"):
                for name, value in probe(trainer).items():
                    probes.setdefault(name, []).append(value)
        trainer.recorder.close()
        result = result_of(trainer.record, keep_record)
        result.extra = {**(finish(trainer) if finish is not None else {}), **({"probe": probes} if probe else {})}
        return result
    except Exception as err:  # the sweep goes on; the message says what happened
        last = traceback.extract_tb(err.__traceback__)[-1]
        return RunResult(cfg, "failed", f"{type(err).__name__}: {err} ({last.filename.rsplit('/', 1)[-1]}:"
                                        f"{last.lineno})")


def result_of(record, keep_record: bool = False) -> RunResult:
    """The compact result of a finished or diverged RunRecord."""
    evals, steps = record.evals, record.steps
    message = ""
    if record.status == "diverged":
        message = f"diverged at step {record.status_step}: the loss became NaN or Inf"
    result = RunResult(record.config, record.status, message,
                       ms_per_step=float(np.median(steps["ms_per_step"])) if len(steps) else math.nan,
                       record=record if keep_record else None)
    if len(evals):
        result.images_seen = evals["step"].astype(np.int64) * record.config.batch_size
        result.curve_acc = evals["test_acc"].astype(np.float32)
        last_eval_is_final = record.status == "finished"
        for name in FINAL:
            result.__setattr__(name, float(evals[name][-1]) if last_eval_is_final else math.nan)
    return result
