"""A comparison: a base RunConfig plus 2 to 4 arms of overrides, their labels, presets and URL form."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bnviz.config import FIELDS, ConfigError, RunConfig

MIN_ARMS, MAX_ARMS = 2, 4
# Short words for values that have one, so a label reads "batch 2, GN" rather than "batch_size=2, norm=group".
NORM_WORDS = {"batch": "BN", "group": "GN", "layer": "LN", "instance": "IN", "none": "norm=none"}


class ArmError(ConfigError):
    """A bad override in one arm: names the arm, the field and what is allowed."""

    def __init__(self, arm: int, label: str, err: ConfigError):
        self.arm, self.label = arm, label
        ConfigError.__init__(self, err.field, err.value, err.allowed)
        self.args = (f"arm {arm} ({label}): {err}",)


@dataclass(frozen=True)
class Arm:
    """One arm: a short label saying what differs and its overrides of the base (field -> URL-form value)."""

    label: str
    overrides: dict[str, str]

    def __hash__(self):
        return hash((self.label, tuple(sorted(self.overrides.items()))))


def label_for(overrides: dict[str, str]) -> str:
    """What an arm changes, in short words: {"batch_size": "2", "norm": "group"} -> "batch 2, GN"."""
    words = []
    for name, raw in overrides.items():
        try:  # the canonical spelling ("1e-3" -> "0.001"); a bad value is named later, by Comparison
            value = FIELDS[name].format(FIELDS[name].parse(name, raw)) if name in FIELDS else raw
        except ConfigError:
            value = raw
        if name == "norm":
            words.append(NORM_WORDS.get(value, f"norm={value}"))
        elif name == "batch_size":
            words.append(f"batch {value}")
        elif name == "momentum" and value == "none":
            words.append("momentum=cumulative")
        else:
            words.append(f"{name}={value}")
    return ", ".join(words) or "base"


def arm_config(base: RunConfig, overrides: dict[str, str]) -> RunConfig:
    """The base with an arm's overrides, parsed and validated by FIELDS / RunConfig (ConfigError if bad)."""
    unknown = sorted(set(overrides) - set(FIELDS))
    if unknown:
        raise ConfigError(unknown[0], overrides[unknown[0]], f"unknown field; known: {', '.join(FIELDS)}")
    return base.replace(**{name: FIELDS[name].parse(name, raw) for name, raw in overrides.items()})


