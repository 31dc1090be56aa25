"""The Compare page's state in this browser session: its comparison, training run, view choice and link."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import streamlit as st

from bnviz.compare import MAX_ARMS, Comparison, default_comparison
from bnviz.comparison_record import ComparisonRecord
from bnviz.compare_summary import comparison_table
from bnviz.config import FIELDS, ConfigError, Field, RunConfig, parse_lenient
from bnviz.live import ACTIVE, Limiter, LiveRun
from bnviz.ui import sidebar
from bnviz.ui.session import RUN_PARAM
from bnviz.ui.share import AUTORUN, FIELD_OF, Selection, channel_problem, url_fields

STATE_KEY = "bnviz.compare"
DEFAULT_VIEWS = (5, 1, 4)  # loss and accuracy first: the verdict; then what BN does and why it helps
HIST = "hist"  # URL parameter: histograms as small multiples per arm, or each arm minus arm A
HIST_MODES = ("arms", "difference")
VIEW_KEYS = (*FIELD_OF, AUTORUN, HIST)
PAGE = "pages/Compare.py"  # the badge's link back
BADGE_REFRESH_S = 2.0  # as the lab's badge: well inside the heartbeat timeout


@dataclass
class CompareState:
    """One session's comparison: what is compared, its run (a LiveRun of the Comparison) and what is shown."""

    comparison: Comparison | None = None
    selection: Selection = field(default_factory=lambda: Selection(views=DEFAULT_VIEWS))
    hist: str = "arms"
    run: LiveRun | None = None
    problems: list[str] = field(default_factory=list)  # link parameters ignored, shown as warnings
    errors: list[str] = field(default_factory=list)  # the last arms edit that could not be applied
    autorun: bool = False
    cache: dict = field(default_factory=dict)  # the record the charts show and their figures

    def train(self, limiter: Limiter) -> LiveRun:
        """Resume the paused run of this comparison, or start a new one in one limiter slot."""
        if self.run is not None and self.run.cfg == self.comparison and self.run.state == "paused":
            self.run.start()
            return self.run
        self.reset()
        self.run = LiveRun(self.comparison, limiter)
        self.run.start()
        return self.run

    def reset(self):
        if self.run is not None:
            self.run.stop(wait=2.0)
        self.run, self.cache = None, {}

    @property
    def training(self) -> bool:
        return self.run is not None and self.run.state in ACTIVE


def compare_state(base: RunConfig) -> tuple[CompareState, bool]:
    """This session's CompareState and whether it was just made (from the URL, or from `base`, the lab's config)."""
    state = st.session_state.get(STATE_KEY)
    if state is not None:
        return state, False
    state = CompareState()
    params = st.query_params.to_dict()
    state.comparison, state.problems = read_comparison(params, base, sidebar.devices())
    state.selection, state.hist, state.autorun, view_problems = read_view(params, state.comparison.base.model,
                                                                          state.comparison.steps)
    state.problems += view_problems
    st.session_state[STATE_KEY] = state
    return state, True


def training_badge():
    """On pages other than Compare: the comparison's progress, a link back, and the heartbeat that keeps it
    training while its user reads another page (as session.training_badge does for the lab's run)."""
    state = st.session_state.get(STATE_KEY)
    if state is None or not state.training:
        return

    @st.fragment(run_every=BADGE_REFRESH_S)
    def badge():
        run = state.run
        if run is None:  # reset in another tab
            return
        run.heartbeat()
        p = run.progress()
        # A page link is one line in the sidebar: the words to click, then the progress in a caption.
        st.sidebar.page_link(PAGE, label="Comparison training" if p.state in ACTIVE else "Comparison ended",
                             icon=":material/compare:")
        st.sidebar.caption(f"Compare: step {p.steps_done:,} / {p.steps:,} ({p.state}).")

    badge()


def read_comparison(params: dict[str, str], base: RunConfig, devices: list[str]) -> tuple[Comparison, list[str]]:
    """The link's base and arms, or without arms the default preset on `base` (the lab's settings); each bad,
    unknown or absent-device parameter is named with what is allowed and the value used instead."""
    params = {k: v for k, v in params.items() if k not in VIEW_KEYS and k != RUN_PARAM}  # run=: the lab's run
    problems = _absent_devices(params, devices)
    if not any(k.startswith("arm") for k in params):  # opened from the menu, or a lab link: BN vs none
        _, base_problems = RunConfig.from_params_lenient(params)  # what `base` was read from, named here
        return default_comparison(base), problems + base_problems
    comparison, arm_problems = Comparison.from_params_lenient(params)
    return comparison, problems + arm_problems


