"""RunConfig: every knob of a run, its defaults, its validation and its flat-dict (URL / CLI) form."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

MODELS = ("seed_cnn", "mlp")
NORMS = ("batch", "group", "layer", "instance", "none")
PLACEMENTS = ("after", "before", "none")
ACTIVATIONS = ("relu", "sigmoid", "tanh")
OPTIMIZERS = ("sgd", "adam")
DATASETS = ("mnist-5k", "mnist", "fashion-mnist")
DEVICES = ("auto", "cpu", "cuda", "mps")
INITS = ("default", "gaussian")
GAUSSIAN_STD = 0.01  # init="gaussian": every weight ~ N(0, 0.01^2), biases 0 (the BN paper's "small random Gaussian")
BN_NOISE_MAX = 2.0
COMPILE = ("auto", "on", "off")

# The automatic evaluation cadence, in training images: 250 steps at the article's batch 32, so a test
# evaluation costs a few percent of training time at every batch size (a fixed step count made it 20% at batch 8).
EVAL_IMAGES = 8_000

# The fields _check_combination looks at, in the order the lenient parser gives them up (noise, then the norm).
COMBINED = ("bn_noise", "norm", "placement", "model", "groups", "batch_size")
# compile=auto compiles runs with BatchNorm that train on at least this many images. A first compile of the seed
# CNN's step costs ~25-40 s of one core on this project's 2-core CPU (measured, torch 2.13) and runs beside
# eager training, which it slows meanwhile. Compiled, a step with BN is then ~1.1x (batch 32) to ~1.4x (128)
# as fast as eager; without a norm layer it is slower (0.6-0.7x, a user's own compiled loop as much: bench/README.md,
# issue 18), so such runs stay eager. 100,000 images (3,125 steps at batch 32) is where the saving can repay the
# compile; shorter runs stay eager.
COMPILE_MIN_IMAGES = 100_000

# Width of each normalized layer, per model: GroupNorm's `groups` must divide all of them.
NORM_WIDTHS = {"seed_cnn": (32, 64), "mlp": (100, 100, 100)}


class ConfigError(ValueError):
    """A bad knob: names the field, the value given and what is allowed."""

    def __init__(self, field: str, value, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class RunConfig:
    """One training run. Defaults reproduce the article's Keras model on the bundled MNIST subset."""

    model: str = "seed_cnn"  # seed_cnn: the article's CNN; mlp: Ioffe & Szegedy Fig. 1 (3x100)
    norm: str = "batch"  # batch | group | layer | instance | none
    placement: str = "after"  # after: conv -> act -> norm (article); before: conv -> norm -> act (BN paper)
    eps: float = 1e-5  # PyTorch's default; Keras uses 1e-3
    momentum: float | None = 0.1  # PyTorch convention (Keras 0.99 == 0.01 here); None = cumulative average
    affine: bool = True  # learnable gamma/beta
    groups: int = 8  # GroupNorm groups; must divide every normalized layer's width
    activation: str = "relu"
    optimizer: str = "adam"  # the article compiles with Adam
    lr: float = 1e-3  # Adam's default
    weight_decay: float = 0.0
    batch_size: int = 32  # the article's
    dataset: str = "mnist-5k"  # bundled, offline
    steps: int = 500
    seed: int = 0
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    record_every: int = 10  # steps between activation snapshots
    hist_bins: int = 64  # as wandb.watch
    eval_every: int | None = None  # steps between test-set evaluations; None (auto): every EVAL_IMAGES images
    init: str = "default"  # default: PyTorch's; gaussian: N(0, GAUSSIAN_STD^2) weights, zero biases (BN paper Fig. 1)
    bn_noise: float = 0.0  # Santurkar et al.'s "noisy BN": per-channel shift ~ U(-a, a), scale exp(U(-a, a)); 0 = off
    compile: str = "auto"  # plain steps through torch.compile: on | off | auto (runs of >= COMPILE_MIN_IMAGES)

    def __post_init__(self):
        for name, spec in FIELDS.items():
            spec.check(name, getattr(self, name))
        self._check_combination()

    @property
    def normalized(self) -> bool:
        """Whether the norm sites actually normalize (otherwise they are the identity)."""
        return self.norm != "none" and self.placement != "none"

    @property
    def wants_compile(self) -> bool:
        """Whether this run asks for compiled plain steps (compile=on, or auto: BatchNorm and long enough to pay)."""
        return self.compile == "on" or (self.compile == "auto" and self.norm == "batch" and self.normalized
                                        and self.steps * self.batch_size >= COMPILE_MIN_IMAGES)

    @property
    def eval_interval(self) -> int:
        """Steps between test-set evaluations: eval_every, or auto, about every EVAL_IMAGES training images."""
        return self.eval_every or max(1, round(EVAL_IMAGES / self.batch_size))

    def _check_combination(self):
        if self.bn_noise and not (self.normalized and self.norm == "batch"):
            raise ConfigError("bn_noise", self.bn_noise, "noise follows each BatchNorm layer: it needs norm=batch "
                              "and placement before or after; use 0 otherwise")
        if not self.normalized:
            return
        if self.norm == "group" and any(w % self.groups for w in NORM_WIDTHS[self.model]):
            widths = NORM_WIDTHS[self.model]
            ok = [g for g in range(1, max(widths) + 1) if all(w % g == 0 for w in widths)]
            raise ConfigError("groups", self.groups,
                              f"must divide the {self.model} layer widths {widths}: one of {ok}")
        if self.model == "mlp" and self.norm == "instance":
            raise ConfigError("norm", self.norm, "instance norm needs feature maps (H, W); "
                              "the mlp has none, each unit would normalize to 0. Use seed_cnn or another norm")
        if self.model == "mlp" and self.norm == "batch" and self.batch_size == 1:
            # BatchNorm1d on (1, C) has one value per channel: PyTorch refuses to train on it.
            raise ConfigError("batch_size", 1, "BatchNorm in the mlp needs batch_size >= 2 "
                              "(one value per unit cannot be normalized); the seed_cnn allows 1 (N*H*W > 1)")

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    # --- flat dict form: URL query parameters and CLI flags -------------------------------------
    def to_params(self) -> dict[str, str]:
        """Every field as a string; `from_params` gives back an equal config."""
        return {name: spec.format(getattr(self, name)) for name, spec in FIELDS.items()}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "RunConfig":
        """Strict parse: unknown keys or bad values raise ConfigError."""
        unknown = sorted(set(params) - set(FIELDS))
        if unknown:
            raise ConfigError(unknown[0], params[unknown[0]], f"unknown field; known: {', '.join(FIELDS)}")
        return cls(**{k: FIELDS[k].parse(k, v) for k, v in params.items()})

    @classmethod
    def from_params_lenient(cls, params: dict[str, str]) -> tuple["RunConfig", list[str]]:
        """Parse what is valid, fall back to the default for the rest; return the problems found."""
        default = cls()
        values, problems = parse_lenient(FIELDS, params, {name: getattr(default, name) for name in FIELDS})
        while True:
            try:
                return cls(**values), problems
            except ConfigError as err:  # valid values in a combination PyTorch cannot train
                # The field named may be a default (model=mlp&norm=group: the default groups=8 does not divide
                # 100): then drop a given field of the combination instead, or the loop would never end.
                dropped = err.field if err.field in values else next(k for k in COMBINED if k in values)
                values.pop(dropped)
                problems.append(f"{err}; using the default for {dropped}")


