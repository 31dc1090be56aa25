"""Higher learning rates (Ioffe & Szegedy §4.2.1; Bjorck et al. 2018): with BN far larger rates still train."""

from __future__ import annotations

from bnviz.config import RunConfig
from bnviz.papers.base import Reproduction, final_test_acc
from bnviz.papers.runs import Run

RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # half a decade apart
TEST_RATES = (0.3, 1.0, 3.0, 10.0)  # the suite's budget: the grid's upper half, where the two arms part
ACC_BAR = 0.7  # "still trains": not diverged and at least this test accuracy at the end
FACTOR = 3.0  # BN's largest trainable rate must be at least one grid step (x3.16) above the baseline's
STEPS = {"test": 150, "quick": 400, "full": 2_000}


def configs(budget: str) -> list[RunConfig]:
    steps = STEPS[budget]
    base = RunConfig(model="mlp", activation="relu", optimizer="sgd", batch_size=60, placement="before",
                     steps=steps, eval_every=steps, record_every=max(1, steps // 10))
    rates = TEST_RATES if budget == "test" else RATES
    return [base.replace(norm=norm, lr=lr) for norm in ("batch", "none") for lr in rates]


def measure(runs: list[Run]) -> dict:
    out = {"rates": sorted({r.config.lr for r in runs}), "acc_bar": ACC_BAR}
    for arm, norm in (("bn", "batch"), ("none", "none")):
        arm_runs = sorted((r for r in runs if r.config.norm == norm), key=lambda r: r.config.lr)
        acc = [final_test_acc(r) for r in arm_runs]
        diverged = [r.record.status == "diverged" for r in arm_runs]
        trains = [a >= ACC_BAR and not d for a, d in zip(acc, diverged)]
        good = [r.config.lr for r, ok in zip(arm_runs, trains) if ok]
        out[arm] = {"rates": [r.config.lr for r in arm_runs], "final_acc": acc, "diverged": diverged,
                    "trains": trains, "largest": max(good) if good else None}
    return out


def verdict(m: dict) -> tuple[bool, str]:
    bn, none = m["bn"]["largest"], m["none"]["largest"]
    holds = bn is not None and (none is None or bn >= FACTOR * none)
    show = lambda r: "none of the rates" if r is None else f"{r:g}"  # noqa: E731
    text = (f"the largest SGD rate that still trains (not diverged, >= {ACC_BAR:.0%} test accuracy) is "
            f"{show(bn)} with BN and {show(none)} without")
    return holds, ("reproduced: " if holds else "not reproduced: ") + text


REPRODUCTION = Reproduction(
    name="higher_lr", title="Higher learning rates: BN trains where the baseline diverges",
    claim="With BatchNorm a network still trains at learning rates several times larger than the largest one "
          "that trains without it.",
    source="Ioffe & Szegedy 2015 §4.2.1 (BN-x5, BN-x30); Bjorck et al. 2018, Understanding Batch Normalization",
    paper_setup="Inception on ImageNet: BN trains at 5x and 30x the baseline's rate (0.0075, 0.045); ResNet-110 on "
                "CIFAR-10: with BN lr 0.1 trains, without BN it must drop to about 0.0001",
    our_setup="MLP 784-100-100-100-10 with ReLU on the bundled MNIST subset, plain SGD at batch 60, rates "
              f"{', '.join(f'{r:g}' for r in RATES)}, BN before each ReLU vs none",
    smaller="a 3-layer MLP for a few hundred to a few thousand steps instead of Inception or ResNet-110 for days: "
            "the rates are not comparable, only the factor between the two largest trainable ones",
    paper={"inception_lr": {"baseline": 0.0015, "bn_x5": 0.0075, "bn_x30": 0.045},
           "steps_to_72.2pct_M": {"baseline": 31.0, "bn_baseline": 13.3, "bn_x5": 2.1, "bn_x30": 2.7},
           "resnet110_lr": {"bn": 0.1, "no_bn": 0.0001}},
    threshold=f"BN's largest trainable rate is at least {FACTOR:g}x the baseline's (one step of the grid), or the "
              "baseline trains at none",
    configs=configs, measure=measure, verdict=verdict, grid=True,
    budgets={b: f"2 x {len(TEST_RATES if b == 'test' else RATES)} rates x {s:,} steps at batch 60"
             for b, s in STEPS.items()},
)
