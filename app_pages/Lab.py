"""bnviz lab: train the article's CNN live and watch what normalization does to every layer."""

import streamlit as st

from bnviz import hosting
from bnviz.ui import export, lab_views, run_buttons, session, share, sidebar
from bnviz.ui.recalibrate_button import recalibrate_button

REFRESH_S = 0.45  # progress and charts while training (the charts update in place: bnviz/ui/live_chart.py)

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

st.title("BatchNorm lab")
st.caption("Train a small CNN on real MNIST digits and watch each norm layer live: what goes in (pre), "
           "what comes out (post), the gradients, and the cost. Move a knob on the left, press Train.")
if limiter.caps:  # what this hosted demo allows
    st.caption(hosting.describe(limiter.caps))
session.link_problems(lab)
if cfg_error:
    st.error(f"These settings cannot train: {cfg_error}")

run_buttons.buttons(lab, cfg, limiter)
run = lab.run
training = session.is_training(lab)
record = run.latest_record() if run is not None else None
shown_cfg = run.cfg if run is not None else lab.config
selection = lab_views.pickers(lab, shown_cfg, record)
share.write_url(lab.config, selection)


@st.fragment(run_every=REFRESH_S if training else None)
def live():
    """Progress and charts; while training this part alone redraws every REFRESH_S seconds."""
    session.heartbeat(lab)
    current = lab.run
    run_buttons.progress(current, limiter)
    model = (current.cfg if current is not None else lab.config).model
    lab_views.draw(lab, lab.selection, lab_views.shown_record(lab, current), model)
    if training and not session.is_training(lab):
        st.rerun()  # the run paused or ended: redraw the page once, without the timer


live()

tools = st.columns([1, 2])
with tools[0]:
    share.copy_link_control(lab.config, selection)
if record is not None and not training:
    with tools[1]:
        export.downloads(record)
recalibrate_button(lab, key="lab.recalibrate")
st.caption("bnviz · live BatchNorm lab · the microscope page shows one batch through the model, no training.")
