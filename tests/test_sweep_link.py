"""Sweep share links without Streamlit: every preset round-trips, a malformed grid or seeds list is named
with what is allowed, and the sweep size cap is the hosted one ($BNVIZ_MAX_SWEEP)."""

import pytest

from bnviz.config import ConfigError
from bnviz.ui.sweep_link import params_of, read
from bnviz.ui.sweep_spec import DEFAULT, MAX_SWEEP_RUNS, PRESETS, max_sweep_runs


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_through_its_link(name):
    spec, autorun, problems = read(params_of(PRESETS[name]))
    assert (spec, autorun, problems) == (PRESETS[name], False, [])
    assert len(spec.configs()) == len(spec.seeds) * len(spec.grid[spec.x_knob]) * len(spec.grid[spec.line_knob])


@pytest.mark.parametrize("grid, named", [
    ("batch_size", "knob:value,value;knob:value"),  # no values
    ("batch_size:2;batch_size:4", "knob:value,value"),  # a knob twice
    ("lr:0.1;norm:batch;optimizer:sgd", "1 to 2 knobs"),
    ("seed:0,1", "1 to 2 knobs of model"),  # seeds are not a grid knob: the allowed list leaves seed out
    ("norm:batch,bogus", "norm='bogus': one of batch, group"),
    ("lr:0.1,x", "lr='x'"),
])
def test_a_malformed_grid_is_named_and_the_default_used(grid, named):
    spec, _, problems = read({"grid": grid})
    assert spec.grid == DEFAULT.grid
    assert len(problems) == 1 and problems[0].startswith(f"grid={grid!r} is not allowed") and named in problems[0]


def test_seeds_images_and_autorun():
    spec, autorun, problems = read({"seeds": "3,1,3", "images": "none", "autorun": "true"})
    assert spec.seeds == (3, 1) and spec.images is None and autorun and not problems
    _, _, problems = read({"seeds": ",".join(map(str, range(11)))})
    assert "1 to 10 seeds" in problems[0]


def test_the_cap_and_a_combination_the_base_cannot_train(monkeypatch):
    assert max_sweep_runs() == MAX_SWEEP_RUNS
    monkeypatch.setenv("BNVIZ_HOSTED", "1")
    monkeypatch.setenv("BNVIZ_MAX_SWEEP", "10")
    with pytest.raises(ConfigError, match="at most 10 runs per sweep"):
        DEFAULT.configs()
    spec = DEFAULT.replace(base=DEFAULT.base.replace(groups=3), seeds=(0,))  # 3 does not divide 100
    with pytest.raises(ConfigError) as err:
        spec.configs()
    assert err.value.field == "groups" and "100" in err.value.allowed


@pytest.mark.parametrize("params, named, kept", [
    # valid alone, but the default grid's norm=group runs cannot train with it on the mlp (100 units)
    ({"groups": "3"}, "groups=3 is not allowed: must divide the mlp layer widths", {}),
    # a grid valid knob by knob whose run (instance norm on the mlp) cannot train
    ({"grid": "batch_size:2,4;norm:batch,instance"}, "grid='batch_size:2,4;norm:batch,instance': the sweep "
     "cannot train with it: norm='instance'", {}),
    # too many runs for the server's cap (5 x 4 x 10 = 200 > 64): the seeds go, the rest stays
    ({"seeds": ",".join(map(str, range(10))), "lr": "0.01"}, f"at most {MAX_SWEEP_RUNS} runs per sweep", {"lr": 0.01}),
    ({"device": "tpu9"}, "device='tpu9' is not allowed", {}),
])
def test_a_link_whose_sweep_cannot_train_is_named_and_the_default_used(params, named, kept):
    spec, _, problems = read(params)
    key = next(iter(params))
    default = params_of(DEFAULT)[key]
    assert any(named in p and p.endswith(f"; using the default {default}") for p in problems), problems
    assert params_of(spec)[key] == default
    assert all(getattr(spec.base, k) == v for k, v in kept.items())
    spec.configs()  # what the page opens trains
