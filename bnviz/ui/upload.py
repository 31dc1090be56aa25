"""Open a record file in the app: the size cap, the one guarded loader (as `inspect` uses), and the lab's upload box."""

from __future__ import annotations


import streamlit as st

from bnviz.comparison_record import ComparisonRecord
from bnviz.live import ACTIVE
from bnviz.opened_run import OpenedRun, check_layout
from bnviz.record import RecordError, RunRecord, read_meta, read_npz
from bnviz.ui import sidebar
from bnviz.ui.session import LabSession

# Equal to server.maxUploadSize in .streamlit/config.toml (Streamlit counts it in MiB); checked again here
# because a hosted server may set that option higher. Under the loader's own 512 MiB file limit.
UPLOAD_MB = 200
UPLOAD_BYTES = UPLOAD_MB * 2**20
# All arrays of one upload, uncompressed: the most memory opening it may take (the loader's default is 1 GiB;
# a full-length mlp record is ~150 MB).
UPLOAD_ARRAY_BYTES = 512 * 2**20
KEY = "upload.lab"

def _sweep(arrays: dict, origin: str):
    from bnviz import sweep_file  # its imports are heavier; only a sweep needs them
    return read_meta(arrays, origin), sweep_file.results_of(arrays, origin)


# meta "kind" -> build the kind's object from the arrays (what `inspect` dispatches on: bnviz/cli/inspect.py)
OPENERS = {"run": lambda arrays, origin: check_layout(RunRecord.from_arrays(arrays, origin), origin),
           "comparison": ComparisonRecord.from_arrays, "sweep": _sweep}


def _size(file) -> int:
    size = getattr(file, "size", None)
    if size is None:
        size = file.seek(0, 2)
        file.seek(0)
    return int(size)


def open_upload(file) -> tuple[str, object] | str:
    """(kind, object) of an uploaded record file: a RunRecord ("run"), a ComparisonRecord ("comparison"), or
    (meta, results) ("sweep"); else the one-line message naming what is wrong. Never raises for a bad file."""
    name = getattr(file, "name", None) or "the uploaded file"
    size = _size(file)
    if size > UPLOAD_BYTES:
        return f"{name}: the file is {size / 2**20:,.1f} MiB; the upload limit is {UPLOAD_MB} MiB"
    try:
        arrays = read_npz(file, max_file_bytes=UPLOAD_BYTES, max_total_bytes=UPLOAD_ARRAY_BYTES,
                          origin=name)
        kind = read_meta(arrays, name).get("kind", "run")
        if kind not in OPENERS:
            return f"{name}: unknown kind {kind!r}; this bnviz opens {', '.join(OPENERS)}"
        return kind, OPENERS[kind](arrays, name)
    except RecordError as err:
        return str(err)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OSError) as err:
        # A file crafted past the loader's checks: still a clean refusal (as `inspect` does).
        return f"{name}: not a valid bnviz record ({type(err).__name__}: {err})"


def record_box(label: str, key: str, help: str, open_file, shown=lambda file: True, where=st):
    """A page's "Open a record" box and, in the page, what became of its last file. `open_file(file)` opens a
    new file (on_change: once per file, before the page is drawn) and returns (level, message): "error",
    "warning" or "info", or "opened", whose message shows while `shown(file)` (the page still shows it)."""
    # No type=["npz"]: a file of another name (a crafted request) would raise StreamlitAPIException on the
    # page; the loader refuses anything that is not a record anyway, with a message.
    where.file_uploader(label, key=key, on_change=_opened, args=(key, open_file), help=help)
    outcome = st.session_state.get(key + ".outcome")
    file = st.session_state.get(key)
    if outcome is None or file is None or outcome[0] != file.file_id:
        return  # the box was cleared: so is its message
    _, level, text = outcome
    if level == "error":
        st.error(f"Could not open the file: {text}")
    elif level == "opened":
        if shown(file):
            st.info(text)
    else:
        getattr(st, level)(text)


def _opened(key: str, open_file):
    file = st.session_state.get(key)
    if file is not None:
        st.session_state[key + ".outcome"] = (file.file_id, *open_file(file))


def lab_upload(lab: LabSession):
    """The lab's "Open a record" box, in the sidebar; a bad file changes nothing in the lab."""
    record_box("Open a record (.npz)", KEY, where=st.sidebar, open_file=lambda file: _open_in_lab(lab, file),
               shown=lambda file: isinstance(lab.run, OpenedRun) and lab.run.name == file.name,
               help=f"A run saved by bnviz (the lab's download, `train --out`): the lab shows it as if just "
                    f"trained. At most {UPLOAD_MB} MB.")


def _open_in_lab(lab: LabSession, file) -> tuple[str, str]:
    opened = open_upload(file)
    if isinstance(opened, str):
        return "error", opened
    kind, obj = opened
    if kind != "run":
        return "info", (f"{file.name} is a {kind} file: the lab opens single runs; "
                        f"`python -m bnviz inspect {file.name}` summarizes a {kind}.")
    run = lab.run
    if run is not None and (run.state in ACTIVE or run.state == "paused"):
        return "warning", (f"{file.name} was not opened: the lab's run is {run.state}, and opening a file "
                           "replaces it. Let it finish (or press Reset), then open the file again.")
    lab.reset()
    opened_run = OpenedRun(obj, file.name)
    lab.live.run = opened_run
    cfg = obj.config if obj.config.device in sidebar.devices() else obj.config.replace(device="auto")
    lab.config = cfg
    sidebar.set_widgets(cfg)  # the sidebar (and so the URL and links) shows the opened run's settings
    status = opened_run.state + (f" at step {obj.status_step}" if obj.status_step is not None else "")
    return "opened", (f"Showing {file.name}, opened from a file: {opened_run.steps_done:,} of {obj.config.steps:,} "
                      f"steps, {status}. Press Train to run these settings anew.")
