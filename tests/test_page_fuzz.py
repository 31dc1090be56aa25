"""Random query strings through AppTest on every page of app.py's PAGES: no exception, no error box, every bad
parameter named with its allowed values in a warning, every good one kept (in the lab's state and, on the lab,
in the URL it writes back; on the Compare page, arm parameters too, in its comparison). Nothing trains: autorun
is never true here."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from bench import fuzz
from bnviz.config import FIELDS, ConfigError
from bnviz.ui import compare_session, compare_views, session, share, sidebar, sweep_job, sweep_link, sweep_spec
from test_app import APP, one_thread_limiter  # noqa: F401 (the fixture)

# Per page. The suite runs 25 (each is a fresh AppTest session, ~0.5-2 s); the 100 per page run with
# BNVIZ_PAGE_FUZZ_EXAMPLES=100 (bench/README.md, "Hostile input").
EXAMPLES = int(os.environ.get("BNVIZ_PAGE_FUZZ_EXAMPLES", "25"))
WARNING = "Link parameter ignored: "


def page_files() -> list[str]:
    """The page files of app.py's PAGES (its st.Page("pages/X.py", ...) calls): a new page is fuzzed too."""
    tree = ast.parse(Path(APP).read_text())
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page"
            and node.args and isinstance(node.args[0], ast.Constant)]


VIEW_KEYS = tuple(share.FIELD_OF)
SITES = ("all", "block1.norm", "block2.norm", "block3.norm")  # block3 is the mlp's only: bad on the seed_cnn
view_values = {
    "view": st.lists(st.integers(-1, 9), max_size=4).map(lambda v: ",".join(map(str, v))),
    "site": st.sampled_from(SITES),
    "step": st.one_of(st.just("latest"), st.integers(-3, FIELDS["steps"].high + 3).map(str)),
    "channel": st.one_of(st.just("all"), st.integers(-2, 101).map(str)),
}


def raw(key: str):
    """Valid values of the key (run knob, arm knob or view parameter), junk, unicode, huge numbers, empty."""
    junk = fuzz.raw_value(None)
    if key.startswith("arm") and key.partition(".")[2] in FIELDS:
        return fuzz.raw_value(key.partition(".")[2])
    if key == compare_session.HIST:
        return st.one_of(st.sampled_from(compare_session.HIST_MODES), junk)
    if key in FIELDS:
        return fuzz.raw_value(key)
    if key in view_values:
        return st.one_of(view_values[key], junk)
    if key == share.AUTORUN:
        return st.sampled_from(["0", "false", "no", "", "off", "2", "tru"])  # never one that trains
    return junk


keys = st.one_of(st.sampled_from([*FIELDS, *VIEW_KEYS, share.AUTORUN]), st.text(max_size=8))
value_of = lambda key: st.one_of(raw(key), st.lists(raw(key), min_size=2, max_size=3))  # noqa: E731 (repeated key)
query = st.lists(keys, max_size=8, unique=True).flatmap(lambda names: st.fixed_dictionaries(
    {k: value_of(k) for k in names}))


def alone(spec, key: str, text: str):
    try:
        value = spec.parse(key, text)
        spec.check(key, value)
        return value
    except ConfigError as err:
        return err


# Pages whose links carry more than the lab's knobs (arms, a grid) parse them with their own lenient parsers
# (property-tested in tests/test_compare.py and tests/test_sweep_link.py); here both pages' links are checked as
# the lab's is: the Compare page's arms (check_compare) and the Sweep page's grid (check_sweep).
COMPARE = "pages/Compare.py"
SWEEP_PAGE = "pages/Sweep.py"
OWN_URL = (COMPARE, SWEEP_PAGE)

# The Compare page's links: arm parameters (arm0 and arm5 are out of range, bogus is no knob) and hist; half of
# them name two arms, so the arms are read rather than the link falling back to the preset.
ARM_FIELDS = ("label", "norm", "eps", "batch_size", "lr", "placement", "device", "bogus")
arm_keys = st.builds(lambda n, name: f"arm{n}.{name}", st.integers(0, 5), st.sampled_from(ARM_FIELDS))
compare_keys = st.one_of(keys, arm_keys, st.just(compare_session.HIST))
two_arms = st.fixed_dictionaries({}, optional={"arm1.norm": st.just("batch"), "arm2.norm": st.just("none")})
compare_query = st.tuples(two_arms, st.lists(compare_keys, max_size=10, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({k: value_of(k) for k in names}))).map(lambda both: {**both[0], **both[1]})


