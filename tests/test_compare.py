"""Comparisons without training: arms validated through FIELDS, vary, presets, URL round trip, summary, verdict."""

import numpy as np
import pytest

from bnviz.compare import (MAX_ARMS, PRESETS, Arm, ArmError, Comparison, arm_config, label_for, vary, vary_many)
from bnviz.compare_summary import arm_summaries, comparison_table, steps_to_accuracy, verdict
from bnviz.comparison_record import ComparisonRecord
from bnviz.config import ConfigError, RunConfig
from bnviz.record import RunRecord

BASE = RunConfig(model="mlp", batch_size=8, steps=12)


def test_each_arm_is_the_base_with_its_overrides():
    cmp = Comparison(BASE, (Arm("BN", {"norm": "batch"}), Arm("none", {"norm": "none", "eps": "1e-3"})))
    assert cmp.configs == [BASE, BASE.replace(norm="none", eps=1e-3)]
    assert cmp.labels == ["BN", "none"] and cmp.steps == 12


@pytest.mark.parametrize("overrides,field,allowed", [
    ({"eps": "0"}, "eps", "float in (0, 1]"),
    ({"batch_size": "5000"}, "batch_size", "int in [1, 1024]"),
    ({"norm": "weird"}, "norm", "one of batch, group"),
    ({"nrom": "none"}, "nrom", "unknown field"),
    ({"norm": "group", "groups": "7"}, "groups", "must divide"),
])
def test_a_bad_arm_names_the_arm_the_field_and_the_range(overrides, field, allowed):
    with pytest.raises(ArmError) as caught:
        Comparison(BASE, (Arm("ok", {}), Arm("bad one", overrides)))
    err = caught.value
    assert isinstance(err, ConfigError) and err.arm == 2 and err.field == field
    assert str(err).startswith("arm 2 (bad one): ") and allowed in str(err)


@pytest.mark.parametrize("arms", [1, MAX_ARMS + 1])
def test_two_to_four_arms(arms):
    with pytest.raises(ConfigError, match="2 to 4 arms"):
        Comparison(BASE, tuple(Arm(f"seed {i}", {"seed": str(i)}) for i in range(arms)))


def test_labels_are_distinct_and_not_empty():
    with pytest.raises(ConfigError, match="arm2.label"):
        Comparison(BASE, (Arm("a", {}), Arm("a", {"seed": "1"})))


def test_vary_makes_one_arm_per_value_labelled_by_what_differs():
    cmp = vary(BASE, "norm", ["batch", "none"])
    assert cmp.labels == ["BN", "norm=none"]
    assert [c.norm for c in cmp.configs] == ["batch", "none"]
    assert vary(BASE, "eps", [1e-5, 0.1]).configs[1].eps == 0.1  # typed values too
    two = vary_many(RunConfig(), {"batch_size": ["2", "32"], "norm": ["batch", "group"]})
    assert two.labels == ["batch 2, BN", "batch 2, GN", "batch 32, BN", "batch 32, GN"]
    assert label_for({"momentum": "none"}) == "momentum=cumulative"
    with pytest.raises(ConfigError, match="5 arms"):
        vary(BASE, "seed", range(5))
    with pytest.raises(ConfigError, match="unknown knob"):
        vary(BASE, "nrom", ["a", "b"])


def test_presets_make_the_comparisons_the_issue_lists():
    base = RunConfig(norm="none")  # the lab's config may be anything: each preset sets what it compares
    got = {name: preset.comparison(base).configs for name, preset in PRESETS.items()}
    assert [c.norm for c in got["bn-vs-none"]] == ["batch", "none"]
    assert [c.placement for c in got["before-vs-after"]] == ["before", "after"]
    assert [c.batch_size for c in got["batch-size"]] == [2, 32, 256]
    assert [(c.norm, c.batch_size) for c in got["norms-at-batch-2"]] == [("batch", 2), ("group", 2), ("layer", 2)]
    assert [c.eps for c in got["eps"]] == [1e-5, 1e-3, 1e-1]
    assert [c.momentum for c in got["momentum"]] == [0.1, 0.01, None]
    assert [(c.eps, c.momentum) for c in got["keras-vs-pytorch"]] == [(1e-3, 0.01), (1e-5, 0.1)]
    assert all(c.normalized for name, cs in got.items() if name != "bn-vs-none" for c in cs)


# --- the link ----------------------------------------------------------------------------------
def test_url_round_trip():
    cmp = vary_many(RunConfig(eps=1e-3, seed=4), {"batch_size": ["2", "32"], "norm": ["batch", "group"]})
    params = cmp.to_params()
    assert params["arm1.label"] == "batch 2, BN" and params["arm4.norm"] == "group" and params["eps"] == "0.001"
    back, problems = Comparison.from_params_lenient(params)
    assert back == cmp and problems == []


