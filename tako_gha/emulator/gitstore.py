"""Reading git repositories straight from their object database, without a process
per request: refs are read from files, objects from loose files or packs (gitdb),
following ``objects/info/alternates``. Objects are content-addressed and immutable,
so one process-wide cache keyed by sha serves every repo of the world.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gitdb.db.pack import PackedDB
from gitdb.exc import BadObject

from tako_gha.emulator import confine

_CACHE_LIMIT_BYTES = 256 * 1024 * 1024

MODE_TREE = "40000"
MODE_LINK = "120000"
MODE_COMMIT = "160000"  # a submodule entry


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    name: str
    sha: str

    @property
    def kind(self) -> str:
        if self.mode == MODE_TREE:
            return "dir"
        if self.mode == MODE_LINK:
            return "symlink"
        if self.mode == MODE_COMMIT:
            return "submodule"
        return "file"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    message: str
    author_name: str
    author_email: str
    timestamp: int  # committer time, epoch seconds


class ObjectMissing(LookupError):
    pass


class ObjectStore:
    """Process-wide reader: sha -> (type, data), with a bounded cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, bytes]] = {}
        self._cache_bytes = 0
        self._trees: dict[str, list[TreeEntry]] = {}
        self._packs: dict[str, PackedDB] = {}

    def read(self, object_dirs: list[Path], sha: str) -> tuple[str, bytes]:
        hit = self._cache.get(sha)
        if hit is not None:
            return hit
        if not confine.valid_sha(sha):  # it becomes a file name below
            raise ObjectMissing(f"{sha[:80]!r} is not an object id")
        found = self._read_uncached(object_dirs, sha)
        with self._lock:
            if self._cache_bytes > _CACHE_LIMIT_BYTES:
                # Simple and bounded: a full reset is rare and only costs re-reads.
                self._cache.clear()
                self._trees.clear()
                self._cache_bytes = 0
            self._cache[sha] = found
            self._cache_bytes += len(found[1]) + 100
        return found

    def tree(self, object_dirs: list[Path], sha: str) -> list[TreeEntry]:
        hit = self._trees.get(sha)
        if hit is not None:
            return hit
        kind, data = self.read(object_dirs, sha)
        if kind != "tree":
            raise ObjectMissing(f"{sha} is a {kind}, not a tree")
        entries = _parse_tree(data)
        self._trees[sha] = entries
        return entries

    def _read_uncached(self, object_dirs: list[Path], sha: str) -> tuple[str, bytes]:
        for objects in object_dirs:
            loose = objects / sha[:2] / sha[2:]
            try:
                raw = zlib.decompress(loose.read_bytes())
            except FileNotFoundError:
                pass
            else:
                header, _, body = raw.partition(b"\0")
                return header.split(b" ", 1)[0].decode(), body
            packed = self._from_pack(objects, sha)
            if packed is not None:
                return packed
        raise ObjectMissing(sha)

    def _from_pack(self, objects: Path, sha: str) -> tuple[str, bytes] | None:
        pack_dir = objects / "pack"
        if not pack_dir.is_dir():
            return None
        key = str(pack_dir)
        binsha = bytes.fromhex(sha)
        with self._lock:  # gitdb's pack readers are not meant for concurrent use
            db = self._packs.get(key)
            if db is None:
                db = self._packs[key] = PackedDB(key)
            for attempt in range(2):
                try:
                    stream = db.stream(binsha)
                except (BadObject, ValueError, OSError):
                    if attempt == 0:
                        db.update_cache(force=True)  # a gc or push may have added packs
                        continue
                    return None
                kind = stream.type
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                return kind, stream.read()
        return None


STORE = ObjectStore()


def _parse_tree(data: bytes) -> list[TreeEntry]:
    entries: list[TreeEntry] = []
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = data[pos:space].decode()
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        sha = data[nul + 1 : nul + 21].hex()
        entries.append(TreeEntry(mode, name, sha))
        pos = nul + 21
    return entries


