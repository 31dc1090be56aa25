"""bnviz compare: two to four paired runs trained side by side in lockstep, every lab view for every arm."""

import streamlit as st

from bnviz.ui import compare_arms, compare_session, compare_upload, compare_views, session
from bnviz.ui.compare_session import CompareState
from bnviz.ui.entry import through_app

through_app()  # first: at a process's first request this page is rerun through app.py

REFRESH_S = 0.45  # as the lab: progress and charts while training, updated in place
FIRST_RECORD_WAIT_S = 0.8  # as the lab's Train: the first charts come in this click's own redraw

lab = session.lab_session()
limiter = session.shared_limiter()
state, opened = compare_session.compare_state(lab.config)
if opened:
    lab.problems = []  # this link was read here: its parameters are reported on this page, not the lab's
if state.autorun:
    state.autorun = False
    state.train(limiter).wait_for_first_record(FIRST_RECORD_WAIT_S)

st.title("Compare: paired runs side by side")
st.caption("Two to four arms train together, in lockstep, from the same seed: the same data order and the same "
           "initial weights wherever a layer is the same, so what differs is what the arms change. The base is the "
           "lab's settings; every view shows every arm at the same step, one colour per arm.")
for problem in state.problems:
    st.warning(f"Link parameter ignored: {problem}")
compare_upload.compare_upload(state)  # open a comparison file (its box is in the sidebar)

with st.expander("Arms: " + " · ".join(state.comparison.labels), expanded=state.run is None,
                 icon=":material/call_split:"):
    compare_arms.editor(state, lab.config)
comparison = state.comparison


def _train(state: CompareState):
    state.train(limiter).wait_for_first_record(FIRST_RECORD_WAIT_S)


run = state.run
active, paused = state.training, run is not None and run.state == "paused"
differs = run is not None and run.cfg != comparison
if differs:
    st.info("The arms changed since this comparison started: the charts show the one that ran. Train to start "
            "the new one.")
label = ("Restart with the new arms" if differs and (active or paused) else "Resume" if paused else
         "Train again" if run is not None and not active and not differs else "Train")
train, pause, reset = st.columns([2, 1, 1])
train.button(label, type="primary", icon=":material/play_arrow:", key="cmp.run.train", width="stretch",
             disabled=active and not differs, on_click=_train, args=(state,))
pause.button("Pause", icon=":material/pause:", key="cmp.run.pause", width="stretch", disabled=not active,
             on_click=lambda: state.run and state.run.pause())
reset.button("Reset", icon=":material/restart_alt:", key="cmp.run.reset", width="stretch", disabled=run is None,
             on_click=state.reset)

shown = run.cfg if run is not None else comparison
selection = compare_views.pickers(state, shown)
compare_session.write_url(state)
training = state.training


@st.fragment(run_every=REFRESH_S if training else None)
def live():
    """Progress, summary and charts; while training this part alone redraws every REFRESH_S seconds."""
    current = state.run
    if current is not None:
        current.heartbeat()
    record = current.latest_record() if current is not None else None
    # Each place holds a block in every state: a time-sliced comparison flips between waiting and training at
    # every refresh, and a place that is an element in one refresh and a block in the next crashes the
    # Streamlit 1.67 frontend under load (bnviz/ui/run_buttons.py:progress says how it was found).
    with st.container():
        compare_views.arm_status(state, record)
    with st.container():
        if record is not None:
            compare_views.summary(record)
    compare_views.draw(state, state.selection, record, current.cfg if current is not None else comparison)
    if training and not state.training:
        st.rerun()  # the comparison paused or ended: redraw the page once, without the timer


live()

tools = st.columns([1, 2])
with tools[0]:
    compare_session.copy_link_control(state)
record = state.run.latest_record() if state.run is not None else None
if record is not None and not state.training:
    with tools[1]:
        compare_session.downloads(record)
st.caption("bnviz · live BatchNorm lab · compare: the arms share one training slot and advance together.")