@dataclass(frozen=True)
class Comparison:
    """A base config and its arms; each arm trains `base` with its overrides, from the same seed."""

    base: RunConfig
    arms: tuple[Arm, ...]

    def __post_init__(self):
        object.__setattr__(self, "arms", tuple(self.arms))
        if not MIN_ARMS <= len(self.arms) <= MAX_ARMS:
            raise ConfigError("arms", len(self.arms), f"a comparison has {MIN_ARMS} to {MAX_ARMS} arms")
        labels = [arm.label for arm in self.arms]
        for i, arm in enumerate(self.arms, start=1):
            if not arm.label.strip() or arm.label in labels[: i - 1]:
                raise ConfigError(f"arm{i}.label", arm.label, "a non-empty label, different from the other arms'")
        self.configs  # validates every arm

    @property
    def configs(self) -> list[RunConfig]:
        """Each arm's RunConfig; a bad override raises ArmError naming the arm and the field."""
        configs = []
        for i, arm in enumerate(self.arms, start=1):
            try:
                configs.append(arm_config(self.base, arm.overrides))
            except ConfigError as err:
                raise ArmError(i, arm.label, err) from None
        return configs

    @property
    def labels(self) -> list[str]:
        return [arm.label for arm in self.arms]

    @property
    def steps(self) -> int:
        """The longest arm's steps: the comparison's length (what a progress bar counts to)."""
        return max(cfg.steps for cfg in self.configs)

    @classmethod
    def of_configs(cls, labels: list[str], configs: list[RunConfig]) -> "Comparison":
        """The comparison whose arms train exactly `configs` (a comparison file's arms): the first arm's config
        is the base and each arm overrides the knobs where it differs. ConfigError for a bad count or label."""
        if not configs:
            raise ConfigError("arms", 0, f"a comparison has {MIN_ARMS} to {MAX_ARMS} arms")
        base = configs[0].to_params()
        arms = [Arm(label, {name: value for name, value in cfg.to_params().items() if value != base[name]})
                for label, cfg in zip(labels, configs)]
        return cls(configs[0], tuple(arms))

    # --- flat dict form: URL query parameters -----------------------------------------------------
    def to_params(self) -> dict[str, str]:
        """The base's params as a run's, plus `armN.label` and `armN.<field>` per arm (N from 1)."""
        params = self.base.to_params()
        for i, arm in enumerate(self.arms, start=1):
            params[f"arm{i}.label"] = arm.label
            params.update({f"arm{i}.{name}": value for name, value in arm.overrides.items()})
        return params

    @classmethod
    def from_params_lenient(cls, params: dict[str, str]) -> tuple["Comparison", list[str]]:
        """Parse what is valid; a bad base param gets its default, a bad arm param the base's value (it is
        dropped from the arm); return the comparison and the problems found, each naming the parameter."""
        base_params = {k: v for k, v in params.items() if not k.startswith("arm")}
        base, problems = RunConfig.from_params_lenient(base_params)
        raw_arms: dict[int, dict[str, str]] = {}
        for key, value in params.items():
            if not key.startswith("arm"):
                continue
            head, _, name = key.partition(".")
            number = head[3:]
            if not (number.isdigit() and MIN_ARMS - 1 <= int(number) <= MAX_ARMS and name):
                problems.append(f"unknown parameter {key!r} ignored: arms are arm1 to arm{MAX_ARMS}, "
                                "as arm1.norm=none or arm1.label=...")
                continue
            raw_arms.setdefault(int(number), {})[name] = value
        arms = [_lenient_arm(base, number, raw_arms[number], problems) for number in sorted(raw_arms)]
        arms = _distinct_labels(arms)
        if len(arms) < MIN_ARMS:
            shown = default_comparison(base)
            where = "" if shown.base == base else " on the default settings (the link's base cannot take its arms)"
            problems.append(f"a comparison needs {MIN_ARMS} to {MAX_ARMS} arms, the link has {len(arms)}; "
                            f"showing the preset {DEFAULT_PRESET!r} instead{where}")
            return shown, problems
        return cls(base, tuple(arms)), problems


def _lenient_arm(base: RunConfig, number: int, raw: dict[str, str], problems: list[str]) -> Arm:
    """One arm from its URL params: unknown or bad fields are named and dropped (the base's value is used)."""
    label = raw.pop("label", None)
    overrides = {}
    for name, value in raw.items():
        if name not in FIELDS:
            problems.append(f"arm{number}.{name}: unknown field ignored; known: {', '.join(FIELDS)}")
            continue
        try:
            FIELDS[name].check(name, FIELDS[name].parse(name, value))
            overrides[name] = value
        except ConfigError as err:
            problems.append(f"arm{number}.{err}; using the base's {name}={base.to_params()[name]}")
    while True:
        try:
            arm_config(base, overrides)
            break
        except ConfigError as err:  # valid values in a combination PyTorch cannot train
            dropped = err.field if err.field in overrides else next(iter(overrides))
            problems.append(f"arm{number}.{err}; using the base's {dropped}={base.to_params()[dropped]}")
            overrides.pop(dropped)
    return Arm(label.strip() if label and label.strip() else label_for(overrides), overrides)


def _distinct_labels(arms: list[Arm]) -> list[Arm]:
    seen: set[str] = set()
    out = []
    for i, arm in enumerate(arms, start=1):
        label = arm.label if arm.label not in seen else f"{arm.label} ({i})"
        seen.add(label)
        out.append(Arm(label, arm.overrides))
    return out


# --- making arms --------------------------------------------------------------------------------
def vary(base: RunConfig, knob: str, values) -> Comparison:
    """One arm per value of one knob (values as URL strings or typed values), labelled by what differs."""
    return vary_many(base, {knob: values})


