"""ComparisonRecord: every arm's RunRecord with its label and status, saved as one .npz (kind "comparison")."""

from __future__ import annotations

import json

import numpy as np

from bnviz.record import RecordError, RunRecord, read_meta, read_npz, write_npz

SCHEMA = 1
ARM_STATUSES = ("running", "finished", "stopped", "diverged", "failed")


class ComparisonRecord:
    """The arms' records, labels and statuses; an arm that failed (an exception) keeps its message."""

    def __init__(self, labels: list[str], runs: list[RunRecord]):
        self.labels, self.runs = list(labels), list(runs)
        self.failed: list[bool] = [False] * len(runs)
        self.messages: list[str | None] = [None] * len(runs)

    def arm_status(self, i: int) -> str:
        """running | finished | stopped | diverged | failed."""
        return "failed" if self.failed[i] else self.runs[i].status

    def fail(self, i: int, message: str):
        self.failed[i], self.messages[i] = True, message

    @property
    def status(self) -> str:
        """running while any arm runs; then stopped if any arm was stopped, else finished if any finished."""
        statuses = [self.arm_status(i) for i in range(len(self.runs))]
        for status in ("running", "stopped", "finished", "diverged"):
            if status in statuses:
                return status
        return "failed"

    def frozen(self) -> "ComparisonRecord":
        """A copy whose tables and statuses no longer change (columns shared, not copied), arm by arm."""
        copy = ComparisonRecord(self.labels, [run.frozen() for run in self.runs])
        copy.failed, copy.messages = list(self.failed), list(self.messages)
        return copy

    # --- saving and loading ----------------------------------------------------------------
    def meta(self) -> dict:
        return {"kind": "comparison", "schema": SCHEMA,
                "arms": [{"label": label, "status": self.arm_status(i), "message": self.messages[i],
                          "prefix": f"arm{i}/"} for i, label in enumerate(self.labels)]}

    def save(self, path):
        """One compressed .npz: the top-level meta and each arm's record under its prefix (`arm0/meta`, ...)."""
        arrays = {"meta": np.array(json.dumps(self.meta()))}
        for i, run in enumerate(self.runs):
            arrays.update({f"arm{i}/{name}": value for name, value in run.arrays().items()})
        write_npz(path, arrays)

    @classmethod
    def load(cls, path) -> "ComparisonRecord":
        """Read a comparison file through bnviz.record.read_npz (pickles refused)."""
        return cls.from_arrays(read_npz(path), str(path))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], origin: str = "comparison") -> "ComparisonRecord":
        meta = read_meta(arrays, origin)
        try:
            arms = meta["arms"]
            if meta.get("kind") != "comparison" or meta.get("schema") != SCHEMA:
                raise ValueError(f"kind {meta.get('kind')!r} schema {meta.get('schema')!r}, this bnviz reads "
                                 f"kind 'comparison' schema {SCHEMA}")
            labels = [str(arm["label"]) for arm in arms]
            statuses = [arm["status"] for arm in arms]
            messages = [None if arm.get("message") is None else str(arm["message"]) for arm in arms]
            prefixes = [str(arm["prefix"]) for arm in arms]
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise RecordError(f"{origin}: invalid comparison meta: {err}") from None
        if not 1 <= len(arms) or any(s not in ARM_STATUSES for s in statuses):
            raise RecordError(f"{origin}: invalid comparison meta: arms {len(arms)}, statuses {statuses}")
        runs = []
        for label, prefix in zip(labels, prefixes):
            sub = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            runs.append(RunRecord.from_arrays(sub, f"{origin}, arm {label!r}"))
        record = cls(labels, runs)
        for i, status in enumerate(statuses):
            if status == "failed":
                record.fail(i, messages[i] or "failed")
            record.messages[i] = messages[i]
        return record
