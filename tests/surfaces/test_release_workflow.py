"""The release workflow (.github/workflows/release.yml), its scripts run in bash here:
the tag must name pyproject's version and CHANGELOG.md must hold its notes; the major
tag moves (or is created) through GitHub's API, never for a pre-release. `gh` is a
recording stand-in on PATH, so nothing leaves the machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
SHA = "1" * 40


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _step(job: str, name_start: str) -> dict[str, Any]:
    steps = _workflow()["jobs"][job]["steps"]
    return next(s for s in steps if s.get("name", "").startswith(name_start))


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run([shutil.which("bash") or "bash", "-e", "-c", script], cwd=cwd,
                          env={**base, **env}, capture_output=True, text=True, timeout=60,
                          check=False)


def test_triggers_permissions_and_pins() -> None:
    doc = _workflow()
    assert doc[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    assert doc["permissions"] == {}
    assert doc["jobs"]["build"]["permissions"] == {"contents": "read"}
    assert doc["jobs"]["publish"]["permissions"] == {"contents": "write"}
    text = WORKFLOW.read_text(encoding="utf-8")
    pinned = re.findall(r"^\s*- uses: (\S+)", text, re.MULTILINE)
    assert len(pinned) == 4  # checkout, setup-python, upload- and download-artifact
    for uses in pinned:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses
    build = "\n".join(s.get("run", "") for s in doc["jobs"]["build"]["steps"])
    assert "--require-hashes" in build and "twine check --strict" in build


def _release_tree(tmp_path: Path, changelog: str) -> Path:
    tree = tmp_path / "repo"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    (tree / "CHANGELOG.md").write_text(changelog, encoding="utf-8")
    return tree


def _version() -> str:
    found = re.search(r'^version = "(.*)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found
    return found.group(1)


def test_the_shipped_changelog_has_notes_for_pyprojects_version(tmp_path: Path) -> None:
    tree = _release_tree(tmp_path, (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    check = _step("build", "The tag names")
    proc = _bash(check["run"], tree, {"GITHUB_REF_NAME": f"v{_version()}"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notes = (tree / "release" / "notes.md").read_text()
    assert notes.strip() and not re.search(r"^## ", notes, re.M)


def test_notes_are_exactly_the_versions_section(tmp_path: Path) -> None:
    v = _version()
    changelog = (f"# Changelog\n\n## Unreleased\n- next\n\n## {v} - 2026-12-03\n\n- this one\n"
                 f"- and this\n\n## {v}.1 - later\n- not this\n\n## 0.0.1 - 2026-01-01\n- old\n")
    tree = _release_tree(tmp_path, changelog)
    proc = _bash(_step("build", "The tag names")["run"], tree, {"GITHUB_REF_NAME": f"v{v}"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tree / "release" / "notes.md").read_text() == "\n- this one\n- and this\n\n"


@pytest.mark.parametrize(("tag", "changelog", "error"), [
    ("v9.9.9", "## {v}\n- x\n", "tag v9.9.9, but pyproject.toml says version {v}"),
    ("v{v}", "## Unreleased\n- x\n", "CHANGELOG.md has no section '## {v}'"),
    ("v{v}", "## {v}\n\n## 0.0.1\n- x\n", "CHANGELOG.md has no section '## {v}'"),
])
def test_a_release_without_version_or_notes_stops(tmp_path: Path, tag: str, changelog: str,
                                                  error: str) -> None:
    v = _version()
    tree = _release_tree(tmp_path, changelog.format(v=v))
    proc = _bash(_step("build", "The tag names")["run"], tree,
                 {"GITHUB_REF_NAME": tag.format(v=v)})
    assert proc.returncode == 1
    assert f"::error::{error.format(v=v)}" in proc.stdout


def _fake_gh(tmp_path: Path, *, major_exists: bool) -> Path:
    """A `gh` that records its arguments and answers the two reads the step makes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "gh.log"
    (bin_dir / "gh").write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        'case "$*" in\n'
        f'  "api repos/"*"/commits/"*" --jq .sha") echo {SHA} ;;\n'
        f'  "api repos/"*"/git/ref/tags/"*) exit {0 if major_exists else 1} ;;\n'
        "esac\n")
    (bin_dir / "gh").chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("exists", [True, False], ids=["move", "create"])
def test_the_major_tag_follows_a_release(tmp_path: Path, exists: bool) -> None:
    bin_dir = _fake_gh(tmp_path, major_exists=exists)
    step = _step("publish", "Move the major tag")
    env = {"GH_REPO": "octo/tako-gha", "TAG": "v1.4.2", "GH_TOKEN": "t"}
    proc = _bash(step["run"], tmp_path,
                 {**env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "gh.log").read_text().splitlines()
    assert calls[0] == "api repos/octo/tako-gha/commits/v1.4.2 --jq .sha"
    sha = SHA
    if exists:
        assert calls[-1] == (f"api --method PATCH repos/octo/tako-gha/git/refs/tags/v1 "
                             f"-f sha={sha} -F force=true")
    else:
        assert calls[-1] == (f"api --method POST repos/octo/tako-gha/git/refs "
                             f"-f ref=refs/tags/v1 -f sha={sha}")
    assert f"v1 -> {sha} (v1.4.2)" in proc.stdout


def test_a_prerelease_leaves_the_major_tag(tmp_path: Path) -> None:
    bin_dir = _fake_gh(tmp_path, major_exists=True)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    env = {"GH_REPO": "octo/tako-gha", "TAG": "v2.0.0-rc.1", "GH_TOKEN": "t", "PATH": path}
    moved = _bash(_step("publish", "Move the major tag")["run"], tmp_path, env)
    assert moved.returncode == 0 and "the major tag stays" in moved.stdout
    assert not (tmp_path / "gh.log").exists()
    (tmp_path / "release" / "dist").mkdir(parents=True)
    published = _bash(_step("publish", "Publish the GitHub release")["run"], tmp_path, env)
    assert published.returncode == 0, published.stderr
    (call,) = (tmp_path / "gh.log").read_text().splitlines()
    assert call.startswith("release create v2.0.0-rc.1 ")
    assert call.endswith("--notes-file release/notes.md --prerelease")
