"""Run inside the Ray test's network namespace (tests/test_sweep_ray.py): the Sweep page in AppTest, pointed at
the cluster by $RAY_ADDRESS, runs a sweep with the ray backend and writes what it showed and its sweep file.

    python tests/ray_sweep_page.py PARAMS_JSON OUT_DIR
"""

import json
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def main(params: dict, out: Path) -> int:
    from bnviz.ui.sweep_job import STATE_KEY
    from bnviz.ui.sweep_upload import sweep_npz

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at = at.switch_page("pages/Sweep.py").run()
    at.radio(key="sweep.backend").set_value("ray").run()
    before = [c.value for c in at.caption]
    at.button[0].click().run()
    state = at.session_state[STATE_KEY]
    job = state.job
    job.join(180)
    at.run()
    (out / "sweep.npz").write_bytes(sweep_npz(job.results(), state.shown, job.backend_name))
    shown = {"state": job.state, "error": job.error, "before": before, "captions": [c.value for c in at.caption],
             "info": [i.value for i in at.info], "errors": [e.value for e in at.error],
             "exceptions": [str(e.value) for e in at.exception]}
    (out / "page.json").write_text(json.dumps(shown, indent=1))
    return 0 if job.state == "finished" else 1


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1]), Path(sys.argv[2])))