def parse_lenient(fields: dict[str, "Field"], params: dict[str, str], defaults: dict) -> tuple[dict, list[str]]:
    """The valid values of `params` by field name, and one problem per other parameter, naming it, what is
    allowed and the default used instead: the one parser of URL parameters (run knobs and the lab's view)."""
    problems, values = [], {}
    for key, raw in params.items():
        if key not in fields:
            problems.append(f"unknown parameter {key!r} ignored")
            continue
        try:
            values[key] = fields[key].parse(key, raw)
            fields[key].check(key, values[key])
        except ConfigError as err:
            values.pop(key, None)
            problems.append(f"{err}; using the default {fields[key].format(defaults[key])}")
    return values, problems


@dataclass(frozen=True)
class Field:
    """How one knob is typed, bounded, described, parsed and printed."""

    kind: type
    help: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    optional: bool = False  # None allowed, written `none_word`
    none_word: str = "none"
    open_low: bool = False  # low itself not allowed

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        low, high = (f"{int(b)}" if self.kind is int else f"{b:g}" for b in (self.low, self.high))
        text = f"{self.kind.__name__} in {'(' if self.open_low else '['}{low}, {high}]"
        return text + (f" or {self.none_word}" if self.optional else "")

    def check(self, name: str, value):
        if value is None and self.optional:
            return
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(name, value, self.allowed())
        elif self.choices:
            if value not in self.choices:
                raise ConfigError(name, value, self.allowed())
        else:
            ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
            if self.kind is int:
                ok_type = ok_type and float(value).is_integer()
            in_range = ok_type and math.isfinite(value) and self.low <= value <= self.high
            if not in_range or (self.open_low and value == self.low):
                raise ConfigError(name, value, self.allowed())

    def parse(self, name: str, raw: str):
        text = str(raw).strip()
        if self.optional and text.lower() in (self.none_word, "none", "null", ""):
            return None
        try:
            if self.kind is bool:
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return lowered in ("true", "1", "yes")
            if self.kind is int:
                value = float(text)
                if not value.is_integer():
                    raise ValueError
                return int(value)
            if self.kind is float:
                return float(text)
        except ValueError:
            raise ConfigError(name, raw, self.allowed()) from None
        return text

    def format(self, value) -> str:
        if value is None:
            return self.none_word
        if self.kind is bool:
            return "true" if value else "false"
        return repr(value) if self.kind is float else str(value)