def arm_of(key: str) -> tuple[int | None, str]:
    """("armN.field") -> (N if 1..4, field); N is None for a key the page must name as unknown."""
    head, _, name = key.partition(".")
    number = head[3:]
    return (int(number) if number.isdigit() and 1 <= int(number) <= 4 and name else None), name


GRID_KNOBS = ("batch_size", "norm", "lr", "groups", "model", "eps")
sweep_values = {  # near-valid and junk values of the Sweep page's own parameters
    "grid": st.lists(st.tuples(st.sampled_from(GRID_KNOBS), st.lists(st.one_of(
        *(fuzz.raw_value(k) for k in GRID_KNOBS)), min_size=0, max_size=3)), max_size=3).map(
        lambda parts: ";".join(f"{k}:{','.join(v)}" for k, v in parts)),
    "seeds": st.lists(st.integers(-2, 12).map(str), max_size=12).map(",".join),
    "images": st.one_of(st.just("none"), st.integers(-5, 3_000_000).map(str)),
    "metric": st.sampled_from(["error", "accuracy", "gap", "ms", "loss"]),
    "bars": st.sampled_from(["std", "minmax", "sem"]),
    sweep_job.SWEEP_PARAM: st.text(min_size=1, max_size=12),  # never a live sweep's token
}
sweep_keys = st.one_of(st.sampled_from([*FIELDS, *sweep_values, sweep_link.AUTORUN, *VIEW_KEYS]), st.text(max_size=8))


def sweep_value(key: str):
    return st.one_of(sweep_values[key], fuzz.raw_value(None)) if key in sweep_values else raw(key)


sweep_query = st.lists(sweep_keys, max_size=8, unique=True).flatmap(lambda names: st.fixed_dictionaries(
    {k: st.one_of(sweep_value(k), st.lists(sweep_value(k), min_size=2, max_size=3)) for k in names}))


def check_sweep(at: AppTest, given_params: dict):
    """Each bad parameter is named with what is allowed and the default used; each good one is kept in the
    page's sweep, or named (its sweep cannot train: a combination, the cap); unknown ones named; nothing runs."""
    warned = [w.value[len(WARNING):] for w in at.warning if w.value.startswith(WARNING)]
    state = at.session_state[sweep_job.STATE_KEY]
    spec, default = state.spec, sweep_spec.DEFAULT
    named = lambda k: [w for w in warned if w.startswith(f"{k}=") and "; using the default " in w]  # noqa: E731
    for key, sent in given_params.items():
        text = sent[-1] if isinstance(sent, list) else sent  # a repeated key: the last one counts
        if key == sweep_job.SWEEP_PARAM:
            assert any(w.startswith(f"{key}=") and "no such sweep on this server" in w for w in warned), warned
            continue
        if key not in FIELDS and key not in sweep_link.URL_FIELDS:
            assert f"unknown parameter {key!r} ignored" in warned, (key, warned)
            continue
        spec_field = FIELDS.get(key) or sweep_link.URL_FIELDS[key]
        value = alone(spec_field, key, text)
        if key == sweep_link.AUTORUN:
            assert not isinstance(value, ConfigError) or named(key), (key, text, warned)
            continue
        name = sweep_link.SPEC_OF.get(key)
        used = getattr(default.base, key) if key in FIELDS else getattr(default, name)
        if isinstance(value, ConfigError):  # bad: named, with what is allowed and the default used
            assert any(w.startswith(f"{value}; using the default {spec_field.format(used)}") for w in warned), \
                (key, text, str(value), warned)
            continue
        kept = getattr(spec.base, key) == value if key in FIELDS else getattr(spec, name) == value
        assert kept or named(key) or (key == "device" and value not in sidebar.devices()), (key, text, warned)
    assert state.job is None  # nothing runs


