"""``tako-gha hook install``: write the pre-push hook shipped in the package.

The hook script is package data (``tako_gha/surfaces/pre-push``), byte for byte the
repository's ``hooks/pre-push`` (a test checks that), so an installed wheel needs no
checkout. It goes where git looks for hooks (``git rev-parse --git-path hooks``,
which honours ``core.hooksPath``), executable. An existing, different pre-push hook
(pre-commit's, a team's own) is never replaced without ``--force``.
"""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tako_gha.core.links import doc_url
from tako_gha.surfaces.errors import UserError

HOOK_NAME = "pre-push"


def hook_text() -> bytes:
    """The pre-push hook as shipped in the package."""
    return (resources.files("tako_gha.surfaces") / HOOK_NAME).read_bytes()


def hooks_dir(cwd: Path) -> Path:
    """Where git runs hooks from for the repository around ``cwd``."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=cwd,
                              capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise UserError("git is not installed (or not on PATH)",
                        hint="the hook runs from git; install git first") from None
    except subprocess.TimeoutExpired:
        raise UserError("git rev-parse --git-path hooks did not answer in 30 s") from None
    if proc.returncode != 0:
        raise UserError(f"{cwd} is not inside a git repository",
                        hint="run it from the repository whose pushes it should check")
    path = Path(proc.stdout.strip())
    return path if path.is_absolute() else (cwd / path)


@dataclass(frozen=True)
class Installed:
    path: Path
    replaced: bool  # a different hook was there (--force)
    unchanged: bool  # the same hook was already there


def install_hook(cwd: Path, *, force: bool = False) -> Installed:
    """Write the hook into the repository's hooks directory, executable."""
    target = hooks_dir(cwd) / HOOK_NAME
    text = hook_text()
    replaced = False
    if target.is_symlink() or target.exists():
        if not target.is_file():
            raise UserError(f"{target} exists and is not a file",
                            hint="move it away, then run `tako-gha hook install` again")
        if target.read_bytes() == text:
            _make_executable(target)
            return Installed(target, replaced=False, unchanged=True)
        if not force:
            raise UserError(
                f"{target} already holds another pre-push hook",
                hint="`tako-gha hook install --force` replaces it; to run both, call "
                     f"tako-gha's from yours ({doc_url('hook.md', 'plain-git')})")
        replaced = True
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{HOOK_NAME}.tako-{os.getpid()}")
    try:
        temp.write_bytes(text)
        _make_executable(temp)
        os.replace(temp, target)  # never a half-written hook
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    return Installed(target, replaced=replaced, unchanged=False)


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
