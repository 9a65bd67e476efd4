"""What the current git checkout says about where we are (``--source`` defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tako_gha.core.names import is_repo_name, repo_from_remote_url
from tako_gha.surfaces.errors import UserError


def origin_repo(path: Path | str = ".", *, search_parents: bool = True) -> str | None:
    """``owner/repo`` of the ``origin`` remote of the checkout at ``path``, if any."""
    if not search_parents and not (Path(path) / ".git").exists():
        return None  # not a repository root: do not borrow an enclosing repo's name
    try:
        import git  # lazy: slow to import, and only needed for this default
    except ImportError:  # pragma: no cover - GitPython is a declared dependency
        return None
    try:
        url = git.Repo(path, search_parent_directories=search_parents).remotes.origin.url
    except (git.exc.GitError, AttributeError, ValueError, IndexError, OSError):
        return None  # not a checkout, or no origin: no default
    return repo_from_remote_url(url)


def check_repo_name(value: str, flag: str) -> str:
    if not is_repo_name(value):
        raise UserError(f"{flag} {value!r} is not OWNER/REPO",
                        hint=f"for example {flag} my-org/core-lib")
    return value


def resolve_source(value: str | None, env: Mapping[str, str], cwd: Path) -> str:
    """``--source``, else ``GITHUB_REPOSITORY``, else the ``origin`` remote (docs/cli.md)."""
    found = value or env.get("GITHUB_REPOSITORY") or origin_repo(cwd)
    if not found:
        raise UserError("no --source given and none could be guessed",
                        hint="pass --source OWNER/REPO (the repository that publishes the "
                             "event), run inside a checkout with an origin remote, or set "
                             "GITHUB_REPOSITORY")
    return check_repo_name(found, "--source")
