"""Ioffe & Szegedy 2015, Fig. 1: with BN an MLP of sigmoids trains faster and its sigmoid inputs stay put."""

from __future__ import annotations

import numpy as np

from bnviz.config import GAUSSIAN_STD, RunConfig
from bnviz.papers.base import Reproduction, final_test_acc
from bnviz.papers.runs import Run

SITE = "block3.norm"  # the last hidden layer; its post (the BN output, or the bare fc output) is the sigmoid input
UNIT = 0  # the "typical sigmoid": unit 0, fixed before looking (the units are exchangeable at a random init)
QUANTILES = (15, 50, 85)
ACC_BAR = 0.8  # "sooner": the first evaluation at or above this test accuracy
STEPS = {"test": 300, "quick": 1500, "full": 10_000}


def configs(budget: str) -> list[RunConfig]:
    steps = STEPS[budget]
    base = RunConfig(model="mlp", activation="sigmoid", init="gaussian", batch_size=60, optimizer="sgd", lr=0.5,
                     placement="before", steps=steps, eval_every=max(1, steps // 20),
                     record_every=max(1, steps // 100))
    return [base.replace(norm="batch"), base.replace(norm="none")]  # norm none, placement before: the bare fc output


def unit_percentiles(counts: np.ndarray, lo: np.ndarray, hi: np.ndarray, quantiles=QUANTILES) -> np.ndarray:
    """Percentiles [snapshots, units, len(quantiles)] from per-unit histograms [snapshots, units, bins] whose
    edges run from lo to hi [snapshots], interpolated linearly inside a bin (resolution: one bin)."""
    bins = counts.shape[-1]
    cum = np.cumsum(counts, axis=-1) / np.maximum(counts.sum(-1, keepdims=True), 1)
    out = np.empty(counts.shape[:2] + (len(quantiles),))
    for k, q in enumerate(quantiles):
        target = q / 100
        idx = np.clip((cum < target).sum(-1), 0, bins - 1)  # the bin the quantile falls in
        below = np.where(idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], -1)[..., 0], 0.0)
        inside = np.take_along_axis(cum, idx[..., None], -1)[..., 0] - below
        frac = np.clip((target - below) / np.where(inside > 0, inside, 1), 0, 1)
        width = (hi - lo)[:, None] / bins
        out[..., k] = lo[:, None] + (idx + frac) * width
    return out


def drift(percentiles: np.ndarray) -> float:
    """How far the percentiles move over training: max - min over snapshots, averaged over the percentiles."""
    return float((percentiles.max(0) - percentiles.min(0)).mean())


def measure(runs: list[Run]) -> dict:
    out = {"site": SITE, "unit": UNIT, "quantiles": list(QUANTILES), "acc_bar": ACC_BAR}
    for run in runs:
        arm = "bn" if run.config.norm == "batch" else "none"
        record, snaps, evals = run.record, run.record.snapshots, run.record.evals
        lo, hi = snaps[f"{SITE}/post/range"].T
        per_unit = unit_percentiles(snaps[f"{SITE}/post/channel_hist"].astype(np.int64), lo, hi)
        band = np.median(per_unit, axis=1)  # the median over units of each percentile
        reached = [int(s) for s, a in zip(evals["step"], evals["test_acc"]) if a >= ACC_BAR]
        out[arm] = {"steps": evals["step"], "test_acc": evals["test_acc"], "final_acc": final_test_acc(run),
                    "steps_to_bar": reached[0] if reached else None, "status": record.status,
                    "snapshot_step": snaps["step"], "unit_percentiles": per_unit[:, UNIT],
                    "median_percentiles": band, "drift_unit": drift(per_unit[:, UNIT]),
                    "drift_median": float(np.median([drift(per_unit[:, u]) for u in range(per_unit.shape[1])]))}
    return out


def verdict(m: dict) -> tuple[bool, str]:
    bn, none = m["bn"], m["none"]
    never = none["steps_to_bar"] is None
    sooner = bn["steps_to_bar"] is not None and (never or bn["steps_to_bar"] <= none["steps_to_bar"] / 2)
    higher = bn["final_acc"] >= none["final_acc"]
    stable = bn["drift_median"] < 0.5 * none["drift_median"]
    reach = lambda s: "never" if s is None else f"at step {s}"  # noqa: E731
    text = (f"with BN the test accuracy reaches {ACC_BAR:.0%} {reach(bn['steps_to_bar'])} (final "
            f"{bn['final_acc']:.1%}), without BN {reach(none['steps_to_bar'])} (final {none['final_acc']:.1%}); "
            f"the 15/50/85th percentiles of a last-layer sigmoid's input move {bn['drift_median']:.2f} with BN and "
            f"{none['drift_median']:.2f} without (median over units)")
    holds = sooner and higher and stable
    return holds, ("reproduced: " if holds else "not reproduced: ") + text


REPRODUCTION = Reproduction(
    name="ioffe2015", title="BN paper, Fig. 1: faster training, stable sigmoid inputs",
    claim="With BatchNorm before every sigmoid, an MLP reaches higher test accuracy sooner, and the distribution "
          "of a sigmoid's input stays put over training while without BN it drifts.",
    source="Ioffe & Szegedy 2015, Batch Normalization, Figure 1 (a, b, c)",
    paper_setup="MNIST (60,000 images), MLP 784-100-100-100-10, sigmoid, small random Gaussian init, softmax, "
                "50,000 steps at batch 60, BN before each hidden sigmoid vs none; optimizer not stated",
    our_setup=f"bundled MNIST subset (4,000 train / 1,000 test), the same MLP and batch, N(0, {GAUSSIAN_STD:g}^2) "
              f"weights and zero biases, SGD lr 0.5, BN before each sigmoid vs none; unit {UNIT} of the last "
              "hidden layer, percentiles from its 64-bin histogram (one-bin resolution), the median over its 100 "
              "units as a band",
    smaller=f"steps: {STEPS['full']:,} (full) / {STEPS['quick']:,} (quick) instead of 50,000, and 4,000 training "
            "images instead of 60,000, so it runs on a laptop CPU in minutes",
    paper={"steps": 50_000, "batch": 60, "figure": "1(a): BN's test accuracy above the baseline's at every step; "
           "1(b, c): the baseline's 15/50/85th percentiles drift, BN's stay put"},
    threshold=f"BN reaches {ACC_BAR:.0%} test accuracy in at most half the steps (or the baseline never does), ends "
              "at least as high, and its percentiles move less than half as far (median over units of the mean "
              "max-min range of the 15/50/85th percentiles of the sigmoid input)",
    configs=configs, measure=measure, verdict=verdict,
    budgets={b: f"2 runs x {s:,} steps at batch 60" for b, s in STEPS.items()},
)
