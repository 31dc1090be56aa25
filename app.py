"""bnviz lab: train the article's CNN live and watch what normalization does to every layer."""

import streamlit as st

from bnviz import hosting
from bnviz.ui import controls, export, session, share, sidebar, views

REFRESH_S = 0.45  # progress and charts while training (the charts update in place: bnviz/ui/live_chart.py)

st.set_page_config(page_title="bnviz · BatchNorm lab", page_icon=":material/insights:", layout="wide")
lab = session.lab_session()
limiter = session.shared_limiter()
autorun = session.open_lab(lab)
session.nav()

cfg, cfg_error = sidebar.draw()
cfg, cfg_error = hosting.apply(cfg, cfg_error, limiter.caps)  # issue 16: over a hosted cap -> cannot train
if cfg is not None:
    lab.config = cfg
if autorun and cfg is not None:
    lab.train(cfg, limiter)
session.heartbeat(lab)

st.title("BatchNorm lab")
st.caption("Train a small CNN on real MNIST digits and watch each norm layer live: what goes in (pre), "
           "what comes out (post), the gradients, and the cost. Move a knob on the left, press Train.")
if limiter.caps:  # issue 16: what this hosted demo allows
    st.caption(hosting.describe(limiter.caps))
for problem in lab.problems:
    st.warning(f"Link parameter ignored: {problem}")
if cfg_error:
    st.error(f"These settings cannot train: {cfg_error}")

controls.buttons(lab, cfg, limiter)
run = lab.run
training = session.is_training(lab)
record = run.view() if run is not None else None
shown_cfg = run.cfg if run is not None else lab.config
view = views.controls(lab, shown_cfg, record)
share.write_url(lab.config, view)


@st.fragment(run_every=REFRESH_S if training else None)
def live():
    """Progress and charts; while training this part alone redraws every REFRESH_S seconds."""
    session.heartbeat(lab)
    current = lab.run
    controls.progress(current, limiter)
    model = (current.cfg if current is not None else lab.config).model
    views.charts(lab, lab.view, views.shown_record(lab, current), model)
    if training and not session.is_training(lab):
        st.rerun()  # the run paused or ended: redraw the page once, without the timer


live()

tools = st.columns([1, 2])
with tools[0]:
    share.copy_link_control(lab.config, view)
if record is not None and not training:
    with tools[1]:
        export.downloads(record)
st.caption("bnviz · live BatchNorm lab · the microscope page shows one batch through the model, no training.")