FIELDS: dict[str, Field] = {
    "model": Field(str, "network: seed_cnn (the article's Keras CNN) or mlp (BN paper Fig. 1)", MODELS),
    "norm": Field(str, "normalization layer at each norm site", NORMS),
    "placement": Field(str, "after: conv->act->norm (article); before: conv->norm->act (BN paper); none",
                       PLACEMENTS),
    "eps": Field(float, "added to the variance before the square root (PyTorch 1e-5, Keras 1e-3; "
                        "PyTorch refuses 0 in training)", low=0.0, high=1.0, open_low=True),
    "momentum": Field(float, "running-stat update, PyTorch convention (= 1 - Keras momentum); "
                             "none = cumulative average", low=0.0, high=1.0, optional=True),
    "affine": Field(bool, "learnable scale gamma and shift beta"),
    "groups": Field(int, "GroupNorm groups (must divide the layer widths)", low=1, high=100),
    "activation": Field(str, "nonlinearity of each block", ACTIVATIONS),
    "optimizer": Field(str, "optimizer", OPTIMIZERS),
    "lr": Field(float, "learning rate", low=1e-6, high=10.0),
    "weight_decay": Field(float, "L2 weight decay", low=0.0, high=1.0),
    "batch_size": Field(int, "images per training step", low=1, high=1024),
    "dataset": Field(str, "mnist-5k is bundled (offline); mnist and fashion-mnist download on first use",
                     DATASETS),
    "steps": Field(int, "training steps", low=1, high=1_000_000),
    "seed": Field(int, "seed for init and data order", low=0, high=2**31 - 1),
    "device": Field(str, "where to train; auto picks cuda, then mps, then cpu", DEVICES),
    "record_every": Field(int, "steps between activation snapshots", low=1, high=10_000),
    "hist_bins": Field(int, "histogram bins", low=8, high=256),
    "eval_every": Field(int, f"steps between test-set evaluations; auto: about every {EVAL_IMAGES:,} training "
                             "images (250 steps at batch 32)", low=1, high=100_000, optional=True, none_word="auto"),
    "init": Field(str, f"weight init: default (PyTorch's) or gaussian (N(0, {GAUSSIAN_STD:g}^2) weights, zero biases: "
                       "the BN paper's small random Gaussian init)", INITS),
    "bn_noise": Field(float, "noisy BN (Santurkar et al. 2018): after each BatchNorm in training, a per-channel "
                             "shift ~ U(-a, a) and scale exp(U(-a, a)), redrawn every step; 0 = off",
                      low=0.0, high=BN_NOISE_MAX),
    "compile": Field(str, "steps that record nothing through torch.compile, compiled in the background while the "
                          f"run starts eager; auto: BatchNorm runs of >= {COMPILE_MIN_IMAGES:,} training images", COMPILE),
}

assert list(FIELDS) == [f.name for f in dataclasses.fields(RunConfig)], "FIELDS must list every RunConfig field"
