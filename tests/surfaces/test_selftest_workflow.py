"""The CI self-test job (.github/workflows/selftest.yml), replayed here step by step:
its world-building and emulator-start scripts run in bash with a GitHub-like
environment, its `uses: ./` step runs the action entry with the step's `with:` (as
action.yml maps them), and its check script judges the outputs. So the job that
proves the action on GitHub is itself proven before it is pushed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tako_gha.core.action_contract import INPUT_DEFAULTS, env_name

ROOT = Path(__file__).resolve().parents[2]


def _job() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "selftest.yml").read_text())
    (job,) = doc["jobs"].values()
    return job


def _steps() -> dict[str, dict[str, Any]]:
    return {step.get("name", step.get("uses", "")): step for step in _job()["steps"]}


MATRIX = _job()["strategy"]["matrix"]["include"]


def _expand(value: str, outputs: dict[str, dict[str, str]], matrix: dict[str, str]) -> str:
    """The few expressions the job uses: steps.<id>.outputs.<name> and matrix.<key>."""
    value = re.sub(r"\$\{\{\s*matrix\.([\w-]+)\s*\}\}", lambda m: matrix[m.group(1)], value)
    return re.sub(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}",
                  lambda m: outputs[m.group(1)][m.group(2)], value)


def test_the_job_runs_on_linux_macos_and_windows_in_bash() -> None:
    job = _job()
    assert sorted(m["os"] for m in MATRIX) == ["macos-latest", "ubuntu-latest", "windows-latest"]
    assert job["runs-on"] == "${{ matrix.os }}"
    assert job["defaults"]["run"]["shell"] == "bash"
    assert job["strategy"]["fail-fast"] is False


def _read_outputs(path: Path) -> dict[str, str]:
    from tako_gha.surfaces.workflow_commands import parse_output_file

    return parse_output_file(path.read_text()) if path.exists() else {}


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("matrix", MATRIX, ids=[m["os"] for m in MATRIX])
def test_selftest_job_passes_locally(tmp_path: Path, matrix: dict[str, str]) -> None:
    steps = _steps()
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    env_file, path_dir = tmp_path / "env", Path(sys.executable).parent
    env = {"PATH": f"{path_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path),
           "RUNNER_TEMP": str(temp), "GITHUB_REPOSITORY": "octo/tako-gha",
           "GITHUB_REPOSITORY_OWNER": "octo", "GITHUB_ENV": str(env_file),
           "GITHUB_API_URL": "http://127.0.0.1:9"}
    outputs: dict[str, dict[str, str]] = {}

    build = _bash(steps["Build a world around this repository"]["run"], env)
    assert build.returncode == 0, build.stderr
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value

    start = steps["Start the emulator"]
    env["GITHUB_OUTPUT"] = str(tmp_path / "emulator.out")
    started = _bash(start["run"], env)
    pid = int((temp / "emulator.pid").read_text())
    try:
        assert started.returncode == 0, started.stderr
        outputs[start["id"]] = _read_outputs(tmp_path / "emulator.out")
        assert outputs["emulator"]["api_url"].startswith("http://127.0.0.1:")

        uses = steps["Fan out with the action from this repository"]
        assert uses["uses"].split()[0] == "./"
        action_env = dict(env, GITHUB_OUTPUT=str(tmp_path / "tako.out"),
                          GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
        inputs = {**INPUT_DEFAULTS, **{k: _expand(str(v), outputs, matrix)
                                       for k, v in uses["with"].items()}}
        inputs["org"] = inputs["org"] or env["GITHUB_REPOSITORY_OWNER"]
        action_env.update({env_name(k): v for k, v in inputs.items()})
        action_env.update(uses.get("env", {}))
        proc = subprocess.run([sys.executable, "-m", "tako_gha.surfaces.action"],
                              env=action_env, capture_output=True, text=True, timeout=180,
                              check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs[uses["id"]] = _read_outputs(tmp_path / "tako.out")
        assert "## ✅ tako cascade" in (tmp_path / "summary.md").read_text()

        check = steps["Check the outputs"]
        check_env = dict(env, **{k: _expand(v, outputs, matrix)
                                 for k, v in check["env"].items()})
        judged = _bash(check["run"], check_env)
        assert judged.returncode == 0, judged.stdout + judged.stderr
        assert f"success, dispatched {matrix['dispatched']}, failed 0" in judged.stdout
    finally:
        os.kill(pid, signal.SIGTERM)
