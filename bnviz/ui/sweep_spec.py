"""What the Sweep page asks for: a SweepSpec (base config, grid, seeds, budget, what to plot), its presets
and the server's cap on sweep size; no Streamlit, so the page's logic is tested on its own."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bnviz import hosting
from bnviz.config import ConfigError, RunConfig
from bnviz.sweep import Sweep

MAX_SWEEP_RUNS = 64  # runs per sweep on a local lab; a hosted server caps it with $BNVIZ_MAX_SWEEP (bnviz.hosting)
MAX_SEEDS = 10
MAX_KNOBS = 2  # the chart has two dimensions to give: the x axis and one line per value


def max_sweep_runs() -> int:
    """The cap on one sweep's runs (grid values x seeds): the hosted cap ($BNVIZ_MAX_SWEEP), else MAX_SWEEP_RUNS."""
    caps = hosting.from_env()
    return caps.max_sweep if caps is not None else MAX_SWEEP_RUNS


@dataclass(frozen=True)
class SweepSpec:
    """A sweep as the page holds it. The grid's first knob is the chart's x axis, the second its lines;
    the budget is `images` per run (steps = ceil(images / batch_size)) or, when None, the base's steps."""

    base: RunConfig
    grid: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    images: int | None = None
    metric: str = "error"  # a key of bnviz.sweep_table.METRICS
    spread: str = "std"  # a key of bnviz.sweep_table.SPREADS

    @property
    def x_knob(self) -> str:
        return next(iter(self.grid))

    @property
    def line_knob(self) -> str | None:
        return list(self.grid)[1] if len(self.grid) > 1 else None

    def sweep(self) -> Sweep:
        return Sweep(base=self.base, grid=dict(self.grid), seeds=self.seeds, images=self.images)

    def configs(self) -> list[RunConfig]:
        """Every run's config, or ConfigError naming the knob, the value and what is allowed; before training."""
        if not self.grid:
            raise ConfigError("grid", "", "at least one knob with its values (the chart's x axis)")
        if len(self.grid) > MAX_KNOBS:
            raise ConfigError("grid", ", ".join(self.grid), f"at most {MAX_KNOBS} knobs: the x axis and the lines")
        if not 1 <= len(self.seeds) <= MAX_SEEDS:
            raise ConfigError("seeds", ",".join(map(str, self.seeds)), f"1 to {MAX_SEEDS} seeds")
        configs = self.sweep().configs()
        cap = max_sweep_runs()
        if len(configs) > cap:
            raise ConfigError("grid", f"{len(configs)} runs", f"at most {cap} runs per sweep on this server "
                              "(the product of the grid's values x seeds): fewer values or seeds")
        return configs

    def replace(self, **changes) -> "SweepSpec":
        return replace(self, **changes)


# On the mlp (3x100, the BN paper's Fig. 1 net): each run takes seconds, so a preset fits in minutes on a
# small server. groups=4 divides both models' widths (mlp 100, seed_cnn 32 and 64).
_MLP = RunConfig(model="mlp", groups=4)
PRESETS: dict[str, SweepSpec] = {
    "GroupNorm Fig. 1: error vs batch size per norm": SweepSpec(
        _MLP, {"batch_size": ("2", "4", "8", "16", "32"), "norm": ("batch", "group", "layer", "none")},
        seeds=(0, 1), images=4000, metric="error"),
    "learning rate x BN": SweepSpec(
        _MLP.replace(optimizer="sgd", steps=300),
        {"lr": ("0.003", "0.01", "0.03", "0.1", "0.3", "1"), "norm": ("batch", "none")},
        seeds=(0, 1), metric="accuracy"),
    "train/eval gap vs batch size": SweepSpec(
        _MLP, {"batch_size": ("2", "4", "8", "16", "32"), "norm": ("batch", "group")},
        seeds=(0, 1), images=4000, metric="gap"),
}
CUSTOM = "Any grid"
DEFAULT = next(iter(PRESETS.values()))
PRESET_NOTES = {
    "GroupNorm Fig. 1: error vs batch size per norm": "Every run sees the same number of images, as in Wu & "
        "He 2018, Fig. 1: BN's error climbs as the batch shrinks; GN and LN do not depend on it.",
    "learning rate x BN": "Plain SGD: BN lets the mlp train at learning rates where the unnormalized one "
        "stalls or diverges (Ioffe & Szegedy 2015, §4.2).",
    "train/eval gap vs batch size": "Train mode normalizes with the batch's statistics, eval mode with the "
        "running ones: with small batches BN's two modes disagree; GN has no running statistics, no gap.",
}
