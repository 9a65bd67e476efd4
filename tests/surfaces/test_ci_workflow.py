"""CI runs what docs/release.md promises: the suite on Python 3.10–3.13, each on the
newest releases and on the action's lock (through .ci/run), plus the newest cel-python."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _ci() -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())


def _python_floor() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^requires-python = ">=(3\.\d+)"', text, re.M)
    assert found
    return found.group(1)


def test_the_suite_runs_on_every_supported_python_on_the_lock_and_the_newest() -> None:
    test = _ci()["jobs"]["test"]
    matrix = test["strategy"]["matrix"]
    assert matrix["python"] == ["3.10", "3.11", "3.12", "3.13"]
    assert matrix["python"][0] == _python_floor()
    assert matrix["deps"] == ["newest", "lock"]
    assert test["strategy"]["fail-fast"] is False  # one red job must not hide the others
    (run,) = [s for s in test["steps"] if "run" in s]
    assert run["run"] == "bash .ci/run"
    assert run["env"] == {"TAKO_CI_DEPS": "${{ matrix.deps }}"}


def test_ci_run_defaults_to_the_readme_command_and_knows_the_lock() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    command = 'pip install -e ".[test]" && pytest -n 2 --cov=tako_gha --cov-fail-under=90'
    assert command in readme
    assert script.rstrip().endswith(command)
    assert "pip install --require-hashes --only-binary :all: -r requirements/action.txt" \
        in script


def test_ci_run_refuses_an_unknown_dependency_set_before_building_anything() -> None:
    import os
    import subprocess

    env = {**os.environ, "TAKO_CI_DEPS": "oldest"}
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr == "ci: TAKO_CI_DEPS is 'newest' or 'lock', not 'oldest'\n"
    assert proc.stdout == ""  # no venv was made


def test_a_job_runs_the_newest_cel_python_over_the_pin() -> None:
    steps = _ci()["jobs"]["cel-newest"]["steps"]
    script = "\n".join(s.get("run", "") for s in steps)
    assert 'pip install -e ".[test]"' in script
    assert script.index('pip install -e ".[test]"') < script.index(
        "pip install --upgrade cel-python")
    assert "pytest -n 2 --cov=tako_gha --cov-fail-under=90" in script
