"""RunConfig: validation names the field and range; the flat-dict form round-trips without loss."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnviz.config import FIELDS, ConfigError, RunConfig


def test_defaults_are_the_article_model():
    cfg = RunConfig()
    assert (cfg.model, cfg.norm, cfg.placement, cfg.batch_size, cfg.optimizer) == (
        "seed_cnn", "batch", "after", 32, "adam")
    assert cfg.eps == 1e-5 and cfg.momentum == 0.1 and cfg.dataset == "mnist-5k"


@pytest.mark.parametrize("field, value, fragment", [
    ("batch_size", 0, "[1, 1024]"), ("batch_size", 1025, "[1, 1024]"), ("batch_size", 2.5, "int"),
    ("eps", -1e-3, "(0, 1]"), ("eps", 2.0, "(0, 1]"), ("eps", math.nan, "(0, 1]"), ("eps", 0.0, "(0, 1]"),
    ("momentum", 1.5, "or none"), ("placement", "sideways", "after, before, none"),
    ("norm", "weight", "batch, group"), ("device", "tpu", "auto, cpu"), ("affine", "yes", "true or false"),
])
def test_bad_value_names_field_value_and_range(field, value, fragment):
    with pytest.raises(ConfigError) as err:
        RunConfig(**{field: value})
    assert err.value.field == field
    assert field in str(err.value) and fragment in str(err.value)


def test_combinations_pytorch_cannot_train_are_explained():
    with pytest.raises(ConfigError, match="groups=8.*one of \\[1, 2, 4, 5, 10"):
        RunConfig(model="mlp", norm="group", groups=8)
    with pytest.raises(ConfigError, match="instance"):
        RunConfig(model="mlp", norm="instance")
    assert RunConfig(model="mlp", norm="group", groups=10).groups == 10
    assert RunConfig(model="mlp", norm="none", batch_size=1).batch_size == 1  # nothing to normalize


def _values(name):
    spec = FIELDS[name]
    if spec.choices:
        return st.sampled_from(spec.choices)
    if spec.kind is bool:
        return st.booleans()
    if spec.kind is int:
        return st.integers(int(spec.low), int(spec.high))
    floats = st.floats(spec.low, spec.high, allow_nan=False, exclude_min=spec.open_low)
    return st.one_of(st.none(), floats) if spec.optional else floats


def _valid(cfg_kwargs):
    try:
        return RunConfig(**cfg_kwargs)
    except ConfigError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({name: _values(name) for name in FIELDS}))
def test_round_trip_through_flat_strings(kwargs):
    cfg = _valid(kwargs)
    if cfg is None:  # an untrainable combination, rejected before any round-trip
        return
    params = cfg.to_params()
    assert all(isinstance(v, str) for v in params.values())
    assert RunConfig.from_params(params) == cfg


def test_unknown_keys_are_reported_not_dropped():
    with pytest.raises(ConfigError, match="unknown field"):
        RunConfig.from_params({"batch_size": "8", "batchsize": "16"})
    cfg, problems = RunConfig.from_params_lenient({"batch_size": "8", "batchsize": "16"})
    assert cfg.batch_size == 8 and any("batchsize" in p for p in problems)


def test_lenient_parse_keeps_good_values_and_names_bad_ones():
    cfg, problems = RunConfig.from_params_lenient(
        {"batch_size": "4096", "eps": "1e-3", "placement": "before", "momentum": "abc"})
    assert (cfg.batch_size, cfg.eps, cfg.placement, cfg.momentum) == (32, 1e-3, "before", 0.1)
    assert any("batch_size" in p and "[1, 1024]" in p for p in problems)
    assert any("momentum" in p for p in problems)


def test_lenient_parse_falls_back_on_untrainable_combination():
    cfg, problems = RunConfig.from_params_lenient({"model": "mlp", "norm": "batch", "batch_size": "1"})
    assert cfg.model == "mlp" and cfg.batch_size == 32
    assert any("batch_size" in p for p in problems)


def test_momentum_none_means_cumulative_average_and_round_trips():
    cfg = RunConfig(momentum=None)
    assert cfg.to_params()["momentum"] == "none"
    assert RunConfig.from_params(cfg.to_params()).momentum is None


@pytest.mark.parametrize("batch_size, interval", [(32, 250), (8, 1000), (1, 8000), (128, 62), (1024, 8)])
def test_auto_evaluation_cadence_follows_training_images(batch_size, interval):
    cfg = RunConfig(batch_size=batch_size)
    assert cfg.eval_every is None and cfg.eval_interval == interval
    assert abs(interval * batch_size - 8000) <= batch_size / 2  # the nearest step count to 8,000 images
    assert RunConfig(batch_size=batch_size, eval_every=7).eval_interval == 7  # an explicit value wins


def test_auto_evaluation_is_written_auto_and_round_trips():
    assert RunConfig().to_params()["eval_every"] == "auto"
    assert RunConfig.from_params({"eval_every": "auto"}).eval_every is None
    assert RunConfig.from_params({"eval_every": "100"}).eval_every == 100
    with pytest.raises(ConfigError, match="eval_every.*or auto"):
        RunConfig.from_params({"eval_every": "0"})
