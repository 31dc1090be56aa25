"""The Docker image's start: its CMD and HEALTHCHECK, parsed from the Dockerfile, run here as a non-root user
against the project venv (no Docker daemon on this machine: the image build itself is not tested).

The server binds 0.0.0.0 as in the image, so it runs in a fresh network namespace that has only loopback.
As root, a private mount namespace makes the root-owned interpreter (under /root) reachable for uid 65534.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
NOBODY = 65534


def instruction(name: str) -> str:
    """The text of the Dockerfile's last `name` instruction, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith(name + " ")]
    assert lines, f"no {name} in the Dockerfile"
    return lines[-1][len(name) + 1:].strip()


def test_dockerfile_has_what_hosting_needs():
    assert DOCKERFILE.startswith("#") and "FROM python:3.11-slim" in DOCKERFILE
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.M) and re.search(r"^WORKDIR /app$", DOCKERFILE, re.M)
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in DOCKERFILE
    assert "download.pytorch.org" not in (ROOT / "requirements.txt").read_text()  # installs here unchanged
    assert "/_stcore/health" in instruction("HEALTHCHECK")


def _start_script(cmd: str, health: str, env: dict) -> str:
    user = os.getuid()
    run_as = f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups" if user == 0 else ""
    binds = ""
    interpreter = Path(os.path.realpath(sys.executable))
    if user == 0 and str(interpreter).startswith("/root/"):
        top = Path("/root") / interpreter.relative_to("/root").parts[0]  # e.g. /root/.pyenv
        binds = (f"mkdir -p /tmp/bnviz-bind && mount --bind {top} /tmp/bnviz-bind && "
                 f"mount -t tmpfs -o mode=755 tmpfs /root && mkdir {top} && mount --move /tmp/bnviz-bind {top}")
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"""
set -u
ip link set lo up
{binds}
cd {shlex.quote(str(ROOT))}
env {exports} {run_as} /bin/sh -c {shlex.quote(cmd)} > "$LOG" 2>&1 &
server=$!
ok=1
for i in $(seq 240); do
  if PORT={env['PORT']} /bin/sh -c {shlex.quote(health)} > /dev/null; then ok=0; break; fi
  kill -0 $server 2>/dev/null || break
  sleep 0.25
done
echo "health=$ok"
echo "uid=$(awk '/^Uid:/ {{print $2}}' /proc/$server/status 2>/dev/null)"
echo "listen=$(cat /proc/net/tcp | awk 'NR > 1 {{print $2}}' | grep -c '^00000000:')"
kill -TERM $server 2>/dev/null
start=$(date +%s.%N)
wait $server
echo "rc=$? exit_s=$(echo "$(date +%s.%N) - $start" | bc)"
"""


def run_start(tmp_path, **env) -> tuple[dict, str]:
    venv_bin = str(Path(sys.executable).parent)
    env = {"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": "/tmp", "PORT": "8765", "BNVIZ_HOSTED": "1", **env}
    cmd = instruction("CMD")
    health = instruction("HEALTHCHECK").split(" CMD ", 1)[1]
    log = tmp_path / "server.log"
    script = _start_script(cmd, health, env)
    prefix = ["unshare", "-n", "-m", "--propagation", "private"] if os.getuid() == 0 else \
        ["unshare", "-r", "-n"]
    out = subprocess.run(prefix + ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=150,
                         env={**os.environ, "LOG": str(log)})
    facts = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    return facts, log.read_text() if log.exists() else out.stderr


def test_the_images_start_command_serves_as_non_root_and_the_health_check_answers(tmp_path):
    facts, log = run_start(tmp_path)
    assert facts.get("health") == "0", log
    assert facts["uid"] != "0" and facts["listen"] != "0", (facts, log)  # non-root, on 0.0.0.0
    assert "Hosted demo: up to" in log  # `python -m bnviz.hosting` ran first and found the caps
    assert facts["rc"] == "0" and float(facts["exit_s"]) < 5, (facts, log)  # SIGTERM: a clean exit


def test_a_bad_hosting_variable_stops_the_start_with_its_name(tmp_path):
    facts, log = run_start(tmp_path, BNVIZ_MAX_STEPS="-3")
    assert facts.get("health") == "1" and "BNVIZ_MAX_STEPS='-3'" in log and "[1, 1,000,000]" in log


def test_the_cloud_requirements_pin_what_requirements_txt_pins_with_cpu_torch():
    def pins(path: Path) -> dict:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return dict(line.split("==") for line in lines if "==" in line)
    cloud, local = pins(ROOT / "deploy" / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert cloud.pop("torch") == local.pop("torch") + "+cpu" and cloud == local
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in (ROOT / "deploy" / "requirements.txt").read_text()
    for name in ("app.py", "pages", "bnviz", "static"):  # the entry point's folder sees the app as the root does
        assert (ROOT / "deploy" / name).resolve() == (ROOT / name).resolve()
