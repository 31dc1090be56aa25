"""The Sweep page's sweep file: its download (the .npz `python -m bnviz sweep --out` writes) and the box that
opens one (bnviz/ui/upload.py's guarded loader, as `inspect`) as if the sweep had just run here."""

from __future__ import annotations

import io
from dataclasses import dataclass

from bnviz import sweep_file
from bnviz.config import ConfigError, RunConfig
from bnviz.sweep import RunResult
from bnviz.ui import sweep_form
from bnviz.ui.sweep_job import LiveSweep, SweepState, is_active, show, sweep_state
from bnviz.ui.sweep_spec import MAX_KNOBS, SweepSpec
from bnviz.ui.upload import UPLOAD_MB, open_upload, record_box

KEY = "upload.sweep"
FILE_NAME = "bnviz-sweep.npz"


@dataclass
class OpenedSweep:
    """A sweep read from a file, shown as a job that has ended: what the page polls of a BackgroundSweep."""

    name: str
    runs: list[RunResult]
    backend_name: str  # the backend that ran it, as the file says ("" if it does not)
    state: str = "opened"
    error: str = ""

    @property
    def total(self) -> int:
        return len(self.runs)

    def results(self) -> list[RunResult]:
        return list(self.runs)

    def queue_position(self):
        return None


def sweep_npz(results: list[RunResult], spec: SweepSpec, backend: str) -> bytes:
    """The sweep file of the page's results: the same writer (and so the same file) as the CLI's --out."""
    buffer = io.BytesIO()
    sweep_file.save(buffer, results, spec.sweep(), backend.split(":")[0])  # "local", "ray": as the CLI writes
    return buffer.getvalue()


def spec_of(meta: dict, name: str, like: SweepSpec) -> SweepSpec:
    """The page's spec of a sweep file's meta (what it plots: `like`'s); RecordError-like ValueError if the
    file does not say its grid, or has more knobs than the chart shows."""
    try:
        grid = {str(k): tuple(str(v) for v in values) for k, values in meta["grid"].items()}
        base = RunConfig.from_params(meta["base"])
        if meta.get("steps") is not None:
            base = base.replace(steps=int(meta["steps"]))
        seeds = tuple(int(s) for s in meta["seeds"])
        images = None if meta.get("images") is None else int(meta["images"])
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as err:
        raise ValueError(f"{name}: the sweep file does not say its grid ({type(err).__name__}: {err})") from None
    if not 1 <= len(grid) <= MAX_KNOBS:
        raise ValueError(f"{name}: a grid of {len(grid)} knobs ({', '.join(grid)}); this page charts 1 to "
                         f"{MAX_KNOBS} (`python -m bnviz inspect {name}` summarizes any sweep)")
    return like.replace(base=base, grid=grid, seeds=seeds, images=images)


def upload_box():
    """The "Open a sweep file" box and, below it, what became of the last file; a bad file changes nothing."""
    record_box("Open a sweep file (.npz)", KEY, open_file=lambda file: open_in_page(sweep_state(), file),
               help="A sweep saved by bnviz (this page's download, `python -m bnviz sweep --out`): the page "
                    f"shows it as if just run. At most {UPLOAD_MB} MB.")


def open_in_page(state: SweepState, file) -> tuple[str, str]:
    """(level, one-line message): the file opened into `state`, or why not (then `state` is untouched)."""
    opened = open_upload(file)
    if isinstance(opened, str):
        return "error", opened
    kind, obj = opened
    if kind != "sweep":
        where = {"run": "the Lab", "comparison": "the Compare page"}.get(kind, "`python -m bnviz inspect`")
        return "error", (f"{file.name} is a {kind} file, not a sweep; open it in "
                         f"{where}. This page opens sweep files (its download, `python -m bnviz sweep --out`).")
    meta, results = obj
    if is_active(state):
        return "warning", (f"{file.name} was not opened: a sweep is {state.job.state} here, and opening a file "
                           "replaces it. Let it finish (or press Stop), then open the file again.")
    try:
        spec = spec_of(meta, file.name, state.spec)
    except ValueError as err:
        return "error", str(err)
    job = OpenedSweep(file.name, results, str(meta.get("backend") or ""))
    show(state, LiveSweep(job, spec))
    state.spec = spec
    sweep_form.set_widgets(spec)  # the form (and so the URL and the link) shows the file's sweep
    return "opened", f"Showing {file.name}, opened from a file: {len(results)} runs. Press Run sweep to run it anew."
