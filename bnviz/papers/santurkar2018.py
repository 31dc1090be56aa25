"""Santurkar et al. 2018: noisy BN, whose outputs shift at every step, trains about as well as BN, so reducing
"internal covariate shift" is not why BN helps."""

from __future__ import annotations

import numpy as np

from bnviz.config import RunConfig
from bnviz.papers.base import Reproduction, final_test_acc
from bnviz.papers.runs import Run
from bnviz.probe import input_stats

NOISE = 1.0  # bn_noise: shift ~ U(-1, 1), scale in [1/e, e], per channel, every step
SITE = "block3.norm"  # its input (pre) is fed by two noisy BN layers upstream
ACC_DROP = 0.05  # "about as well": noisy BN's final test accuracy at most 5 points below BN's
SHIFT_FACTOR = 2.0  # "less stable": its input distributions move at least twice as much per step as without BN
PROBE_IMAGES = 60  # the shift is measured on these first training images, the same batch at every step
STEPS = {"test": 200, "quick": 400, "full": 400}
SEEDS = {"test": (0,), "quick": (0,), "full": (0, 1, 2)}
ARMS = {"bn": dict(norm="batch"), "noisy_bn": dict(norm="batch", bn_noise=NOISE), "none": dict(norm="none")}


def configs(budget: str) -> list[RunConfig]:
    steps = STEPS[budget]
    base = RunConfig(model="mlp", activation="relu", optimizer="sgd", lr=0.1, batch_size=60, placement="before",
                     steps=steps, eval_every=max(1, steps // 10), record_every=max(1, steps // 20))
    return [base.replace(seed=seed, **knobs) for seed in SEEDS[budget] for knobs in ARMS.values()]


def probe(trainer) -> dict:
    """SITE's input on a fixed batch after every step: how training (and noisy BN's noise) moves the distribution,
    without the sampling noise of a fresh batch per step (which no BN puts back in and BN pins down)."""
    mean, std = input_stats(trainer.model, SITE, trainer.x_train[:PROBE_IMAGES])
    return {"mean": mean, "std": std}


def arm_of(cfg: RunConfig) -> str:
    return "noisy_bn" if cfg.bn_noise else ("bn" if cfg.norm == "batch" else "none")


def distribution_shift(channel_mean: np.ndarray, channel_std: np.ndarray) -> np.ndarray:
    """Per pair of consecutive snapshots: the mean over units of (|change of mean| + |change of std|), in units
    of the earlier snapshot's std: how far each unit's input distribution moved, scale-free."""
    scale = np.maximum(channel_std[:-1], 1e-6)
    moved = (np.abs(np.diff(channel_mean, axis=0)) + np.abs(np.diff(channel_std, axis=0))) / scale
    return moved.mean(1)


def measure(runs: list[Run]) -> dict:
    out = {"site": SITE, "noise": NOISE, "seeds": len({r.config.seed for r in runs}), "probe_images": PROBE_IMAGES}
    for arm in ARMS:
        arm_runs = [r for r in runs if arm_of(r.config) == arm]
        shifts = [distribution_shift(np.asarray(r.extra["probe"]["mean"]), np.asarray(r.extra["probe"]["std"]))
                  for r in arm_runs]
        first = arm_runs[0].record  # curves of the first seed; the numbers are means over seeds
        out[arm] = {"steps": first.evals["step"], "test_acc": first.evals["test_acc"],
                    "final_acc": float(np.mean([final_test_acc(r) for r in arm_runs])),
                    "shift_step": np.arange(2, len(shifts[0]) + 2), "shift": shifts[0],
                    "median_shift": float(np.mean([np.median(s) for s in shifts]))}
    return out


def verdict(m: dict) -> tuple[bool, str]:
    bn, noisy, none = m["bn"], m["noisy_bn"], m["none"]
    trains = noisy["final_acc"] >= bn["final_acc"] - ACC_DROP
    unstable = noisy["median_shift"] >= SHIFT_FACTOR * none["median_shift"]
    text = (f"final test accuracy: BN {bn['final_acc']:.1%}, noisy BN {noisy['final_acc']:.1%}, no BN "
            f"{none['final_acc']:.1%}; median per-step shift of the last layer's input distributions on a fixed "
            f"batch: noisy BN {noisy['median_shift']:.3f}, BN {bn['median_shift']:.3f}, "
            f"no BN {none['median_shift']:.3f}")
    holds = trains and unstable
    return holds, ("reproduced: " if holds else "not reproduced: ") + text


REPRODUCTION = Reproduction(
    name="santurkar2018", title="Noisy BN: unstable distributions, yet it trains like BN",
    claim="BatchNorm followed by random per-step shifts and scales trains about as well as plain BN even though "
          "the distributions it feeds forward move more than without BN: BN's benefit is not the reduction of "
          "internal covariate shift.",
    source="Santurkar, Tsipras, Ilyas & Madry 2018, How Does Batch Normalization Help Optimization?, Fig. 2 and 7",
    paper_setup="VGG on CIFAR-10; after each BN layer i.i.d. noise of non-zero mean and non-unit variance, drawn "
                "afresh every step; standard, BN and noisy BN networks compared on accuracy and on the stability of "
                "layer input distributions",
    our_setup=f"MLP 784-100-100-100-10 with ReLU, SGD lr 0.1 at batch 60 on the bundled MNIST subset; BN before each "
              f"ReLU, the same with bn_noise={NOISE:g} (per channel: shift ~ U(-1, 1), scale exp(U(-1, 1)), redrawn "
              f"every step from a seeded generator), and no BN; the shift is measured at {SITE}'s input, after "
              f"every step, on the same {PROBE_IMAGES} training images (train mode, the noise of the next step)",
    smaller="an MLP on 4,000 digits for 400 steps instead of VGG on CIFAR-10 (the full budget adds seeds), noise "
            "per channel rather than per activation",
    paper={"statement": "noisy BN reaches about the accuracy of BN; its layer input distributions are less stable "
                        "than the standard network's"},
    threshold=f"noisy BN's final test accuracy is at most {ACC_DROP:.0%} below BN's, and its median per-step "
              f"distribution shift is at least {SHIFT_FACTOR:g}x the no-BN network's",
    configs=configs, measure=measure, verdict=verdict, probe=probe,
    budgets={b: f"3 arms x {len(SEEDS[b])} seed(s) x {s:,} steps at batch 60" for b, s in STEPS.items()},
)
