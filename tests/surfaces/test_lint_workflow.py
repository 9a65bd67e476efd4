"""The lint workflow's checks, run here when the linters are installed (they are not
test dependencies: CI's lint job installs pinned versions). Zero findings expected."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _lint_steps() -> list[dict]:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "lint.yml").read_text())
    (job,) = doc["jobs"].values()
    # ruff is the lint job's business (over the whole tree); here: the workflow,
    # action and manifest checks this project's surfaces own.
    return [s for s in job["steps"] if "run" in s and "pip install" not in s["run"]
            and not s["run"].startswith("ruff")]


@pytest.mark.parametrize("step", _lint_steps(), ids=lambda s: s["name"])
def test_lint_step_passes(step: dict) -> None:
    tool = step["run"].split()[0]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (the CI lint job installs it)")
    proc = subprocess.run(["bash", "-c", step["run"]], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