@pytest.mark.parametrize("base", [RunConfig(), RunConfig(model="mlp", lr=0.01, steps=50)])
def test_of_configs_gives_back_arms_that_train_exactly_those_configs(base):
    for name, preset in PRESETS.items():
        try:
            original = preset.comparison(base)
        except ArmError:
            continue  # norms-at-batch-2 on the mlp (groups): not a comparison to read back
        again = Comparison.of_configs(original.labels, original.configs)  # what a comparison file holds
        assert again.configs == original.configs and again.labels == original.labels, name
        assert again.arms[0].overrides == {}  # the first arm is the base
    with pytest.raises(ConfigError, match="arm2.label"):
        Comparison.of_configs(["a", "a"], [base, base.replace(lr=0.5)])


def test_bad_arm_params_are_named_and_the_base_used():
    params = {**BASE.to_params(), "arm1.norm": "none", "arm1.label": "off",
              "arm2.eps": "banana", "arm2.momentum": "0.01", "arm2.nrom": "x", "arm7.norm": "none",
              "arm3.norm": "group", "arm3.groups": "7"}
    cmp, problems = Comparison.from_params_lenient(params)
    assert cmp.base == BASE
    assert cmp.arms[0] == Arm("off", {"norm": "none"})
    assert cmp.arms[1] == Arm("momentum=0.01", {"momentum": "0.01"})  # eps dropped: the base's eps
    assert cmp.configs[1].eps == BASE.eps
    assert "groups" not in cmp.arms[2].overrides  # 7 (and the base's 8) divide no mlp width: dropped, named
    text = "\n".join(problems)
    assert "arm2.eps='banana' is not allowed: float in (0, 1]" in text and "using the base's eps=1e-05" in text
    assert "arm2.nrom" in text and "'arm7.norm'" in text and "arm3.groups=7" in text


def test_a_link_with_too_few_arms_falls_back_to_a_preset():
    cmp, problems = Comparison.from_params_lenient({"eps": "0.01", "arm1.norm": "none"})
    assert cmp.base.eps == 0.01 and len(cmp.arms) == 2 and "needs 2 to 4 arms" in problems[-1]
    # A base the preset's arms cannot train (noise needs BN; the preset's second arm has none): said, not raised.
    cmp, problems = Comparison.from_params_lenient({"bn_noise": "0.5", "arm1.norm": "none"})
    assert cmp.base == RunConfig() and cmp.configs[1].norm == "none" and "on the default settings" in problems[-1]


# --- summary and verdict -----------------------------------------------------------------------
def record_with_evals(steps, accuracies, status="finished") -> RunRecord:
    record = RunRecord(BASE, {}, [], [])
    for step, acc in zip(steps, accuracies):
        record.evals.append(step=step, test_loss=1.0, test_acc=np.float32(acc), train_mode_acc=np.float32(acc + 0.02),
                            eval_mode_acc=np.float32(acc))
    record.end(status)
    return record


def test_steps_to_accuracy_is_the_first_evaluation_at_or_above():
    record = record_with_evals([50, 100, 150, 200], [0.80, 0.91, 0.89, 0.96])
    assert steps_to_accuracy(record, 0.90) == 100 and steps_to_accuracy(record, 0.95) == 200
    assert steps_to_accuracy(record, 0.99) is None


def test_summary_rows_and_the_verdict_in_words():
    a = record_with_evals([100, 200, 300, 400, 500], [0.85, 0.90, 0.93, 0.94, 0.95])
    b = record_with_evals([100, 200, 300], [0.91, 0.95, 0.97])
    c = record_with_evals([100], [0.5], status="diverged")
    cmp = ComparisonRecord(["A", "B", "C"], [a, b, c])
    rows = arm_summaries(cmp)
    assert rows[0].steps_to == {0.90: 200, 0.95: 500} and rows[1].steps_to == {0.90: 100, 0.95: 200}
    assert rows[1].final_test_accuracy == pytest.approx(0.97)
    assert rows[0].accuracy_gap == pytest.approx(0.02, abs=1e-6)
    text = verdict(rows)
    assert text.startswith("B reached 95% test accuracy first (step 200): 60% fewer steps than A (200 vs 500)")
    assert "C never did" in text and "C diverged" in text


def test_verdict_without_any_arm_at_90():
    rows = arm_summaries(ComparisonRecord(["A", "B"], [record_with_evals([10], [0.5]), record_with_evals([10], [0.7])]))
    assert verdict(rows) == "no arm reached 90% test accuracy; the best is B at 70.0%."


def test_csv_has_an_arm_column_and_the_union_of_layers():
    a, b = RunRecord(BASE, {}, ["fc", "norm"], []), RunRecord(BASE, {}, ["fc"], [])
    a.steps.append(step=0, loss=1.0, train_acc=0.5, ms_per_step=2.0, grad_norm=np.array([3.0, 4.0]))
    b.steps.append(step=0, loss=2.0, train_acc=0.25, ms_per_step=1.0, grad_norm=np.array([5.0]))
    header, rows = comparison_table(ComparisonRecord(["A", "B"], [a, b]))
    assert header == ["arm", "step", "loss", "train_acc", "ms_per_step", "grad_norm/fc", "grad_norm/norm"]
    assert rows == [["A", 0, 1.0, 0.5, 2.0, 3.0, 4.0], ["B", 0, 2.0, 0.25, 1.0, 5.0, ""]]
    assert arm_config(BASE, {}) == BASE
