"""bnviz microscope: one batch of real images through the model, one norm site up close, no training."""

import streamlit as st

from bnviz.config import NORM_WIDTHS
from bnviz.models import site_names
from bnviz import plots
from bnviz.ui import scope, session
from bnviz.ui.live_chart import plotly_chart
from bnviz.ui.recalibrate_button import recalibrate_button
from bnviz.ui.sidebar import BATCH_SIZES, EPS_STOPS, nearest
from bnviz.ui.entry import through_app

through_app()  # first: at a process's first request this page is rerun through app.py

lab = session.lab_session()  # opened directly: the URL's knobs (read by app.py); coming from the lab: the lab's

st.title("Normalization microscope")
st.caption("One batch of B real training images goes through the model, and this is what one norm layer does "
           "to it. Nothing trains here: move the batch size and eps and watch.")
session.link_problems(lab)

with st.sidebar:
    lab_step = scope.lab_step(lab)
    source = st.radio("Model", ["fresh", "lab"], key="scope.source", disabled=lab_step is None,
                      format_func=lambda s: "Fresh, built from the lab's settings" if s == "fresh"
                      else "The lab's model, as trained so far")
    cfg = lab.run.cfg if source == "lab" and lab_step is not None else lab.config
    sites = site_names(cfg.model)
    site = st.selectbox("Norm site", sites, key="scope.site")
    batch_size = st.select_slider("Batch size B (log scale)", BATCH_SIZES, key="scope.batch_size",
                                  value=nearest(BATCH_SIZES, cfg.batch_size))
    eps = st.select_slider("eps (log scale)", EPS_STOPS, key="scope.eps", value=nearest(EPS_STOPS, cfg.eps),
                           format_func=lambda v: f"{v:g}", help="The norm output is recomputed from its input "
                                                                "with this eps, at this site only.")
    channel = st.selectbox("Channel", ["all", *range(NORM_WIDTHS[cfg.model][sites.index(site)])],
                           key="scope.channel")
    channel = None if channel == "all" else int(channel)
    log_y = st.toggle("Log counts", key="scope.log_y",
                      help="A log count axis: the tails and a tall spike show together.")
    full_range = st.toggle("Full range", key="scope.full_range",
                           help="Every value on the axis. Off: the 0.5-99.5th percentile, what falls outside counted.")

if source == "lab" and lab_step is not None:
    seen = scope.lab_model_step(lab)
    if st.button(f"Update to the lab's latest step ({lab_step})", key="scope.update",
                 disabled=seen == lab_step) or seen is None:
        seen = scope.use_lab_model(lab)
    st.caption(f"Looking at the lab's model at step {seen} ({cfg.norm} norm, placement {cfg.placement}).")
else:
    scope.use_fresh_model(lab, cfg)
    st.caption(f"Looking at a freshly initialized {cfg.model} (seed {cfg.seed}): {cfg.norm} norm, "
               f"placement {cfg.placement}, eps {cfg.eps:g}; change them in the lab.")
if not cfg.normalized:
    st.info("This model does not normalize (norm or placement is none): post is pre. Pick a norm in the lab.")

look = scope.look(lab, cfg, site, batch_size, eps, channel)
timings = scope.scope_of(lab).timings
if scope.scope_of(lab).dataset_note:  # the short line; the loader's whole message (a long one) folded below it
    st.warning(scope.scope_of(lab).dataset_note)
    with st.expander("Why, and how to get that dataset"):
        st.caption(scope.scope_of(lab).dataset_error)
a, b, c, d = st.columns(4)
a.metric("Compute", f"{timings['total_ms']:.0f} ms", help="Server time for this view: the forward pass "
         "(only when the model, batch size or site changed) plus the recomputation at this eps.")
b.metric("Post std (train mode)", f"{look.stats['post'][1]:.3g}", help="Of the values shown.")
smallest = look.smallest_var_channel
c.metric(f"Smallest batch variance (channel {smallest})", f"{look.channel_var[smallest]:.3g}",
         delta=f"{look.channel_var[smallest] / eps:.3g} x eps" if eps > 0 else None, delta_color="off",
         delta_arrow="off", help="The channel eps affects most: pick it in Channel to watch it.")
d.metric("Eval vs train mode", "differ" if look.eval_differs else "identical",
         help="Only BatchNorm keeps running statistics; other norms compute the same in both modes.")

left, right = st.columns(2)
with left:
    plotly_chart(plots.look_histograms_figure(look, ("pre", "post"), "pre vs post", log_y=log_y,
                                             robust=not full_range), key="scope.prepost")
    st.caption("Post is pre shifted and scaled per channel by the batch's own mean and variance: mean beta, "
               "std gamma (0 and 1 at init), whatever pre looks like.")
with right:
    plotly_chart(plots.look_histograms_figure(look, ("post", "eval"), "train mode vs eval mode",
                                             log_y=log_y, robust=not full_range), key="scope.modes")
    st.caption("Train mode uses this batch's statistics, eval mode the running ones. At init the running stats "
               "are (0, 1), so eval mode barely normalizes; at small B the batch statistics are noisy.")
left, right = st.columns(2)
with left:
    plotly_chart(plots.eps_figure(look), key="scope.eps_chart")
    st.caption(f"Each dot is a channel. Far above eps the output std is |gamma|; near eps it shrinks by "
               f"sqrt(var / (var + eps)). Channel {smallest} has the smallest variance: pick it to see eps at work.")
with right:
    plotly_chart(plots.means_figure(look), key="scope.means")
    st.caption("The per-channel mean that train mode subtracts (this batch) and that eval mode subtracts "
               "(the running estimate). Their gap is the train/eval mismatch.")
recalibrate_button(lab, key="scope.recalibrate")
st.caption("bnviz · microscope · nothing here changes the lab's model or its running statistics.")
