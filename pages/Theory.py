"""bnviz theory: BatchNorm's mechanics done right, each point where the source article errs shown live."""

import numpy as np
import streamlit as st

from bnviz import plots
from bnviz import theory as th
from bnviz.ui import session
from bnviz.ui.live_chart import plotly_chart
from bnviz.ui.entry import through_app

through_app()  # first: at a process's first request this page is rerun through app.py

PAPER = "[Ioffe & Szegedy 2015](https://arxiv.org/abs/1502.03167)"
TORCH_DOCS = "[PyTorch BatchNorm2d docs](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)"
KERAS_DOCS = "[Keras BatchNormalization docs](https://keras.io/api/layers/normalization_layers/batch_normalization/)"
WU_JOHNSON = "[Wu & Johnson 2021, \"Rethinking 'Batch' in BatchNorm\"](https://arxiv.org/abs/2105.07576)"


def fmt(value: float) -> str:
    return f"{value:.4g}"


# A wide equation scrolls sideways on a phone instead of being clipped at the screen's edge.
st.html("<style>.katex-display { overflow-x: auto; overflow-y: hidden; padding-bottom: 4px; }</style>")
st.title("BatchNorm theory, done right")
session.link_problems(session.lab_session())  # a link's ignored parameters, named, on every page
st.caption("The source article (an untitled Chinese blog post on batch normalization in CNNs) gets "
           "the motivation right but the mechanics "
           "wrong in places. Each section below states the correct rule and computes it live with the same "
           "numpy BatchNorm (`bnviz.batchnorm`) that bnviz tests against PyTorch.")

# --- 1 -----------------------------------------------------------------------------------------
st.header("1. Running statistics track the input x, not the output y")
st.markdown("The article's §3.2 step 3 updates the \"batch mean/std\" from the normalized output y. But y "
            "always has mean ≈ 0 and std ≈ 1, so that rule learns nothing. Real BN keeps running (EMA) "
            "estimates of its **input** x, which eval mode then normalizes with. Set the input's distribution "
            f"and watch both rules over 200 batches of 32 ({PAPER}; {TORCH_DOCS}).")
st.latex(r"\hat\mu \leftarrow (1-m)\,\hat\mu + m\,\mu_B(x), \qquad "
         r"\hat\sigma^2 \leftarrow (1-m)\,\hat\sigma^2 + m\,\tfrac{n}{n-1}\,\sigma_B^2(x), \qquad m = 0.1")
left, right = st.columns(2)
in_mean = left.slider("Input mean", -10.0, 10.0, 5.0, 0.5, key="theory.mean")
in_std = right.slider("Input std", 0.1, 10.0, 2.0, 0.1, key="theory.std")
batches = th.draw_batches(in_mean, in_std, 200, 32)
rules = th.running_rules(batches, th.draw_batches(in_mean, in_std, 1, 256, seed=1)[0])
steps = np.arange(len(rules.running_mean))
with left:
    plotly_chart(plots.lines_figure("Running mean", steps, {"article (from y)": rules.article_mean,
                                                         "PyTorch (from x)": rules.running_mean},
                                 "batches seen", "mean", marks={"true input mean": in_mean}), key="theory.rm")
with right:
    plotly_chart(plots.lines_figure("Running std", steps, {"article (from y)": rules.article_std,
                                                        "PyTorch (from x)": rules.running_std},
                                 "batches seen", "std", marks={"true input std": in_std}), key="theory.rs")
a, b, c = st.columns(3)
a.metric("Train mode output (target)", f"mean {rules.train[0]:.2f}, std {rules.train[1]:.2f}")
b.metric("Eval mode, PyTorch's running stats", f"mean {rules.eval_running[0]:.2f}, std {rules.eval_running[1]:.2f}")
c.metric("Eval mode, the article's stats", f"mean {rules.eval_article[0]:.2f}, std {rules.eval_article[1]:.2f}")
st.caption("Eval mode on 256 fresh inputs: with the article's (0, 1) statistics BN passes x through almost "
           "unchanged, so the next layer sees values it never saw in training.")

# --- 2 -----------------------------------------------------------------------------------------
st.header("2. The transform: normalize, then scale by γ and shift by β")
st.markdown("The article's §3.3 writes y = σ((x − μ)/√(ε + σ²)): σ stands for both an activation and the "
            "std, and the learnable γ and β are gone. Read literally with σ the batch std, it only centres x "
            "(its output std stays the input's). With γ and β, BN can represent any per-channel scale and "
            f"shift, the identity included: γ = √(σ²_B + ε), β = μ_B gives back x ({PAPER}, §3).")