def parse_commit(sha: str, data: bytes) -> CommitInfo:
    head, _, message = data.partition(b"\n\n")
    tree, name, email, stamp = "", "", "", 0
    for line in head.split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"tree":
            tree = value.decode()
        elif key == b"committer":
            text = value.decode("utf-8", "replace")
            ident, _, when = text.rpartition("> ")
            name, _, email = ident.partition(" <")
            stamp = int(when.split(" ")[0] or 0)
    return CommitInfo(sha, tree, message.decode("utf-8", "replace"), name, email, stamp)


def find_git_dir(path: Path) -> Path | None:
    """The git directory of a work tree (``.git`` dir or file) or of a bare repo."""
    dot = path / ".git"
    if dot.is_dir():
        return dot
    if dot.is_file():
        text = dot.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            target = Path(text[len("gitdir:") :].strip())
            return target if target.is_absolute() else (path / target).resolve()
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return path
    return None


def object_dirs(git_dir: Path) -> list[Path]:
    """The repo's object directory followed by its alternates (transitively)."""
    seen: list[Path] = []
    todo = [git_dir / "objects"]
    common = git_dir / "commondir"  # linked worktrees share the main repo's objects
    if common.is_file():
        todo = [(git_dir / common.read_text().strip()).resolve() / "objects"]
    while todo:
        objects = todo.pop(0)
        if objects in seen:
            continue
        seen.append(objects)
        alternates = objects / "info" / "alternates"
        if alternates.is_file():
            for line in alternates.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    alt = Path(line)
                    # lexical join, no realpath: cheap for 10,000 repos sharing one store
                    todo.append(alt if alt.is_absolute()
                                else Path(os.path.normpath(objects / alt)))
    return seen


_local = threading.local()


@contextmanager
def snapshot() -> Iterator[None]:
    """Within one API request, read each ref file once: a consistent view of the world
    that costs a few file reads per repo, while the next request sees new commits."""
    outer = getattr(_local, "files", None)
    if outer is None:
        _local.files = {}
    try:
        yield
    finally:
        if outer is None:
            _local.files = None


def _read_text(path: Path) -> str | None:
    memo: dict[Path, str | None] | None = getattr(_local, "files", None)
    if memo is not None and path in memo:
        return memo[path]
    try:
        text: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # missing, a directory, unreadable, not text
        text = None
    if memo is not None:
        memo[path] = text
    return text


def head_ref(git_dir: Path) -> str | None:
    """The branch HEAD points at (``main``), None when detached."""
    text = (_read_text(git_dir / "HEAD") or "").strip()
    if text.startswith("ref: refs/heads/"):
        return text[len("ref: refs/heads/") :]
    return None


MAX_SYMREF_HOPS = 5  # git itself stops following symbolic refs after 5


def resolve_branch(git_dir: Path, branch: str) -> str | None:
    """Commit sha of ``refs/heads/<branch>`` (loose ref or packed-refs, following a
    symbolic ref); None for a branch name ``git check-ref-format`` refuses, so no name
    is ever joined onto the git directory unchecked, and None for a ref file that does
    not hold an object id."""
    if not confine.valid_ref(branch):
        return None
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    ref = f"refs/heads/{branch}"
    for _ in range(MAX_SYMREF_HOPS):
        value = _ref_value(common, ref)
        if value is None or not value.startswith("ref: "):
            return value if confine.valid_sha(value) else None
        ref = value.removeprefix("ref: ").strip()
        if not ref.startswith("refs/") or not confine.valid_ref(ref):
            return None
    return None


def _ref_value(common: Path, ref: str) -> str | None:
    """What a ref holds: an object id or ``ref: <target>`` (loose first, then packed)."""
    loose = _read_text(common / ref)
    if loose is not None:
        return loose.strip() or None
    packed = _read_text(common / "packed-refs")
    if packed is None:
        return None
    for line in packed.splitlines():
        if line.endswith(" " + ref) and not line.startswith(("#", "^")):
            return line.split(" ", 1)[0]
    return None


