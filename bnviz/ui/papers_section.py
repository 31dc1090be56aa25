"""One reproduction's section of the Papers page: claim, source, setups, numbers, verdict and figures, drawn from
the shipped result at once, or from this session's live run (bnviz.papers.live.PaperJob) as it trains."""

from __future__ import annotations

import streamlit as st

from bnviz import papers
from bnviz.papers.live import PaperJob
from bnviz.papers.numbers import our_rows, paper_rows
from bnviz.plots import papers as paper_plots
from bnviz.ui.live_chart import Prepared, plotly_chart

REFRESH_S = 1.0  # a live reproduction's figures and verdict redraw this often
JOBS_KEY = "papers.jobs"
SHOWN_KEY = "papers.shown"  # the reproduction on screen
BUDGET_LABELS = {"quick": "quick (about a minute)", "test": "tiny (the test suite's: seconds)"}


def jobs() -> dict[str, PaperJob]:
    """This session's live reproductions by name (the last one started of each)."""
    return st.session_state.setdefault(JOBS_KEY, {})


LABELS = {"ioffe2015": "BN paper, Fig. 1", "wu2018": "GroupNorm, Fig. 1", "higher_lr": "Higher learning rates",
          "small_batch": "Small-batch gap", "santurkar2018": "Noisy BN"}  # the selector's short names


def short_title(name: str) -> str:
    return LABELS.get(name) or papers.get(name).title.split(":")[0]


def elsewhere(shown: str):
    """Say which of this session's live runs train while another reproduction is on screen."""
    others = [short_title(n) for n, job in jobs().items() if n != shown and job.active]
    if others:
        st.caption(f"Live run still under way: {', '.join(others)} (pick it above to watch it).")


def start(name: str, budget: str, limiter, configs=None) -> PaperJob:
    old = jobs().get(name)
    if old is not None and old.active:
        return old
    job = PaperJob(name, budget, limiter, configs).start()
    jobs()[name] = job
    return job


@st.cache_resource(show_spinner=False, max_entries=16)
def _shipped(name: str, stamp: float) -> tuple[dict | None, list[tuple[str, Prepared]]]:
    """The shipped result of `name` and its figures as JSON, built once per process (and again only when the
    file changes: `stamp` is its mtime); every visitor is sent the same prepared figures."""
    result = papers.shipped(name)
    measured = result["measured"] if result else {}
    return result, [(slug, Prepared(fig)) for slug, fig in paper_plots.figures(name, measured, papers.get(name).paper)]


def shipped(name: str) -> tuple[dict | None, list[tuple[str, Prepared]]]:
    path = papers.SHIPPED / f"{name}.json"
    return _shipped(name, path.stat().st_mtime if path.is_file() else 0.0)


def header(rep: papers.Reproduction):
    st.header(rep.title, anchor=rep.name)
    st.markdown(f"**Claim.** {rep.claim}")
    st.caption(f"Source: {rep.source}")
    left, right = st.columns(2)
    left.markdown(f"**The paper's setup.** {rep.paper_setup}")
    right.markdown(f"**Ours.** {rep.our_setup}")
    st.markdown(f"**Smaller here, and why.** {rep.smaller}")


def _provenance(result: dict) -> str:
    p = result.get("provenance") or {}
    return (f"Shipped result, {result.get('budget')} budget ({result.get('runs')} runs, {p.get('wall_s')} s, "
            f"{p.get('threads')} torch thread(s)); made by `{p.get('command')}` at commit "
            f"{str(p.get('commit', '?'))[:10]} on {p.get('finished_utc', '?')}.")


def _live_line(snap: dict) -> str:
    if snap["state"] == "queued":
        where = f" (number {snap['position']} in line)" if snap["position"] else ""
        return f"Live run queued behind other trainings{where}."
    words = {"running": "Live run training", "finished": "Live run finished", "stopped": "Live run stopped",
             "failed": "Live run failed"}[snap["state"]]
    return f"{words}: step {snap['done']:,} of {snap['total']:,}, {snap['runs']} of {snap['of']} runs measured."


def verdict(rep: papers.Reproduction, result: dict | None):
    if result is None:
        st.info("No result yet: the verdict is computed once every arm has trained a little.")
        return
    if result.get("holds") is None:
        st.info("Verdict once every arm has trained: measuring the runs so far.")
    else:
        partial = " (on the partial data so far)" if result.get("partial") else ""
        show = st.success if result["holds"] else st.warning
        show(f"**Verdict{partial}:** {result['verdict']}.")
    st.caption(f"Threshold: {rep.threshold}.")


def _table(title: str, rows: list[tuple[str, str]]) -> str:
    """A markdown table: drawn with the page's text (st.table would first load the browser's table code)."""
    cells = [(what, value.replace("|", "\\|")) for what, value in rows] or [("(none yet)", "")]
    return "\n".join([f"**{title}**", "", "| what | value |", "|---|---|", *(f"| {w} | {v} |" for w, v in cells)])


def numbers(rep: papers.Reproduction, result: dict | None):
    left, right = st.columns(2)
    left.markdown(_table("The paper's numbers", paper_rows(rep.paper)))
    right.markdown(_table("Our numbers", our_rows(rep.name, result["measured"]) if result else []))


def figures(rep: papers.Reproduction, result: dict | None, figs=None):
    """The figures of `result` (or `figs`, already prepared), side by side."""
    if figs is None:
        figs = paper_plots.figures(rep.name, result["measured"] if result else {}, rep.paper)
    for column, (slug, fig) in zip(st.columns(len(figs)) if len(figs) > 1 else [st.container()], figs):
        with column:
            plotly_chart(fig, key=f"papers.{rep.name}.{slug}")


def controls(rep: papers.Reproduction, limiter):
    job = jobs().get(rep.name)
    active = job is not None and job.active
    left, mid, right = st.columns([2, 1, 1])
    budget = left.radio("Budget", list(BUDGET_LABELS), format_func=BUDGET_LABELS.get, horizontal=True,
                        key=f"papers.{rep.name}.budget", disabled=active,
                        help=" / ".join(f"{b}: {rep.budgets.get(b, '')}" for b in BUDGET_LABELS))
    if mid.button("Run it here", key=f"papers.{rep.name}.run", disabled=active, type="primary"):
        start(rep.name, budget, limiter)
        st.rerun()
    if right.button("Stop", key=f"papers.{rep.name}.stop", disabled=not active):
        job.stop(wait=2.0)
        st.rerun()


def section(name: str, limiter):
    """The whole section of reproduction `name`."""
    rep = papers.get(name)
    header(rep)
    controls(rep, limiter)
    job = jobs().get(name)
    live = job is not None and job.active

    @st.fragment(run_every=REFRESH_S if live else None)
    def body():
        current, figs = jobs().get(name), None
        if current is None:
            result, figs = shipped(name)
            st.caption(_provenance(result) if result else "No shipped result: press Run it here.")
        else:
            snap = current.snapshot()
            result = snap["result"]
            st.caption(_live_line(snap) + " The shipped result shows again on a new visit.")
            if snap["error"]:
                st.error(f"The live run failed: {snap['error']}")
        figures(rep, result, figs)
        verdict(rep, result)
        numbers(rep, result)
        if live and current is not None and not current.active:
            st.rerun()  # finished: redraw once without the timer

    body()