st.latex(r"y = \gamma\,\frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta")
left, right = st.columns(2)
gamma = left.slider("γ (scale)", -3.0, 3.0, 1.5, 0.1, key="theory.gamma")
beta = right.slider("β (shift)", -5.0, 5.0, 1.0, 0.1, key="theory.beta")
aff = th.affine(gamma, beta)
plotly_chart(plots.samples_histogram_figure("Input x (mean 3, std 2), normalized x̂, output y",
                                 {"x": aff.x, "x̂": aff.x_hat, f"y = {gamma:g}·x̂ + {beta:g}": aff.y}, "value",
                                 marks={"β": beta}), key="theory.affine")
a, b, c = st.columns(3)
a.metric("Output y", f"mean {aff.y.mean():.3g}, std {aff.y.std():.3g}", help="β and |γ|, up to eps.")
b.metric("Identity: max |BN(x) − x|", f"{aff.identity_error:.1e}",
         help=f"With γ = {aff.identity_gamma:.4f} and β = {aff.identity_beta:.4f}: float rounding only.")
c.metric("Article's formula, σ = batch std", f"std {aff.article_literal_std:.3g}",
         help="σ·(x − μ)/√(ε + σ²) ≈ x − μ: centred, not scaled.")

# --- 3 -----------------------------------------------------------------------------------------
st.header("3. eps: PyTorch 1e-5, Keras 1e-3")
st.markdown("\"A small positive number less than 1\" is true, but eps also shrinks every channel whose "
            "variance is not far above it. The defaults differ by 100×, so a channel a Keras model squashes "
            f"a PyTorch one leaves alone ({TORCH_DOCS}; {KERAS_DOCS}). eps = 0 is not allowed: a dead "
            "channel (variance 0) would divide 0 by 0, and PyTorch refuses it in training with "
            "`ValueError: batch_norm eps must be positive during training`.")
st.latex(r"\operatorname{std}(y) = |\gamma|\,\sqrt{\frac{\sigma_B^2}{\sigma_B^2 + \epsilon}}")
var_stops = [float(f"{v:.0e}") for v in np.logspace(-8, 2, 21)]
var = st.select_slider("Channel variance σ²_B (log scale)", var_stops, value=1e-4, key="theory.var",
                       format_func=lambda v: f"{v:.0e}")
variances, curves = th.eps_curves()
plotly_chart(plots.lines_figure("Post-BN std (γ = 1) against channel variance", variances,
                             {f"PyTorch eps {th.PYTORCH_EPS:g}": curves[th.PYTORCH_EPS],
                              f"Keras eps {th.KERAS_EPS:g}": curves[th.KERAS_EPS]},
                             "channel variance (log)", "post-BN std", log_x=True,
                             x_marks={f"your variance {var:.0e}": var}), key="theory.eps")
a, b, c = st.columns(3)
a.metric("Post std, PyTorch eps 1e-5", fmt(th.post_std(var, th.PYTORCH_EPS)),
         help=f"Measured with bnviz.batchnorm.normalize: {fmt(th.measured_post_std(var, th.PYTORCH_EPS))}")
b.metric("Post std, Keras eps 1e-3", fmt(th.post_std(var, th.KERAS_EPS)),
         help=f"Measured with bnviz.batchnorm.normalize: {fmt(th.measured_post_std(var, th.KERAS_EPS))}")
c.metric("Variance / Keras eps", fmt(var / th.KERAS_EPS))

# --- 4 -----------------------------------------------------------------------------------------
st.header("4. Momentum: PyTorch's m is Keras's 1 − m")
st.markdown("PyTorch weighs the new batch by `momentum` (default 0.1); Keras weighs the old estimate by its "
            "`momentum` (default 0.99). So PyTorch 0.1 is Keras 0.9 and PyTorch 0.01 is Keras 0.99. PyTorch's "
            "`momentum=None` is a cumulative average of all batches. Running means over 200 batches of 16 "
            f"from N(5, 1), starting at 0 ({TORCH_DOCS}; {KERAS_DOCS}).")
