"""``tako-gha hook install`` writes the pre-push hook the package ships (the same bytes
as the repository's hooks/pre-push) where git runs hooks from, executable; it never
replaces another hook without --force."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tako_gha.surfaces.cli import cli
from tako_gha.surfaces.hook_install import hook_text

ROOT = Path(__file__).resolve().parents[2]


def _repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def _install(cwd: Path, *args: str) -> tuple[int, str]:
    """The console entry, as a user runs it (errors become exit 2 and a message)."""
    proc = subprocess.run([sys.executable, "-m", "tako_gha", "hook", "install", *args],
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_packaged_hook_is_the_repositorys_hook() -> None:
    assert hook_text() == (ROOT / "hooks" / "pre-push").read_bytes()
    assert hook_text().startswith(b"#!/bin/sh\n")


def test_install_writes_an_executable_hook_where_git_runs_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "app")
    code, out = _install(repo)
    assert code == 0, out
    hook = repo / ".git" / "hooks" / "pre-push"
    assert hook.read_bytes() == hook_text()
    assert os.access(hook, os.X_OK)
    assert f"installed the tako-gha pre-push hook in {hook}" in out
    # again: nothing to do, and it says so
    code, out = _install(repo)
    assert code == 0 and "already installed" in out


def test_install_follows_core_hooks_path(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "app")
    subprocess.run(["git", "config", "core.hooksPath", "githooks"], cwd=repo, check=True)
    (repo / "sub").mkdir()
    code, out = _install(repo / "sub")
    assert code == 0, out
    assert (repo / "githooks" / "pre-push").read_bytes() == hook_text()
    assert not (repo / ".git" / "hooks" / "pre-push").exists()


def test_another_hook_is_kept_unless_forced(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "app")
    theirs = repo / ".git" / "hooks" / "pre-push"
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_text("#!/bin/sh\necho theirs\n")
    code, out = _install(repo)
    assert code == 2
    assert f"error: {theirs} already holds another pre-push hook" in out
    assert "--force" in out and "Traceback" not in out
    assert theirs.read_text() == "#!/bin/sh\necho theirs\n"
    code, out = _install(repo, "--force")
    assert code == 0, out
    assert theirs.read_bytes() == hook_text() and "replaced" in out


def test_outside_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    code, out = _install(tmp_path)
    assert code == 2
    assert f"error: {tmp_path} is not inside a git repository" in out


def test_print_shows_the_hook_without_installing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["hook", "install", "--print"])
    assert result.exit_code == 0
    assert result.stdout.encode() == hook_text()


@pytest.mark.skipif(os.name != "posix", reason="runs the hook with sh")
def test_the_installed_hook_runs_on_a_push(tmp_path: Path) -> None:
    """git runs what was installed: a push with a broken tako.yml is blocked."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo = _repo(tmp_path / "app")
    code, out = _install(repo)
    assert code == 0, out

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GIT_AUTHOR_NAME": "a",
               "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
               "GIT_COMMITTER_EMAIL": "a@b"}
        env = {k: v for k, v in env.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
        return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    (repo / "tako.yml").write_text("version: 1\nevents: [\n")
    git("add", "tako.yml")
    git("commit", "-q", "-m", "broken")
    push = git("push", "-q", str(remote), "HEAD:refs/heads/main")
    assert push.returncode != 0, push.stderr
    assert "tako.yml" in push.stderr