# -- writing a tree out (checkouts) -------------------------------------------------------
MAX_CHECKOUT_ENTRIES = 100_000  # a tree that reuses one subtree everywhere stays bounded


class UnsafeTree(ValueError):
    """A tree the emulator will not write: a hostile entry name, a link that leads out
    of the checkout's root, a repeated name, or more entries than a checkout takes."""


def bad_entry_name(name: str) -> str | None:
    """Why git would not check out a tree entry called ``name`` (None: it would): no
    empty name, ``.``, ``..`` or ``.git`` (any case), no ``/``, ``\\`` or NUL."""
    if name in ("", ".", "..") or name.lower() == ".git":
        return "a reserved name"
    if "/" in name or "\\" in name or "\x00" in name:
        return "a path separator or NUL in the name"
    return None


def write_tree(tree: str, dest: Path, read_tree: Callable[[str], list[TreeEntry]],
               read_blob: Callable[[str], bytes], root: Path | None = None) -> None:
    """Write ``tree`` into the existing directory ``dest``, confined to it: entry names
    are checked, every file and directory is created afresh (never written through an
    existing entry, so a repeated name cannot lead a write through a link), and every
    link must resolve inside ``root`` (default ``dest``) and not be absolute; a bad link
    is removed before ``UnsafeTree`` is raised. Submodule entries are skipped."""
    root = Path(os.path.realpath(root if root is not None else dest))
    links: list[tuple[Path, str]] = []
    todo: list[tuple[str, Path, str]] = [(tree, dest, "")]
    written = 0
    while todo:
        sha, directory, base = todo.pop()
        for entry in read_tree(sha):
            where = f"{base}{entry.name}"
            why = bad_entry_name(entry.name)
            if why is not None:
                raise UnsafeTree(f"tree entry {where!r}: {why}")
            written += 1
            if written > MAX_CHECKOUT_ENTRIES:
                raise UnsafeTree(f"more than {MAX_CHECKOUT_ENTRIES:,} entries")
            target = directory / entry.name
            try:
                if entry.kind == "dir":
                    target.mkdir()
                    todo.append((entry.sha, target, where + "/"))
                elif entry.kind == "symlink":
                    link = read_blob(entry.sha).decode("utf-8", "surrogateescape")
                    os.symlink(link, target)
                    links.append((target, where))
                elif entry.kind == "file":
                    _write_new(target, read_blob(entry.sha), entry.mode == "100755")
            except FileExistsError:
                raise UnsafeTree(f"tree entry {where!r}: the name is repeated") from None
            except (OSError, ValueError) as exc:
                raise UnsafeTree(f"tree entry {where!r}: {exc}") from None
    _check_links(links, root)


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, however deep, ignoring errors: a step
    may leave any tree behind. shutil.rmtree recurses once per level (RecursionError
    past ~1,000 levels, not an OSError that ``ignore_errors`` swallows); then ``rm -rf``,
    which walks any depth, finishes the job."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--", str(path)], capture_output=True, check=False)


def _write_new(target: Path, data: bytes, executable: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o755 if executable else 0o666)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    if executable:
        os.chmod(target, 0o755)  # whatever the umask, as git does for 100755


def _check_links(links: list[tuple[Path, str]], root: Path) -> None:
    """Every link, once the whole tree is written (a later link can change where an
    earlier one leads), must be relative and resolve inside ``root``."""
    bad: list[str] = []
    for path, where in links:
        text = os.readlink(path)
        real = Path(os.path.realpath(path))
        if os.path.isabs(text) or not (real == root or root in real.parents):
            bad.append(where)
    if bad:
        for path, where in links:
            if where in bad:
                path.unlink()
        raise UnsafeTree(f"symbolic link {bad[0]!r} leads outside the checkout"
                         + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