st.latex(r"\text{PyTorch: } \hat\mu \leftarrow (1-m)\,\hat\mu + m\,\mu_B \qquad "
         r"\text{Keras: } \hat\mu \leftarrow k\,\hat\mu + (1-k)\,\mu_B,\ k = 1-m \qquad "
         r"\text{None: } \hat\mu_t = \tfrac{1}{t}\textstyle\sum_{s \le t} \mu_{B_s}")
mine = st.select_slider("Your PyTorch momentum", [0.001, 0.003, 0.03, 0.3, 0.5, 0.9, 1.0], value=0.3,
                        key="theory.momentum", help="Keras equivalent shown in the legend.")
momentum_batches = th.draw_batches(5.0, 1.0, 200, 16, seed=2)
momenta = [0.1, 0.01, None, mine]
trails = th.running_mean_trajectories(momentum_batches, momenta)
labels = {m: f"PyTorch {m:g} = {th.keras_equivalent(m)}" if m is not None else "None: cumulative average"
          for m in momenta}
plotly_chart(plots.lines_figure("Running mean per momentum", np.arange(201),
                             {labels[m]: trails[m] for m in momenta}, "batches seen", "running mean",
                             marks={"true mean 5": 5.0}), key="theory.momenta")
keras_gap = np.abs(th.keras_moving_mean(momentum_batches, 1 - mine) - trails[mine]).max()
a, b = st.columns(2)
a.metric(f"Batches to reach 95% with m = {mine:g}", f"{np.ceil(np.log(0.05) / np.log(1 - mine)):.0f}"
         if mine < 1 else "1", help="(1 − m)^t = 0.05: the initial 0 is forgotten geometrically.")
b.metric(f"Keras rule with k = {1 - mine:.4g}: max gap to PyTorch's", f"{keras_gap:.1e}",
         help="The same numbers, written the other way round.")

# --- 5 -----------------------------------------------------------------------------------------
st.header("5. Train mode vs eval mode")
st.markdown("In training BN normalizes with the batch's own statistics, so a sample's output depends on its "
            "batch-mates; in eval mode it uses the running statistics, one fixed answer. At small batch the "
            "train-mode outputs scatter widely around the eval-mode one, and the EMA itself is noisy: the "
            f"train/eval gap the article never mentions ({WU_JOHNSON}; EvalNorm, Singh & Shrivastava). "
            "With momentum 0 the running statistics stay at (0, 1) and eval mode does not normalize at all.")
st.latex(r"\text{train: } y = \gamma\,\frac{x-\mu_B}{\sqrt{\sigma_B^2+\epsilon}}+\beta \qquad "
         r"\text{eval: } y = \gamma\,\frac{x-\hat\mu}{\sqrt{\hat\sigma^2+\epsilon}}+\beta")
left, right = st.columns(2)
batch_size = left.select_slider("Batch size", [2, 4, 8, 16, 32, 64, 128, 256], value=8, key="theory.batch")
mode_momentum = right.radio("Momentum (PyTorch)", [0.1, 0.01, 0.0, None], key="theory.mode_momentum",
                            horizontal=True, format_func=lambda m: "None (cumulative)" if m is None else f"{m:g}")
gap = th.mode_gap(batch_size, mode_momentum)
plotly_chart(plots.samples_histogram_figure(f"x0 = {gap.sample:g} (inputs N(5, 2²)) in 500 batches of {batch_size}",
                                 {"train-mode outputs of x0": gap.train_outputs}, "BN output of x0",
                                 marks={"eval mode": gap.eval_output, "true (x0 − 5)/2": gap.true_value}),
             key="theory.modes")
a, b, c = st.columns(3)
a.metric("Train mode: spread (std) of x0's output", f"{gap.train_outputs.std():.3f}",
         help=f"Mean {gap.train_outputs.mean():.3f}; the true normalized value is {gap.true_value:g}.")
b.metric("Eval mode output of x0", f"{gap.eval_output:.3f}", help="After 100 training batches of this size.")
c.metric("Running mean / var (true 5 / 4)", f"{gap.running_mean:.2f} / {gap.running_var:.2f}")

st.divider()
st.markdown(f"**Sources.** {PAPER}, Algorithm 1 and §3.1 (inference). {TORCH_DOCS}: "
            "`BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)`, biased "
            f"variance to normalize, unbiased for the running estimate. {KERAS_DOCS}: momentum 0.99, epsilon "
            f"1e-3. {WU_JOHNSON}.")
