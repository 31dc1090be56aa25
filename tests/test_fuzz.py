"""Property tests (hypothesis) over the run-config parsers: URL parameters, strict and lenient, and CLI flags.

No exception but the documented one (ConfigError, argparse's exit 2), every bad parameter named with its
allowed range, every good one kept. The checks are bench/fuzz.py's, which runs 20,000 inputs.
"""

from hypothesis import HealthCheck, given, settings

from bench import fuzz
from bnviz.config import RunConfig

EXAMPLES = 125  # per property: 500 in the suite, parsing only (no training)
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(fuzz.params)
def test_strict_url_parser(params):
    fuzz.check_strict(params)


@FAST
@given(fuzz.params)
def test_lenient_url_parser(params):
    fuzz.check_lenient(params)


@FAST
@given(fuzz.field_params)
def test_cli_flags(params):
    fuzz.check_cli(params)


@FAST
@given(fuzz.good_configs)
def test_valid_values_round_trip_through_text(values):
    fuzz.check_round_trip(values)


def test_found_by_fuzzing_a_default_in_an_untrainable_combination_does_not_hang():
    """model=mlp&norm=group: the default groups=8 does not divide 100; the lenient parser used to loop forever."""
    cfg, problems = RunConfig.from_params_lenient({"model": "mlp", "norm": "group"})
    assert cfg.model == "mlp" and cfg.norm == "batch" and "must divide" in problems[0]
    assert "using the default for norm" in problems[0]


def test_tricky_numbers_are_refused_with_the_range():
    for raw in ("nan", "inf", "-inf", "1e400", "9" * 400, "", " ", "0x10", "2**31"):
        _, problems = RunConfig.from_params_lenient({"batch_size": raw, "lr": raw})
        assert any("batch_size=" in p and "int in [1, 1024]" in p for p in problems), raw
        assert any("lr=" in p and "float in [1e-06, 10]" in p for p in problems), raw
