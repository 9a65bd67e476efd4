"""The lint workflow's checks, run here too: the linters are test dependencies
(CI's lint job installs pinned versions). Zero findings expected."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _lint_steps() -> list[dict]:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "lint.yml").read_text())
    (job,) = doc["jobs"].values()
    return [s for s in job["steps"] if "run" in s and "pip install" not in s["run"]]


# zizmor and check-jsonschema need Python 3.11 (pyproject's test extra installs them
# from there on); on 3.10 their checks skip, and CI's lint job runs them.
NEEDS_311 = {"zizmor", "check-jsonschema"}


def _require(tool: str) -> None:
    if shutil.which(tool) is not None:
        return
    if tool in NEEDS_311 and sys.version_info < (3, 11):
        pytest.skip(f"{tool} needs Python 3.11 (CI's lint job runs it)")
    pytest.fail(f"{tool} is not installed: pip install -e '.[test]' brings it")


@pytest.mark.parametrize("step", _lint_steps(), ids=lambda s: s["name"])
def test_lint_step_passes(step: dict) -> None:
    tool = step["run"].split()[0]
    _require(tool)
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_audits_every_example_workflow() -> None:
    _require("zizmor")
    # zizmor silently collects nothing from a directory of non-.github workflows:
    # the step must name the files, and each must be audited.
    (step,) = [s for s in _lint_steps() if s["run"].startswith("zizmor")]
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    for example in sorted((ROOT / "docs" / "examples" / "workflows").glob("*.yml")):
        assert f"completed docs/examples/workflows/{example.name}" in proc.stderr + proc.stdout


def test_zizmor_and_the_schema_check_cover_every_workflow_and_dependabot() -> None:
    _require("zizmor")
    (audit,) = [s for s in _lint_steps() if s["run"].startswith("zizmor")]
    proc = subprocess.run(["bash", "-c", audit["run"]], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {"ci.yml", "lint.yml", "release.yml", "selftest.yml"} <= {w.name for w in workflows}
    for path in [*workflows, ROOT / ".github" / "dependabot.yml"]:
        name = path.relative_to(ROOT).as_posix()
        assert f"completed {name}" in proc.stderr + proc.stdout, name
    runs = [s["run"] for s in _lint_steps()]
    assert any("vendor.github-workflows" in r and ".github/workflows/*.yml" in r for r in runs)
    assert any("vendor.dependabot" in r and ".github/dependabot.yml" in r for r in runs)
