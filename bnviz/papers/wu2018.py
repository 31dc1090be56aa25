"""Wu & He 2018 (Group Normalization), Fig. 1: BN's error grows as the batch shrinks, GroupNorm's does not."""

from __future__ import annotations

import numpy as np

from bnviz.config import RunConfig
from bnviz.papers.base import Reproduction, final_test_acc
from bnviz.papers.runs import Run

NORMS = ("batch", "group", "layer", "instance", "none")
MLP_NORMS = ("batch", "group", "layer", "none")  # instance norm needs feature maps
# budget -> (models, batch sizes, seeds, training images per run). The seed CNN's BN averages each channel over
# N*26*26 values, so even batch 2 gives it 1,352; the mlp's averages over N values, like ResNet-50's last 7x7
# stages at batch 2 (98): it is the second panel, where the paper's mechanism can show.
GRID = {"test": (("mlp",), (2, 32), (0,), 1_280),
        "quick": (("seed_cnn", "mlp"), (2, 32), (0,), 1_280),  # the verdict's ends only: <= 60 s on 2 cores
        "full": (("seed_cnn", "mlp"), (2, 4, 8, 16, 32), (0, 1), 4_000)}
BUDGET_NORMS = {"test": ("batch", "group"), "quick": ("batch", "group"), "full": NORMS}  # the pair it compares
PAPER_ERROR = {"batch": {32: 23.6, 16: 23.7, 8: 24.8, 4: 27.3, 2: 34.7},
               "group": {32: 24.1, 16: 24.2, 8: 24.0, 4: 24.2, 2: 24.1}}
MARGIN = 1.25  # BN's small/large error ratio must exceed GN's by this factor (the paper: 1.47 vs 1.00)


def configs(budget: str) -> list[RunConfig]:
    models, batches, seeds, images = GRID[budget]
    out = []
    for model in models:
        for norm in BUDGET_NORMS[budget]:
            if model == "mlp" and norm not in MLP_NORMS:
                continue
            for batch in batches:
                for seed in seeds:
                    steps = images // batch  # the same number of training images at every batch size
                    placement = "none" if norm == "none" else ("before" if model == "mlp" else "after")
                    out.append(RunConfig(model=model, norm=norm, placement=placement, groups=4, batch_size=batch,
                                         steps=steps, seed=seed, eval_every=steps, record_every=max(1, steps // 20)))
    return out


def measure(runs: list[Run]) -> dict:
    errors: dict[str, dict[str, dict[int, list[float]]]] = {}
    for run in runs:
        cfg = run.config
        errors.setdefault(cfg.model, {}).setdefault(cfg.norm, {}).setdefault(cfg.batch_size, []).append(
            100 * (1 - final_test_acc(run)))
    out = {"models": list(errors)}
    for model, by_norm in errors.items():
        batches = sorted({b for by_batch in by_norm.values() for b in by_batch})
        panel = {"batches": batches, "error": {}, "error_std": {},
                 "seeds": len(next(iter(by_norm["batch"].values())))}
        for norm, by_batch in by_norm.items():
            panel["error"][norm] = [float(np.mean(by_batch[b])) for b in batches]
            panel["error_std"][norm] = [float(np.std(by_batch[b])) for b in batches]
        for norm in ("batch", "group"):
            err = panel["error"][norm]
            panel[f"{norm}_ratio"] = err[0] / max(err[-1], 1e-9)  # error at the smallest batch / at the largest
        out[model] = panel
    return out


def panel_verdict(p: dict) -> tuple[bool, str]:
    small, large = p["batches"][0], p["batches"][-1]
    bn, gn = p["error"]["batch"], p["error"]["group"]
    holds = p["batch_ratio"] > MARGIN * p["group_ratio"]
    return holds, (f"BN's test error goes from {bn[-1]:.1f}% at batch {large} to {bn[0]:.1f}% at batch {small} "
                   f"(x{p['batch_ratio']:.2f}), GroupNorm's from {gn[-1]:.1f}% to {gn[0]:.1f}% "
                   f"(x{p['group_ratio']:.2f})")


def verdict(m: dict) -> tuple[bool, str]:
    """Judged on every model run; the claim holds only if it holds on each."""
    judged = {model: panel_verdict(m[model]) for model in m["models"]}
    holds = all(ok for ok, _ in judged.values())
    text = "; ".join(f"{model}: {'yes' if ok else 'no'}, {line}" for model, (ok, line) in judged.items())
    return holds, ("reproduced: " if holds else "not reproduced: ") + text


REPRODUCTION = Reproduction(
    name="wu2018", title="GroupNorm, Fig. 1: BN fails at small batches, GroupNorm does not",
    claim="BatchNorm's error rises sharply as the batch shrinks to 2, while GroupNorm's stays flat.",
    source="Wu & He 2018, Group Normalization, Figure 1 / Table 2 (ResNet-50, ImageNet)",
    paper_setup="ResNet-50 on ImageNet, batch 32..2 images per GPU, BN vs GN (32 groups), LN, IN; top-1 error "
                "of the eval-mode model",
    our_setup="the seed CNN (norm after the ReLU) and, as a second panel, the mlp (norm before the ReLU) on the "
              "bundled MNIST subset, Adam lr 1e-3 at every batch size, GN with 4 groups, the same number of "
              "training images at every batch size, eval-mode test error on 1,000 test images, the mean over seeds with their spread as error bars",
    smaller="a 2-conv CNN on 4,000 MNIST digits, at most one epoch per run, instead of ResNet-50 on ImageNet for "
            "100 epochs: the errors are far smaller, only the shape (BN's rise at batch 2 against GN's) compares",
    paper={"error_pct": PAPER_ERROR, "batch32_pct": {"batch": 23.6, "layer": 25.3, "instance": 28.4, "group": 24.1},
           "batch_ratio": round(34.7 / 23.6, 2), "group_ratio": 1.0},
    threshold=f"on each model, BN's error at the smallest batch over its error at the largest exceeds GN's same "
              f"ratio by a factor of more than {MARGIN} (the paper: 1.47 vs 1.00)",
    configs=configs, measure=measure, verdict=verdict, grid=True,
    budgets={b: f"{', '.join(m)} x norms {', '.join(BUDGET_NORMS[b])} x batches {list(bs)} x {len(s)} seed(s), "
                f"{i:,} training images each" for b, (m, bs, s, i) in GRID.items()},
)
