"""The world: ``DIR/<owner>/<repo>/`` git repositories and their metadata.

A directory that is not yet a git repository is made one at load (GitPython: its
files committed on ``main``). What the API serves is the default branch's committed
content, read from git objects on every request (cheap: refs are files, objects are
cached by sha), so a commit made while the server runs is seen by the next request.
Implements ``state.WorldView`` / ``state.WorldRepoView`` for the runner.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tako_gha.emulator import confine, gitstore
from tako_gha.emulator.gitstore import STORE, CommitInfo, TreeEntry
from tako_gha.emulator.settings import RepoMeta, WorldError, WorldSettings, load_settings

log = logging.getLogger("tako_gha.emulator")


def stable_id(text: str) -> int:
    """A stable positive id from a name (48 bits: no collisions at world sizes)."""
    return int(hashlib.sha1(text.lower().encode()).hexdigest()[:12], 16)


@dataclass
class FileEntry:
    path: str
    name: str
    kind: str  # file | dir | symlink | submodule
    sha: str
    size: int


class WorldRepo:
    """One repository of the world (``state.WorldRepoView``)."""

    def __init__(self, owner: str, name: str, path: Path, git_dir: Path, meta: RepoMeta):
        self.owner = owner
        self.name = name
        self.full_name = f"{owner}/{name}"
        self.path = path
        self.git_dir = git_dir
        self.meta = meta
        self.id = stable_id("repo:" + self.full_name)
        self.owner_id = stable_id("owner:" + owner)
        self._object_dirs: list[Path] | None = None

    @property
    def _objects(self) -> list[Path]:
        """Object directories (own + alternates), found on first read."""
        if self._object_dirs is None:
            self._object_dirs = gitstore.object_dirs(self.git_dir)
        return self._object_dirs

    # -- state.WorldRepoView -------------------------------------------------------
    @property
    def default_branch(self) -> str:
        return self.meta.default_branch or gitstore.head_ref(self.git_dir) or "main"

    def head_sha(self) -> str:
        return gitstore.resolve_branch(self.git_dir, self.default_branch) or ""

    def list_files(self, prefix: str) -> list[str]:
        commit = self.head_commit()
        if commit is None:
            return []
        out: list[str] = []
        self._walk(commit.tree, "", out)
        return [p for p in out if p.startswith(prefix)]

    def read_file(self, path: str) -> bytes | None:
        entry = self.entry(path)
        if entry is None or entry.kind not in ("file", "symlink"):
            return None
        return self.blob(entry.sha)

    def checkout_to(self, dest: Path, sha: str | None = None, root: Path | None = None) -> None:
        """Write the tree of ``sha`` (default: the default branch's tip) into ``dest``,
        confined to ``root`` (default ``dest``; ``gitstore.write_tree``): raises
        ``gitstore.UnsafeTree`` for a tree git would not check out there."""
        commit = self.head_commit(sha)
        dest.mkdir(parents=True, exist_ok=True)
        if commit is not None:
            gitstore.write_tree(commit.tree, dest, lambda t: STORE.tree(self._objects, t),
                                self.blob, root)

    # -- reading -------------------------------------------------------------------
    def head_commit(self, sha: str | None = None) -> CommitInfo | None:
        sha = sha or self.head_sha()
        if not sha:
            return None
        kind, data = STORE.read(self._objects, sha)
        if kind != "commit":
            return None
        return gitstore.parse_commit(sha, data)

    def resolve_ref(self, ref: str | None) -> str | None:
        """Commit sha for ``?ref=`` (a branch, or a full sha); None for a ref that
        ``git check-ref-format`` refuses (such a ref never reaches the file system)."""
        if not ref:
            return self.head_sha() or None
        if not confine.valid_ref(ref):
            return None
        ref = ref.removeprefix("refs/heads/")
        sha = gitstore.resolve_branch(self.git_dir, ref)
        if sha:
            return sha
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            try:
                kind, _ = STORE.read(self._objects, ref)
            except gitstore.ObjectMissing:
                return None
            return ref if kind == "commit" else None
        return None

    def entry(self, path: str, commit_sha: str | None = None) -> FileEntry | None:
        """The tree entry at ``path``: names are looked up in git trees, never on disk,
        so no path reaches outside the repository."""
        commit = self.head_commit(commit_sha)
        if commit is None:
            return None
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            return FileEntry("", "", "dir", commit.tree, 0)
        tree = commit.tree
        for i, part in enumerate(parts):
            found = _find(STORE.tree(self._objects, tree), part)
            if found is None:
                return None
            if i == len(parts) - 1:
                return self._file_entry("/".join(parts), found)
            if found.kind != "dir":
                return None
            tree = found.sha
        return None

    def list_dir(self, tree_sha: str, base: str) -> list[FileEntry]:
        entries = STORE.tree(self._objects, tree_sha)
        prefix = f"{base}/" if base else ""
        return [self._file_entry(prefix + e.name, e) for e in entries]

    def blob(self, sha: str) -> bytes:
        kind, data = STORE.read(self._objects, sha)
        if kind != "blob":
            raise gitstore.ObjectMissing(f"{sha} is a {kind}")
        return data

    def _file_entry(self, path: str, entry: TreeEntry) -> FileEntry:
        size = 0
        if entry.kind in ("file", "symlink"):
            size = len(self.blob(entry.sha))
        return FileEntry(path, entry.name, entry.kind, entry.sha, size)

    def _walk(self, tree: str, base: str, out: list[str]) -> None:
        for entry in STORE.tree(self._objects, tree):
            path = f"{base}{entry.name}"
            if entry.kind == "dir":
                self._walk(entry.sha, path + "/", out)
            elif entry.kind in ("file", "symlink"):
                out.append(path)


def _find(entries: list[TreeEntry], name: str) -> TreeEntry | None:
    for entry in entries:
        if entry.name == name:
            return entry
    return None


class World:
    """Every repo under ``root`` (``state.WorldView``), with the world file's settings."""

    def __init__(self, root: Path, settings: WorldSettings | None = None) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise WorldError(
                f"world directory {root} does not exist (expected DIR/<owner>/<repo>/)"
            )
        self.settings = settings if settings is not None else load_settings(self.root)
        self._lock = threading.RLock()
        self._repos: dict[str, WorldRepo] = {}
        self._sorted: list[WorldRepo] | None = None
        self._by_owner: dict[str, list[WorldRepo]] = {}
        self._by_id: dict[int, WorldRepo] = {}  # node ids: one lookup, never a scan
        # owner dir -> (its mtime, when it was scanned), both in ns
        self._owner_stamps: dict[Path, tuple[int, int]] = {}
        self._warned: set[Path] = set()
        self.refresh()

    def refresh(self) -> None:
        """Scan the directory: new repos appear, deleted ones vanish."""
        found: dict[str, WorldRepo] = {}
        stamps: dict[Path, tuple[int, int]] = {}
        loaded = self._loaded()
        for owner_dir in sorted(self.root.iterdir()):
            if not self._world_dir(owner_dir):
                continue
            stamps[owner_dir] = (_mtime(owner_dir), time.time_ns())
            found.update(self._scan_owner(owner_dir, loaded, plain_dirs=True))
        with self._lock:
            self._repos = found
            self._owner_stamps = stamps
            self._sorted = None

    def _rescan_owner_if_changed(self, owner: str) -> None:
        """Repos added to (or removed from) an owner directory while serving show in
        the next listing: adding or removing an entry changes the directory's mtime,
        so one stat per listing tells. Only git repositories are picked up here; a
        plain directory may still be being written (lookup or reload loads those)."""
        for owner_dir in self._ci_children(self.root, owner):
            stamp, now = _mtime(owner_dir), time.time_ns()
            if not _needs_scan(self._owner_stamps.get(owner_dir), stamp, now):
                continue
            found = self._scan_owner(owner_dir, self._loaded())
            with self._lock:
                kept = {k: r for k, r in self._repos.items() if r.path.parent != owner_dir}
                kept.update(found)
                self._repos = kept
                self._owner_stamps[owner_dir] = (stamp, now)
                self._sorted = None

    def _loaded(self) -> dict[Path, WorldRepo]:
        return {repo.path: repo for repo in self._repos.values()}

    def _scan_owner(self, owner_dir: Path, loaded: dict[Path, WorldRepo], *,
                    plain_dirs: bool = False) -> dict[str, WorldRepo]:
        """The repos of one owner directory, keyed by lower-case full name (a bare
        repository's ".git" dropped); ``loaded`` ones are reused. New plain
        directories are made repositories only with ``plain_dirs`` (a full refresh)."""
        found: dict[str, WorldRepo] = {}
        try:
            children = sorted(owner_dir.iterdir())
        except OSError:  # removed meanwhile: its repos go
            children = []
        for repo_dir in children:
            if not self._world_dir(repo_dir):
                continue
            repo = loaded.get(repo_dir)
            if repo is None and (plain_dirs or gitstore.find_git_dir(repo_dir) is not None):
                try:
                    repo = self._load(owner_dir.name, repo_dir)
                except WorldError as exc:  # e.g. a .git pointing out of the world
                    self._warn_once(repo_dir, str(exc))
                    continue
            if repo is not None:
                found[repo.full_name.lower()] = repo
        return found

    def _world_dir(self, path: Path) -> bool:
        """A directory the world serves as an owner or a repository: a name GitHub
        accepts that does not start with "." (``.git``, the shared object store), and,
        when it is a symlink, one that resolves inside the world. A symlink out of the
        world is skipped (with a warning): nothing outside the world is read or made a
        repository through it."""
        if not _servable(path.name) or not path.is_dir():
            return False
        if path.is_symlink() and not confine.inside(self.root, path):
            self._warn_once(path, f"{path} leads out of the world; not served")
            return False
        return True

    def _warn_once(self, path: Path, text: str) -> None:
        if path not in self._warned:  # once: lookups by that name must not flood the log
            self._warned.add(path)
            log.warning("emulator: %s", text)

    def _load(self, owner: str, path: Path) -> WorldRepo:
        git_dir = gitstore.find_git_dir(path)
        if git_dir is not None and not all(confine.inside(self.root, p)
                                           for p in (git_dir, *_common_dir(git_dir))):
            # a `.git` file (gitdir pointer) or link to a repository elsewhere: served,
            # it would expose what is outside the world, like a repository symlink
            raise WorldError(f"{path}: its git directory leads out of the world; not served")
        if git_dir is None:
            if not confine.inside(self.root, path):  # never a git init outside the world
                raise WorldError(f"{path} is outside the world {self.root}")
            git_dir = make_git_repo(path)
        objects = gitstore.object_dirs(git_dir)
        if not all(confine.inside(self.root, p) for p in objects):
            # objects/info/alternates naming a store elsewhere: its commits would be served
            raise WorldError(f"{path}: its objects (alternates) lead out of the world; "
                             "not served")
        name = path.name.removesuffix(".git") if git_dir == path else path.name
        meta = self.settings.repo_meta(f"{owner}/{name}")
        repo = WorldRepo(owner, name, path, git_dir, meta)
        repo._object_dirs = objects  # read once, checked, kept
        return repo

    # -- state.WorldView -------------------------------------------------------------
    def repo(self, full_name: str) -> WorldRepo | None:
        """The repository ``owner/name``; None for a name GitHub would not accept."""
        owner, _, name = full_name.partition("/")
        if not (_servable(owner) and _servable(name)):
            return None
        found = self._repos.get(full_name.lower())
        if found is None:
            found = self._late_repo(owner, name)
        return found

    def _late_repo(self, owner: str, name: str) -> WorldRepo | None:
        """A repo directory created after load becomes visible on first lookup."""
        for owner_dir in self._ci_children(self.root, owner):
            # a bare repository is often named "<repo>.git"
            for repo_dir in (self._ci_children(owner_dir, name)
                             or self._ci_children(owner_dir, name + ".git")):
                with self._lock:
                    try:
                        repo = self._load(owner_dir.name, repo_dir)
                    except WorldError as exc:  # e.g. swapped for a symlink meanwhile
                        self._warn_once(repo_dir, str(exc))
                        return None
                    self._repos[repo.full_name.lower()] = repo
                    self._sorted = None
                return repo
        return None

    def all_repos(self) -> list[WorldRepo]:
        """Every repo, sorted by full name (case-insensitive)."""
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted(self._repos.values(), key=lambda r: r.full_name.lower())
                by_owner: dict[str, list[WorldRepo]] = {}
                for repo in self._sorted:
                    by_owner.setdefault(repo.owner.lower(), []).append(repo)
                self._by_owner = by_owner
                self._by_id = {repo.id: repo for repo in self._sorted}
            return self._sorted

    def repo_by_id(self, number: int) -> WorldRepo | None:
        """The repository whose database id is ``number`` (a dict lookup, rebuilt with
        the sorted list: a query of many unknown ids costs one lookup each)."""
        with self._lock:
            self.all_repos()
            return self._by_id.get(number)

    def repos_of(self, owner: str) -> list[WorldRepo]:
        """The repos of one owner, sorted by name (a shared list: do not mutate)."""
        if not _servable(owner):
            return []
        self._rescan_owner_if_changed(owner)
        self.all_repos()
        return self._by_owner.get(owner.lower(), [])

    def owner_exists(self, owner: str) -> bool:
        return bool(self.repos_of(owner))


    def _ci_children(self, parent: Path, name: str) -> list[Path]:
        """The world directories under ``parent`` named ``name``, any case."""
        exact = parent / name
        if self._world_dir(exact):
            return [exact]
        try:
            return [p for p in parent.iterdir()
                    if p.name.lower() == name.lower() and self._world_dir(p)]
        except OSError:
            return []


def _common_dir(git_dir: Path) -> list[Path]:
    """Where a linked worktree's ``commondir`` says its refs and objects live."""
    try:
        text = (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return []
    return [git_dir / text] if text else []


def _servable(name: str) -> bool:
    """A name the world can serve: one GitHub accepts, not hidden (``.git``...)."""
    return confine.valid_name(name) and not name.startswith(".")


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


_SETTLE_NS = 2_000_000_000  # coarse file systems keep mtimes to 1-2 s
_RECHECK_NS = 250_000_000


def _needs_scan(last: tuple[int, int] | None, mtime: int, now: int) -> bool:
    """Scan an owner directory again when its mtime moved, or (at most every 250 ms)
    while the last scan was so close to the last change that a file system with
    coarse timestamps could hide a second change made in the same tick."""
    if last is None or last[0] != mtime or mtime < 0:
        return True
    return last[1] - mtime < _SETTLE_NS and now - last[1] > _RECHECK_NS


def make_git_repo(path: Path, branch: str = "main") -> Path:
    """Turn a plain directory into a git repository with its files committed."""
    import git  # GitPython; imported here so reading worlds never needs it

    try:
        repo = git.Repo.init(path, initial_branch=branch)
        repo.git.add("--all", ".")
        actor = git.Actor("Tako Emulator", "emulator@tako.invalid")
        repo.index.commit("Initial world content", author=actor, committer=actor)
    except (git.GitError, OSError, ValueError) as exc:
        raise WorldError(f"{path}: cannot make it a git repository: {exc}") from None
    return Path(repo.git_dir)
