"""The small-batch train/eval gap (Wu & Johnson 2021; EvalNorm): at small batches eval mode disagrees with
training, and recomputing the running statistics (PreciseBN) closes most of the gap."""

from __future__ import annotations

from bnviz.config import RunConfig
from bnviz.papers.base import Reproduction
from bnviz.papers.runs import Run
from bnviz.recalibrate import recalibration_gain, train_mode_accuracy
from bnviz.trainer import Trainer

# budget -> (batch sizes, training images per run)
GRID = {"test": ((4, 64), 3_000), "quick": ((4, 16, 64), 8_000), "full": ((4, 8, 16, 32, 64), 24_000)}
RECALIBRATION_IMAGES = 2_000  # training images the running statistics are recomputed from, at the training batch
MIN_GAP = 0.02  # the gap at the smallest batch must exceed the largest batch's by 2 points
CLOSED = 0.5  # recalibration must leave at most half of the smallest batch's gap


def configs(budget: str) -> list[RunConfig]:
    batches, images = GRID[budget]
    return [RunConfig(model="mlp", activation="relu", norm="batch", placement="before", optimizer="adam",
                      batch_size=b, steps=images // b, eval_every=images // b, record_every=max(1, images // b // 20))
            for b in batches]


def finish(trainer: Trainer) -> dict:
    """Train-mode and eval-mode test accuracy of the trained model, and eval mode after recalibration."""
    b = trainer.cfg.batch_size
    gain = recalibration_gain(trainer.model, trainer.x_train, trainer.x_test, trainer.y_test, batch_size=b,
                              n_batches=max(1, RECALIBRATION_IMAGES // b), seed=trainer.cfg.seed)
    return {"train_mode": train_mode_accuracy(trainer.model, trainer.x_test, trainer.y_test, b),
            "eval_mode": gain["before"], "recalibrated": gain["after"]}


def measure(runs: list[Run]) -> dict:
    runs = sorted(runs, key=lambda r: r.config.batch_size)
    out = {"batches": [r.config.batch_size for r in runs]}
    for key in ("train_mode", "eval_mode", "recalibrated"):
        out[key] = [r.extra[key] for r in runs]
    out["gap"] = [abs(t - e) for t, e in zip(out["train_mode"], out["eval_mode"])]
    out["gap_recalibrated"] = [abs(t - e) for t, e in zip(out["train_mode"], out["recalibrated"])]
    return out


def verdict(m: dict) -> tuple[bool, str]:
    gap, after = m["gap"], m["gap_recalibrated"]
    small, large = m["batches"][0], m["batches"][-1]
    widens = gap[0] >= gap[-1] + MIN_GAP
    closes = after[0] <= CLOSED * gap[0]
    text = (f"train-mode vs eval-mode test accuracy differ by {gap[0]:.1%} at batch {small} and {gap[-1]:.1%} at "
            f"batch {large}; after recalibration by {after[0]:.1%} at batch {small}")
    holds = widens and closes
    return holds, ("reproduced: " if holds else "not reproduced: ") + text


REPRODUCTION = Reproduction(
    name="small_batch", title="The small-batch train/eval gap, and recalibration (PreciseBN)",
    claim="At small batches a BN network's eval-mode accuracy (running statistics) departs from its train-mode "
          "accuracy (batch statistics), and recomputing the running statistics over many batches, with no weight "
          "change, closes most of that gap.",
    source="Wu & Johnson 2021, Rethinking 'Batch' in BatchNorm (PreciseBN); Singh & Shrivastava, EvalNorm, Fig. 1",
    paper_setup="ResNets on ImageNet / COCO: at small batch the EMA running statistics are noisy estimates and "
                "eval-mode outputs differ from train-mode ones; PreciseBN recomputes them over many batches",
    our_setup="MLP 784-100-100-100-10, ReLU, BN before each ReLU (momentum 0.1), Adam lr 1e-3 on the bundled MNIST "
              "subset, the same number of training images at each batch size; accuracy on the 1,000 test images "
              "in train mode (batches of the training size) and eval mode, then eval mode after recalibrating on "
              f"{RECALIBRATION_IMAGES:,} training images in batches of the training size (cumulative average)",
    smaller="an MLP on 4,000 digits instead of ResNets on ImageNet: the gap is a few points, not tens",
    paper={"statement": "eval-mode (EMA) statistics are inaccurate at small batch; PreciseBN's population "
                        "statistics fix eval mode without retraining"},
    threshold=f"the |train - eval| accuracy gap at the smallest batch is at least {MIN_GAP:.0%} above the largest "
              f"batch's, and recalibration leaves at most {CLOSED:.0%} of it",
    configs=configs, measure=measure, verdict=verdict, grid=True, finish=finish,
    budgets={b: f"batches {list(bs)}, {i:,} training images each" for b, (bs, i) in GRID.items()},
)
