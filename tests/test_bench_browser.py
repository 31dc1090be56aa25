"""The bench's browser section: the in-app rate from the page's step counts, and its summary over rounds."""

import statistics

import pytest

from bench.browser import _rate
from bench.sections import summarize_browser


def test_rate_uses_the_first_and_last_new_step_count():
    # Step counts as the page showed them (ms on the page clock): 60 steps in 9 s, whatever came between.
    samples = [(1000.0, 100), (2500.0, 111), (4000.0, 130), (10000.0, 160)]
    assert _rate(samples) == pytest.approx(60 / 9, abs=0.01)
    assert _rate(samples[:1]) is None  # one count gives no rate


def _lab(steps_per_s, first=1.0, gaps=(0.4, 0.5)):
    return {"browser_cpus": [0, 1], "server_cpus": [0, 1], "steps_per_s": steps_per_s, "first_chart_s": first,
            "refresh_gaps_s": list(gaps), "chromium_cores": 0.7, "server_cores": 0.9}


def test_summary_divides_each_round_by_its_own_bare_loop():
    rounds = [{"labs": {"shared": _lab(5.0)}, "bare_steps_per_s": {1: 6.0, 2: 10.0}},
              {"labs": {"shared": _lab(6.0, gaps=(0.9,))}, "bare_steps_per_s": {1: 8.0, 2: 12.0}},
              {"labs": {"shared": _lab(4.0)}, "bare_steps_per_s": {1: 4.0, 2: None}}]  # a failed bare run
    summary = summarize_browser(rounds)
    shared = summary["shared"]
    # Ratios per round (5/6, 6/8, 4/4), not the ratio of the medians (5/6).
    assert shared["over_bare"][1]["median"] == pytest.approx(round(statistics.median([5 / 6, 6 / 8, 1.0]), 2))
    assert shared["over_bare"][1]["min"] == pytest.approx(0.75)
    assert shared["over_bare"][2]["median"] == pytest.approx(round(statistics.median([0.5, 0.5]), 2))
    assert shared["steps_per_s"] == {"median": 5.0, "min": 4.0, "max": 6.0}
    assert shared["refresh_gap_max_s"] == 0.9 and shared["refresh_gaps"] == 5
    assert summary["bare_steps_per_s"][2] == {"median": 11.0, "min": 10.0, "max": 12.0}


def test_summary_leaves_out_a_lab_run_without_a_rate():
    rounds = [{"labs": {"shared": _lab(None)}, "bare_steps_per_s": {1: 6.0}},
              {"labs": {"shared": _lab(3.0)}, "bare_steps_per_s": {1: 6.0}}]
    shared = summarize_browser(rounds)["shared"]
    assert shared["steps_per_s"]["median"] == 3.0
    assert shared["over_bare"][1] == {"median": 0.5, "min": 0.5, "max": 0.5}
