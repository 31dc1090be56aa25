"""The theory page's demonstrations of where the source article is wrong about BN, computed with bnviz.batchnorm."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bnviz import batchnorm as bn
from bnviz.batchnorm import post_std  # the page shows th.post_std beside its measured twin

PYTORCH_EPS, KERAS_EPS = 1e-5, 1e-3  # the frameworks' defaults (BatchNorm2d docs, Keras BatchNormalization docs)
PYTORCH_MOMENTUM, KERAS_MOMENTUM = 0.1, 0.99


def _check(name: str, value: float, low: float, high: float):
    if not (np.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}={value!r} is out of range: {low:g}..{high:g}")


def _stats(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std())


def draw_batches(mean: float, std: float, batches: int, batch_size: int, seed: int = 0) -> np.ndarray:
    """`batches` batches of one channel drawn from N(mean, std^2): shape (batches, batch_size, 1)."""
    _check("std", std, 1e-6, 1e6)
    _check("batch_size", batch_size, 2, 4096)  # PyTorch refuses to train BN on one value per channel
    return np.random.default_rng(seed).normal(mean, std, size=(batches, batch_size, 1))


# --- 1. running statistics track the input x, not the output y --------------------------------------
@dataclass(frozen=True)
class RunningRules:
    """Both rules over the same batches; index 0 is the state before the first batch (PyTorch's 0, 1)."""

    article_mean: np.ndarray  # the article's 3.2 step 3: statistics of the normalized output y
    article_std: np.ndarray
    running_mean: np.ndarray  # PyTorch: EMA of the input's batch mean and unbiased variance
    running_std: np.ndarray
    eval_article: tuple[float, float]  # (mean, std) of eval-mode outputs on fresh data, per rule
    eval_running: tuple[float, float]
    train: tuple[float, float]  # the same fresh batch in train mode: the target


def running_rules(batches: np.ndarray, test_batch: np.ndarray, momentum: float | None = PYTORCH_MOMENTUM,
                  eps: float = PYTORCH_EPS) -> RunningRules:
    """Feed `batches` through BN (gamma 1, beta 0) keeping both rules' statistics, then run `test_batch` in
    eval mode with each."""
    one, zero = np.ones(1), np.zeros(1)
    article, running = bn.RunningStats.fresh(1), bn.RunningStats.fresh(1)
    trail = [(0.0, 1.0, 0.0, 1.0)]
    for x in batches:
        y_mean, y_var = bn.batch_stats(bn.normalize(x, one, zero, eps))
        article = bn.RunningStats(y_mean, y_var, article.batches + 1)  # taken literally: replace, from y
        running = bn.update_running(running, x, momentum)
        trail.append((article.mean[0], np.sqrt(article.var[0]), running.mean[0], np.sqrt(running.var[0])))
    a_mean, a_std, r_mean, r_std = np.array(trail).T
    return RunningRules(a_mean, a_std, r_mean, r_std,
                        _stats(bn.normalize_eval(test_batch, article, one, zero, eps)),
                        _stats(bn.normalize_eval(test_batch, running, one, zero, eps)),
                        _stats(bn.normalize(test_batch, one, zero, eps)))


# --- 2. the affine step: gamma and beta ---------------------------------------------------------
@dataclass(frozen=True)
class Affine:
    x: np.ndarray  # the input, one channel
    x_hat: np.ndarray  # normalized: (x - mu_B) / sqrt(var_B + eps)
    y: np.ndarray  # gamma * x_hat + beta
    identity_gamma: float  # sqrt(var_B + eps): with identity_beta = mu_B, BN gives back x
    identity_beta: float
    identity_error: float  # max |BN(x; identity_gamma, identity_beta) - x|
    article_literal_std: float  # std of the article's 3.3 with sigma read as the batch std: sigma * x_hat


def affine(gamma: float, beta: float, mean: float = 3.0, std: float = 2.0, n: int = 1000,
           eps: float = PYTORCH_EPS, seed: int = 0) -> Affine:
    _check("gamma", gamma, -1e3, 1e3)
    _check("beta", beta, -1e3, 1e3)
    x = draw_batches(mean, std, 1, n, seed)[0]
    mu, var = bn.batch_stats(x)
    x_hat = bn.normalize(x, np.ones(1), np.zeros(1), eps)
    y = bn.normalize(x, np.array([gamma]), np.array([beta]), eps)
    identity_gamma = np.sqrt(var + eps)
    back = bn.normalize(x, identity_gamma, mu, eps)
    return Affine(x[:, 0], x_hat[:, 0], y[:, 0], float(identity_gamma[0]), float(mu[0]),
                  float(np.abs(back - x).max()), float((np.sqrt(var) * x_hat).std()))


# --- 3. eps --------------------------------------------------------------------------------------
def measured_post_std(var: float, eps: float, n: int = 256, seed: int = 0) -> float:
    """The same, measured: bn.normalize on a sample whose biased variance is exactly var."""
    _check("var", var, 1e-12, 1e6)
    _check("eps", eps, 0.0, 1.0)
    z = np.random.default_rng(seed).normal(size=(n, 1))
    x = (z - z.mean()) / z.std() * np.sqrt(var)
    return float(bn.normalize(x, np.ones(1), np.zeros(1), eps).std())


def eps_curves(eps_values=(PYTORCH_EPS, KERAS_EPS), low: float = 1e-8, high: float = 1e2,
               points: int = 121) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Channel variances (log-spaced) and the post-BN std at each, per eps."""
    var = np.logspace(np.log10(low), np.log10(high), points)
    return var, {eps: post_std(var, eps) for eps in eps_values}


# --- 4. momentum conventions ---------------------------------------------------------------------
def keras_equivalent(momentum: float | None) -> str:
    """Keras writes moving = moving * m + batch * (1 - m): its m is 1 - PyTorch's."""
    k = bn.keras_momentum(momentum)
    return "no Keras equivalent (cumulative average)" if k is None else f"Keras momentum={k:.4g}"


def running_mean_trajectories(batches: np.ndarray, momenta) -> dict[float | None, np.ndarray]:
    """Running mean after each batch (index 0: the initial 0) for each PyTorch momentum (None: cumulative)."""
    out = {}
    for momentum in momenta:
        stats, trail = bn.RunningStats.fresh(1), [0.0]
        for x in batches:
            stats = bn.update_running(stats, x, momentum)
            trail.append(stats.mean[0])
        out[momentum] = np.array(trail)
    return out


def keras_moving_mean(batches: np.ndarray, keras_momentum: float) -> np.ndarray:
    """Keras's moving mean over the same batches, written out from its own rule."""
    moving, trail = 0.0, [0.0]
    for x in batches:
        moving = moving * keras_momentum + x.mean() * (1 - keras_momentum)
        trail.append(moving)
    return np.array(trail)


# --- 5. train vs eval mode -----------------------------------------------------------------------
@dataclass(frozen=True)
class ModeGap:
    sample: float  # one fixed input value x0
    true_value: float  # (x0 - mean) / std: what normalization should give it
    train_outputs: np.ndarray  # x0's train-mode output in each of many batches (batch statistics)
    eval_output: float  # x0's eval-mode output (running statistics after `steps` training batches)
    running_mean: float
    running_var: float


def train_outputs(x: np.ndarray, eps: float = PYTORCH_EPS) -> np.ndarray:
    """Train-mode output of row 0 of each column of x (batch_size, n_batches): one column = one batch."""
    return bn.normalize(x, np.ones(x.shape[1]), np.zeros(x.shape[1]), eps)[0]


def mode_gap(batch_size: int, momentum: float | None, mean: float = 5.0, std: float = 2.0, batches: int = 500,
             steps: int = 100, eps: float = PYTORCH_EPS, seed: int = 0) -> ModeGap:
    """x0 = mean + std, seen in `batches` random batches of `batch_size` vs through running statistics
    learned from `steps` batches of the same size."""
    if momentum is not None:
        _check("momentum", momentum, 0.0, 1.0)
    running_batches = draw_batches(mean, std, steps, batch_size, seed + 1)  # also checks std and batch_size
    x0 = mean + std
    x = np.random.default_rng(seed).normal(mean, std, size=(batch_size, batches))
    x[0] = x0  # the same sample in every batch; its batch-mates differ
    stats = bn.RunningStats.fresh(1)
    for batch in running_batches:
        stats = bn.update_running(stats, batch, momentum)
    eval_output = bn.normalize_eval(np.array([[x0]]), stats, np.ones(1), np.zeros(1), eps)
    return ModeGap(x0, 1.0, train_outputs(x, eps), float(eval_output[0, 0]), float(stats.mean[0]),
                   float(stats.var[0]))
