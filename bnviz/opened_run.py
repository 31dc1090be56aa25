"""OpenedRun (OpenedComparison): a run (a comparison) read from a record file, standing where a LiveRun stands
so the lab (the Compare page) draws it as if just trained."""

from __future__ import annotations

from contextlib import contextmanager

from bnviz.compare import Comparison
from bnviz.comparison_record import ComparisonRecord
from bnviz.config import NORM_WIDTHS
from bnviz.live import Progress
from bnviz.models import site_names
from bnviz.record import RecordError, RunRecord


def check_layout(record: RunRecord, origin: str) -> RunRecord:
    """The record's norm sites and widths must be those of its config's model: the lab's charts and pickers
    follow the model, so a file that disagrees (crafted, or from another bnviz) is refused, not half drawn."""
    model = record.config.model
    wanted = dict(zip(site_names(model), NORM_WIDTHS[model]))
    if record.sites != wanted:
        raise RecordError(f"{origin}: its norm sites {record.sites} are not those of model {model} ({wanted})")
    return record


class OpenedRun:
    """A finished LiveRun look-alike holding a loaded record: nothing trains, nothing can be resumed.

    It has the LiveRun members the lab's pages use (cfg, state, message, progress, latest_record, start,
    pause, stop, heartbeat, holding_trainer, release_if_idle); `name` is the file it came from.
    """

    def __init__(self, record: RunRecord, name: str):
        self.record, self.name = record, name
        self.cfg = record.config
        # A file saved mid-run says "running": here nothing runs, so it shows as stopped where it was saved.
        self.state = "stopped" if record.status == "running" else record.status
        self.message = record.message
        self.trainer = None
        self.alive = False

    @property
    def steps_done(self) -> int:
        return int(self.record.steps["step"][-1]) + 1 if len(self.record.steps) else 0

    def latest_record(self) -> RunRecord:
        return self.record

    def wait_for_first_record(self, timeout: float) -> bool:
        return True

    def progress(self) -> Progress:
        return Progress(self.state, min(self.steps_done, self.cfg.steps), self.cfg.steps, None, None, None,
                        self.message)

    def seconds_to_finish(self) -> None:
        return None

    def start(self):
        """Nothing to resume: the lab's Train starts a new LiveRun of the sidebar's config instead."""

    def pause(self):
        pass

    def stop(self, message: str | None = None, wait: float = 0.0):
        pass

    def heartbeat(self):
        pass

    def release_if_idle(self, ttl: float) -> bool:
        return False  # the record came from a file the user holds; it is dropped with the session

    @contextmanager
    def holding_trainer(self):
        yield None


class OpenedComparison(OpenedRun):
    """OpenedRun for a comparison file: `cfg` the Comparison its arms trained, the record a ComparisonRecord."""

    def __init__(self, record: ComparisonRecord, comparison: Comparison, name: str):
        self.record, self.name, self.cfg = record, name, comparison
        self.state = "stopped" if record.status == "running" else record.status
        self.message = None  # each arm's message is in the record (shown per arm)
        self.trainer = None
        self.alive = False

    @property
    def steps_done(self) -> int:
        """The furthest arm's steps, as Lockstep.steps_done counts."""
        return max((int(run.steps["step"][-1]) + 1 if len(run.steps) else 0) for run in self.record.runs)
