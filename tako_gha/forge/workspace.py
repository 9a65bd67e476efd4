"""Discovery from a local workspace: ``DIR/<owner>/<repo>/`` (docs/cli.md, Workspaces).

A workspace (and an emulator world, which shares the layout) holds one directory
per repository with its files: ``tako.yml``, ``.github/workflows/*.yml``, anything
else. ``WorkspaceForge`` answers ``discover`` from it so ``discover``, ``graph`` and
``plan`` work offline on exactly the configs a real org would have.

A repository directory that is a *bare* git repository (how the emulator's fast
world builder lays out large worlds) is read from its ``HEAD`` commit instead of a
work tree, so ``--workspace`` also works on those worlds.

It is a discovery source only: it does not implement ``dispatch``, ``list_runs``,
``cancel_run`` and the other ``Forge`` methods, because a directory has no runs
(use the emulator for a working GitHub). A directory says nothing of topics or of
being archived, a fork or disabled: a caller that knows (an emulator world's
``emulator.yml``) passes ``traits``, and then repos are left out for exactly the
reasons GitHub discovery gives; without it, repos have no topics and none is archived.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from tako_gha.core.config import ConfigResult, load_config
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.core.names import is_repo_name
from tako_gha.forge.base import (
    CostLedger,
    DiscoveredRepo,
    Discovery,
    ForgeError,
    RepoMeta,
    RepoSelection,
    skip_reason,
)

# What a directory cannot say about a repo: topics, archived, fork, disabled.
Traits = Callable[[str], RepoMeta]

ANY_ORG = ("", "*")


def blob_oid(data: bytes) -> str:
    """Git's blob id of ``data`` (what GitHub reports as a file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def read_config_file(path: Path, *, repo: str | None, display: str | None = None
                     ) -> tuple[ConfigResult, str | None]:
    """Load ``path`` as a ``tako.yml``: (result, blob oid). Never raises: a missing
    file is ``missing=True``, an unreadable one is an error diagnostic."""
    shown = display or str(path)
    name = repo or shown
    if not path.is_file():
        return ConfigResult(repo=name, path=shown, config=None, missing=True), None
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = _not_utf8(data, exc, shown)
        return ConfigResult(repo=name, path=shown, config=None, diagnostics=[problem]), None
    except OSError as exc:
        problem = Diagnostic(Severity.ERROR, f"cannot read the file: {exc}", file=shown,
                             hint="save tako.yml as UTF-8 text readable by this user",
                             code="unreadable")
        return ConfigResult(repo=name, path=shown, config=None, diagnostics=[problem]), None
    result = load_config(text, path=shown, repo=repo)
    if result.repo != name:
        result.repo = name
    return result, blob_oid(data)


def _not_utf8(data: bytes, exc: UnicodeDecodeError, shown: str) -> Diagnostic:
    """Where the first byte that is not UTF-8 sits, as line:col like every diagnostic
    (the column counts the characters before it on its line)."""
    before = data[:exc.start]
    line_start = before.rfind(b"\n") + 1
    col = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return Diagnostic(Severity.ERROR,
                      f"cannot read the file: it is not UTF-8 text: byte 0x{data[exc.start]:02x} "
                      f"({exc.reason})", file=shown, line=before.count(b"\n") + 1, col=col,
                      hint="save tako.yml as UTF-8 (a Latin-1 or UTF-16 editor setting, or "
                           "a binary file)", code="unreadable")


def is_bare_repo(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() \
        and not (path / ".git").exists()


def read_bare_config(repo_dir: Path, config_path: str, *, repo: str
                     ) -> tuple[ConfigResult, str | None]:
    """Load ``config_path`` from the ``HEAD`` commit of a bare repository."""
    shown = f"{repo_dir}:{config_path}"
    try:
        import git  # lazy: only bare worlds need it

        tree = git.Repo(repo_dir).head.commit.tree
        blob = tree / config_path
        data = blob.data_stream.read()
    except KeyError:  # no such path in the tree
        return ConfigResult(repo=repo, path=shown, config=None, missing=True), None
    except (ValueError, OSError, git.GitError) as exc:  # empty repo, broken objects
        problem = Diagnostic(Severity.ERROR, f"cannot read {config_path} from git: {exc}",
                             file=shown, code="unreadable",
                             hint="check that the repository has a commit on its default branch")
        return ConfigResult(repo=repo, path=shown, config=None, diagnostics=[problem]), None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = _not_utf8(data, exc, shown)
        return ConfigResult(repo=repo, path=shown, config=None, diagnostics=[problem]), None
    result = load_config(text, path=shown, repo=repo)
    return result, blob.hexsha


def _repo_name(path: Path) -> str:
    """A bare repository is often named ``<repo>.git``; the emulator serves it as
    ``<repo>``, so the workspace names it the same way."""
    if path.name.endswith(".git") and is_bare_repo(path):
        return path.name.removesuffix(".git")
    return path.name


def _visible_dirs(path: Path) -> list[Path]:
    return sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name.lower())


class WorkspaceForge:
    """A discovery source over ``root/<owner>/<repo>/`` (see the module docstring)."""

    def __init__(self, root: Path | str, traits: Traits | None = None) -> None:
        self.root = Path(root)
        self.traits = traits
        if not self.root.is_dir():
            raise ForgeError(f"workspace {self.root} is not a directory",
                             hint="pass a directory laid out as DIR/<owner>/<repo>/tako.yml")
        self.ledger = CostLedger()

    def repo_dirs(self, org: str = "") -> list[tuple[str, Path]]:
        """``("owner/repo", path)`` for every repository directory, sorted by name."""
        found: list[tuple[str, Path]] = []
        for owner in _visible_dirs(self.root):
            if org not in ANY_ORG and owner.name.lower() != org.lower():
                continue
            found.extend((f"{owner.name}/{_repo_name(repo)}", repo)
                         for repo in _visible_dirs(owner))
        return found

    def discover(self, selection: RepoSelection) -> Discovery:
        """Repos of ``selection.org`` (every owner when it is empty or ``*``), filtered
        by the explicit list and name globs, each with its parsed config."""
        dirs = self.repo_dirs(selection.org)
        discovery = Discovery(org=selection.org, repos=[])
        wanted = {r.lower() for r in selection.repos}
        seen: set[str] = set()
        for full_name, path in dirs:
            key = full_name.lower()
            if wanted and key not in wanted:
                continue
            seen.add(key)
            meta = self.traits(full_name) if self.traits else RepoMeta(full_name=full_name)
            reason = self._excluded(meta, selection)
            if reason:
                discovery.skipped.append((full_name, reason))
                continue
            if is_bare_repo(path):
                config, oid = read_bare_config(path, selection.config_path, repo=full_name)
            else:
                config, oid = read_config_file(path / selection.config_path, repo=full_name,
                                               display=str(path / selection.config_path))
            self.ledger.record("discovery")
            discovery.repos.append(DiscoveredRepo.of(meta, config, oid))
        for name in selection.repos:
            if name.lower() not in seen:
                discovery.skipped.append((name, f"not in workspace {self.root}"))
        return discovery

    def _excluded(self, meta: RepoMeta, selection: RepoSelection) -> str | None:
        if not is_repo_name(meta.full_name):
            # GitHub could not hold it: planning a dispatch to it, or listing it as a
            # repo that --source and --repo then refuse, would only mislead.
            return ("not a GitHub repository name (owner: letters, digits and '-'; "
                    "repository: letters, digits, '.', '_' and '-')")
        reason = skip_reason(meta, selection)
        if reason and reason.startswith("missing topic") and self.traits is None:
            reason += " (workspace repos have no topics)"
        return reason
