"""The public API: `import bnviz` stays light, its names resolve, and the README's Python example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    """The README's "From Python" code block, exactly as a reader copies it."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


PRELUDE = ("import sys, bnviz\n"
           "bnviz.RunConfig, bnviz.RunRecord, bnviz.column_key, bnviz.plots, bnviz.VIEWS\n"
           "print('torch loaded:', 'torch' in sys.modules)\n")
AFTER = ("from bnviz import RunConfig, Trainer, RunRecord, build_model\n"
         "print('torch loaded:', 'torch' in sys.modules, Trainer.__module__, build_model.__module__)\n")


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """One fresh interpreter (torch imports once): the light names, the README's code as written, the heavy names."""
    where = tmp_path_factory.mktemp("readme")
    return run(PRELUDE + readme_example() + AFTER, where), where


def test_import_bnviz_does_not_load_torch_until_a_torch_name_is_used(readme_run):
    result, _ = readme_run
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("torch loaded:")]
    assert lines == ["torch loaded: False", "torch loaded: True bnviz.trainer bnviz.models"]


def test_an_unknown_name_is_an_attribute_error(tmp_path):
    probe = run("import bnviz\ntry:\n    bnviz.Nope\nexcept AttributeError as e:\n    print(e)\n", tmp_path)
    assert "has no attribute 'Nope'" in probe.stdout, probe.stderr


def test_the_readme_example_runs_as_written(readme_run):
    result, where = readme_run
    assert len(readme_example().strip().splitlines()) <= 10
    assert result.returncode == 0, result.stderr
    # It printed block1.norm's post std at init and at the last snapshot: BatchNorm's output, near 1 at init.
    first, last, step = map(float, re.search(r"post std: ([\d.]+) at step 0, ([\d.]+) at step (\d+)",
                                             result.stdout).groups())
    assert abs(first - 1.0) < 0.05 and step == 180 and np.isfinite(last)  # snapshots every 20 steps from 0
    assert "plotly" in (where / "block1.html").read_text(encoding="utf-8")[:5000].lower()