def _absent_devices(params: dict[str, str], devices: list[str]) -> list[str]:
    """Drop (and name) `device` and `armN.device` values this machine lacks, as the lab does for its device."""
    problems = []
    keys = {"device", *(f"arm{n}.device" for n in range(1, MAX_ARMS + 1))}  # other arms: named unknown later
    for key in [k for k in params if k in keys]:
        try:
            device = FIELDS["device"].parse(key, params[key])
            FIELDS["device"].check(key, device)
        except ConfigError:
            continue  # not a device at all: the lenient parser names it
        if device not in devices:
            params.pop(key)
            instead = "the default auto" if key == "device" else "the base's device"
            problems.append(f"{key}={device!r} is not present on this machine: one of {', '.join(devices)}; "
                            f"using {instead}")
    return problems


def view_fields(model: str) -> dict[str, Field]:
    return url_fields(model) | {HIST: Field(str, "histograms: a row per arm, or each arm minus arm A", HIST_MODES)}


def read_view(params: dict[str, str], model: str, steps: int) -> tuple[Selection, str, bool, list[str]]:
    """(selection, hist mode, autorun, problems) from the link; a bad value (a step past the comparison's `steps`
    too) is named and its default used."""
    default = Selection(views=DEFAULT_VIEWS)
    defaults = {key: getattr(default, name) for key, name in FIELD_OF.items()} | {AUTORUN: False, HIST: "arms"}
    values, problems = parse_lenient(view_fields(model), {k: v for k, v in params.items() if k in VIEW_KEYS},
                                     defaults)
    autorun, hist = values.pop(AUTORUN, False), values.pop(HIST, "arms")
    problem = channel_problem(model, values.get("site", default.site), values.get("channel"))
    if problem:  # in range for the model, not for the site shown
        problems.append(problem)
        values.pop("channel")
    if values.get("step") is not None and values["step"] > steps:
        problems.append(f"step={values.pop('step')} is past this comparison's {steps:,} steps; using the default "
                        "latest")
    return replace(default, **{FIELD_OF[key]: value for key, value in values.items()}), hist, autorun, problems


def params_of(state: CompareState) -> dict[str, str]:
    """The whole comparison (base, arms) and what the page shows: the page's share link."""
    specs = view_fields(state.comparison.base.model)
    return {**state.comparison.to_params(), **state.selection.to_params(), HIST: specs[HIST].format(state.hist)}


def write_url(state: CompareState):
    wanted = params_of(state)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def link(state: CompareState, autorun: bool = False) -> str:
    base = (st.context.url or "http://localhost:8501/Compare").split("?")[0]
    return f"{base}?{urlencode(params_of(state) | ({AUTORUN: '1'} if autorun else {}))}"


def copy_link_control(state: CompareState):
    with st.popover("Copy link", icon=":material/link:"):
        st.caption("Opens this comparison (base, arms, views), ready to train:")
        st.code(link(state), language=None, wrap_lines=True)
        st.caption("Starts training as soon as it opens (autorun=1):")
        st.code(link(state, autorun=True), language=None, wrap_lines=True)


def comparison_npz(record: ComparisonRecord) -> bytes:
    """The comparison file exactly as ComparisonRecord.save writes it (`python -m bnviz inspect` reads it)."""
    buffer = io.BytesIO()
    record.save(buffer)
    return buffer.getvalue()


def comparison_csv(record: ComparisonRecord) -> str:
    """compare_summary.comparison_table as CSV: every arm's per-step metrics, the `arm` column first."""
    header, rows = comparison_table(record)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([v if isinstance(v, str) else f"{v:.6g}" for v in row] for row in rows)
    return out.getvalue()


def downloads(record: ComparisonRecord, name: str = "bnviz-comparison"):
    left, right = st.columns(2)
    left.download_button("Comparison record (.npz)", lambda: comparison_npz(record), file_name=f"{name}.npz",
                         mime="application/octet-stream", icon=":material/download:", on_click="ignore",
                         key="cmp.download.npz", help="Every arm's record in one file; `python -m bnviz inspect` "
                                                      "reads it.")
    right.download_button("Metrics (.csv)", lambda: comparison_csv(record), file_name=f"{name}-metrics.csv",
                          mime="text/csv", icon=":material/table:", on_click="ignore", key="cmp.download.csv",
                          help="Loss, accuracy, ms/step and gradient norms per step, one row per arm and step.")
