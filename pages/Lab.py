"""bnviz lab: train the article's CNN live and watch what normalization does to every layer."""

import streamlit as st

from bnviz import hosting
from bnviz.ui import export, lab_views, run_buttons, samples, session, share, sidebar, upload
from bnviz.ui.recalibrate_button import recalibrate_button
from bnviz.ui.entry import through_app

through_app()  # first: at a process's first request this page is rerun through app.py

REFRESH_S = 0.45  # progress and charts while training (the charts update in place: bnviz/ui/live_chart.py)
# The live area's elements are redrawn in place at every refresh. Streamlit fades (marks stale) each element
# of a fragment from the start of its rerun until that element is sent again; for charts that update in
# place that fade says nothing, and with many views it covered the last ones most of the time.
LIVE_CSS = "<style>.st-key-live [data-stale='true'] { opacity: 1 !important; transition: none !important; }</style>"

lab = session.lab_session()
limiter = session.shared_limiter()

cfg, cfg_error = sidebar.draw()
cfg, cfg_error = hosting.apply(cfg, cfg_error, limiter.caps)  # over a hosted cap: cannot train
if cfg is not None:
    lab.config = cfg
if lab.autorun and cfg is not None:
    lab.train(cfg, limiter)
lab.autorun = False
session.heartbeat(lab)

st.html(LIVE_CSS)
st.title("BatchNorm lab")
st.caption("Train a small CNN on real MNIST digits and watch each norm layer live: what goes in (pre), "
           "what comes out (post), the gradients, and the cost. Set the knobs in the sidebar (on a phone, "
           "open it with » at the top left), then press Train.")
if (lesson := sidebar.lesson(lab.config)) is not None:
    st.info(lesson, icon=":material/search:")  # the bundled icon font: no emoji font needed
if limiter.caps:  # what this hosted demo allows
    st.caption(hosting.describe(limiter.caps))
session.link_problems(lab)
upload.lab_upload(lab)  # issue 17: open a record file (its box is in the sidebar)
if cfg_error:
    st.error(f"These settings cannot train: {cfg_error}")

run_buttons.buttons(lab, cfg, limiter)
run = lab.run
training = session.is_training(lab)
record = run.latest_record() if run is not None else None
shown_cfg = run.cfg if run is not None else lab.config
if not training and cfg is not None:
    run_buttons.estimate(cfg, session.step_times())
selection = lab_views.pickers(lab, shown_cfg, record)
share.write_url(lab.config, selection, lab.run_token)


@st.fragment(run_every=REFRESH_S if training else None)
def live():
    """Progress and charts; while training this part alone redraws every REFRESH_S seconds."""
    session.heartbeat(lab)
    current = lab.run
    with st.container(key="live"):
        record = lab_views.shown_record(lab, current)  # one frozen record for every panel of this refresh
        with st.container():  # one block in every state (issue 16: see run_buttons.progress)
            run_buttons.progress(current, limiter, record, session.step_times())
        shown = current.cfg if current is not None else lab.config
        lab_views.draw(lab, lab.selection, record, shown)
        samples.draw(lab, current, record)
    if training and not session.is_training(lab):
        st.rerun()  # the run paused or ended: redraw the page once, without the timer


live()

tools = st.columns([1, 2])
with tools[0]:
    share.copy_link_control(lab.config, selection)
if record is not None and not training:
    with tools[1]:
        export.downloads(record, paused=run.state == "paused")
recalibrate_button(lab, key="lab.recalibrate")
st.caption("bnviz · live BatchNorm lab · the microscope page shows one batch through the model, no training.")