def vary_many(base: RunConfig, knobs: dict[str, list]) -> Comparison:
    """One arm per combination of the knobs' values (at most MAX_ARMS), labelled "batch 2, GN"."""
    for knob in knobs:
        if knob not in FIELDS:
            raise ConfigError(knob, None, f"unknown knob; known: {', '.join(FIELDS)}")
    texts = {knob: [v if isinstance(v, str) else FIELDS[knob].format(v) for v in values]
             for knob, values in knobs.items()}
    combos = list(itertools.product(*texts.values()))
    if not MIN_ARMS <= len(combos) <= MAX_ARMS:
        raise ConfigError("arms", len(combos), f"the values given make {len(combos)} arms; a comparison has "
                                               f"{MIN_ARMS} to {MAX_ARMS}")
    arms = []
    for combo in combos:
        overrides = dict(zip(texts, combo))
        arms.append(Arm(label_for(overrides), overrides))
    return Comparison(base, tuple(arms))


@dataclass(frozen=True)
class Preset:
    """A classic comparison: its title and arms; applied to any base (the lab's current config)."""

    title: str
    arms: tuple[Arm, ...]

    def comparison(self, base: RunConfig) -> Comparison:
        return Comparison(base, self.arms)


def _arms(*overrides: dict[str, str], labels: tuple[str, ...] = ()) -> tuple[Arm, ...]:
    return tuple(Arm(labels[i] if labels else label_for(o), o) for i, o in enumerate(overrides))


BN_AFTER = {"norm": "batch", "placement": "after"}
PRESETS: dict[str, Preset] = {
    "bn-vs-none": Preset("BN vs none", _arms(BN_AFTER, {"norm": "none"}, labels=("BN", "norm=none"))),
    "before-vs-after": Preset("BN before vs after the activation",
                              _arms({"norm": "batch", "placement": "before"}, BN_AFTER,
                                    labels=("BN before act", "BN after act"))),
    "batch-size": Preset("batch 2 vs 32 vs 256", _arms(*({**BN_AFTER, "batch_size": b} for b in ("2", "32", "256")),
                                                       labels=("batch 2", "batch 32", "batch 256"))),
    "norms-at-batch-2": Preset("BN vs GroupNorm vs LayerNorm at batch 2",
                               _arms(*({"norm": n, "placement": "after", "batch_size": "2"}
                                       for n in ("batch", "group", "layer")),
                                     labels=("batch 2, BN", "batch 2, GN", "batch 2, LN"))),
    "eps": Preset("eps 1e-5 vs 1e-3 vs 1e-1", _arms(*({**BN_AFTER, "eps": e} for e in ("1e-05", "0.001", "0.1")),
                                                    labels=("eps=1e-5", "eps=1e-3", "eps=1e-1"))),
    "momentum": Preset("momentum 0.1 vs 0.01 vs cumulative",
                       _arms(*({**BN_AFTER, "momentum": m} for m in ("0.1", "0.01", "none")),
                             labels=("momentum=0.1", "momentum=0.01", "momentum=cumulative"))),
    # Keras' BatchNormalization: epsilon 1e-3, momentum 0.99 (= 0.01 in PyTorch's convention).
    "keras-vs-pytorch": Preset("the article's Keras BN defaults vs PyTorch's",
                               _arms({**BN_AFTER, "eps": "0.001", "momentum": "0.01"},
                                     {**BN_AFTER, "eps": "1e-05", "momentum": "0.1"},
                                     labels=("Keras (eps 1e-3, momentum 0.99)", "PyTorch (eps 1e-5, momentum 0.1)"))),
}
DEFAULT_PRESET = "bn-vs-none"


def default_comparison(base: RunConfig) -> Comparison:
    """The default preset on `base`; on the default config where `base` cannot take it (bn_noise: norm=none fails)."""
    try:
        return PRESETS[DEFAULT_PRESET].comparison(base)
    except ConfigError:
        return PRESETS[DEFAULT_PRESET].comparison(RunConfig())
