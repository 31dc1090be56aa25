"""The lab's URL: view parameters go through the config's parser, so a bad one is named with its range."""

from bnviz.config import RunConfig
from bnviz.ui import share
from bnviz.views import VIEW_NUMBERS

DEVICES = ["auto", "cpu"]


def test_a_selection_survives_its_link():
    chosen = share.Selection((2, 6), "block3.norm", 40, 7)
    params = share.params_of(RunConfig(model="mlp"), chosen)
    cfg, selection, autorun, problems = share.read(params, DEVICES)
    assert (cfg.model, selection, autorun, problems) == ("mlp", chosen, False, [])


def test_each_bad_view_parameter_is_named_with_its_range_and_the_default_used():
    params = {"view": "1,9", "site": "block3.norm", "step": "-1", "channel": "32", "autorun": "maybe"}
    cfg, selection, autorun, problems = share.read(params, DEVICES)  # the seed_cnn: 2 sites, 32 channels
    assert selection == share.Selection() and not autorun
    text = " | ".join(problems)
    assert f"view numbers {min(VIEW_NUMBERS)}..{max(VIEW_NUMBERS)}" in text and "using the default 1,4" in text
    assert "one of all, block1.norm, block2.norm" in text
    assert "step=-1" in text and "or latest" in text
    assert "channel=32" in text and "channels 0..31" in text and "using the default all" in text
    assert "autorun='maybe'" in text and "true or false" in text
    assert len(problems) == 5


def test_latest_all_and_no_views_are_valid_choices():
    _, selection, autorun, problems = share.read({"view": "", "step": "latest", "channel": "all",
                                                  "autorun": "1"}, DEVICES)
    assert (selection.views, selection.step, selection.channel, autorun, problems) == ((), None, None, True, [])