def check_page(at: AppTest, given_params: dict, page: str):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    if page == COMPARE:
        return check_compare(at, given_params)
    if page == SWEEP_PAGE:
        return check_sweep(at, given_params)
    warned = [w.value[len(WARNING):] for w in at.warning if w.value.startswith(WARNING)]
    lab = at.session_state[session.SESSION_KEY]
    cfg, selection = lab.config, lab.selection
    specs = {**FIELDS, **share.url_fields(cfg.model)}
    names = lambda k: [w for w in warned if w.startswith(f"{k}=") or w.endswith(f"the default for {k}")]  # noqa: E731
    for key, sent in given_params.items():
        text = sent[-1] if isinstance(sent, list) else sent  # a repeated key: the last one counts
        if key not in specs:
            assert f"unknown parameter {key!r} ignored" in warned, (key, warned)
            continue
        value = alone(specs[key], key, text)
        if isinstance(value, ConfigError):  # bad: named, with what is allowed
            assert any(specs[key].allowed() in w for w in names(key)), (key, text, warned)
            continue
        if key == share.AUTORUN:
            continue  # false-ish only here; the lab never trained (checked below)
        if key == "view":
            value = tuple(sorted(value))  # the pills show the views in order
        kept = getattr(cfg, key) == value if key in FIELDS else getattr(selection, share.FIELD_OF[key]) == value
        shown = specs[key].format(value)
        assert kept or names(key), (key, text, warned)  # good: kept, or dropped by a combination and said so
        if kept and page is None:  # the lab writes every setting back into the URL
            assert at.query_params[key] == shown, (key, at.query_params.get(key), shown)
    assert lab.run is None  # nothing trained


def check_compare(at: AppTest, given_params: dict):
    """The Compare page names every bad base, arm or view parameter with what is allowed; keeps the good ones."""
    warned = [w.value[len(WARNING):] for w in at.warning if w.value.startswith(WARNING)]
    shown = at.session_state[compare_session.STATE_KEY]
    comparison, selection = shown.comparison, shown.selection
    has_arms = any(k.startswith("arm") for k in given_params)
    base = comparison.base if has_arms else at.session_state[session.SESSION_KEY].config  # no arms: the lab's
    fell_back = any("a comparison needs" in w for w in warned)  # too few arms: the preset, and said so
    reset = any("on the default settings" in w for w in warned)  # a base the preset cannot take: said so
    numbers = sorted({n for k in given_params if k.startswith("arm") for n in [arm_of(k)[0]] if n is not None})
    views = compare_session.view_fields(comparison.base.model)
    for key, sent in given_params.items():
        text = sent[-1] if isinstance(sent, list) else sent
        if key.startswith("arm"):
            number, name = arm_of(key)
            if number is None:
                assert any(repr(key) in w for w in warned), (key, warned)
            elif name not in FIELDS:
                assert name == "label" or any(w.startswith(f"{key}: unknown field") for w in warned), (key, warned)
            else:
                value = alone(FIELDS[name], name, text)
                names = [w for w in warned if w.startswith(f"{key}=") or
                         (w.startswith(f"arm{number}.") and f"using the base's {name}=" in w)]
                if isinstance(value, ConfigError):
                    assert any(FIELDS[name].allowed() in w for w in names), (key, text, warned)
                elif not fell_back:
                    cfg = comparison.configs[numbers.index(number)]
                    assert getattr(cfg, name) == value or names, (key, text, warned)
            continue
        spec = FIELDS.get(key) or views.get(key)
        if spec is None:
            assert key == session.RUN_PARAM or f"unknown parameter {key!r} ignored" in warned, (key, warned)
            continue
        value = alone(spec, key, text)
        names = [w for w in warned if w.startswith(f"{key}=") or w.endswith(f"the default for {key}")]
        if isinstance(value, ConfigError):
            assert any(spec.allowed() in w for w in names), (key, text, warned)
        elif key in FIELDS:
            assert getattr(base, key) == value or names or reset, (key, text, warned)
        elif key == compare_session.HIST:
            assert shown.hist == value, (key, text)
        elif key == "step" and value is not None and value <= comparison.steps:  # shown at the nearest stop
            stop = min(compare_views.step_stops(comparison), key=lambda s: abs(s - value))
            assert selection.step == (None if stop == comparison.steps else stop), (text, selection.step)
        elif key != share.AUTORUN:
            value = tuple(sorted(value)) if key == "view" else value
            assert getattr(selection, share.FIELD_OF[key]) == value or names, (key, text, warned)
    assert shown.run is None  # nothing trained


@pytest.mark.parametrize("page", [None, *page_files()[1:]])  # None: the default page (the lab), at /
def test_random_query_strings_on_every_page(page):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, report_multiple_bugs=False,
              phases=[Phase.explicit, Phase.generate],  # no shrinking: one AppTest run is ~1-3 s
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given({COMPARE: compare_query, SWEEP_PAGE: sweep_query}.get(page, query))
    def fuzz_page(params):
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params.update(params)
        if page:
            at.switch_page(page)
        check_page(at.run(), params, page)

    fuzz_page()


def test_every_page_is_fuzzed():
    pages = page_files()
    assert pages[0] == "pages/Lab.py" and {"pages/Microscope.py", "pages/Theory.py", *OWN_URL} <= set(pages)
