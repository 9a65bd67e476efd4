"""Building worlds for tests, benchmarks and the demo.

``write_world`` lays out plain files and lets the world loader make each repo a git
repository (GitPython, one repo at a time: right for a handful of repos).
``build_bare_world`` makes thousands of repos fast and still honest: one
``git fast-import`` writes every object into a shared bare store, and each world
repo is a bare repository whose ``objects/info/alternates`` points there, with its
own ``HEAD`` and ``refs/heads/<branch>``. Blob oids are real git shas.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from tako_gha.core.ids import RUN_NAME_LINE
from tako_gha.emulator.settings import WORLD_FILE, WorldError
from tako_gha.emulator.world import make_git_repo

SHARED_STORE = ".tako-objects.git"
FileMap = Mapping[str, "str | bytes"]
_STAMP = "1767225600 +0000"  # 2026-01-01T00:00:00Z: reproducible commit shas


def receiver_workflow(types: str | list[str], run: str = "echo ok", *,
                      timeout_minutes: int | None = None) -> str:
    """A receiving workflow: on ``repository_dispatch`` of ``types`` it runs ``run``
    in one job, with the ``run-name`` that puts the tako title on the run (strict
    correlation), as docs/examples/workflows/on-tako.yml does."""
    listed = ", ".join([types] if isinstance(types, str) else types)
    limit = f"    timeout-minutes: {timeout_minutes}\n" if timeout_minutes else ""
    return ("name: on-tako\n"
            f"{RUN_NAME_LINE}\n"
            f"on:\n  repository_dispatch:\n    types: [{listed}]\n"
            f"jobs:\n  work:\n    runs-on: ubuntu-latest\n{limit}    steps:\n"
            f"      - name: work\n        run: {run}\n")


def subscriber_config(producer: str, *types: str) -> str:
    """A ``tako.yml`` subscribing to ``types`` of ``producer``."""
    return (f"version: 1\nevents:\n  subscriptions:\n    - artifact: {producer}\n"
            f"      events: [{', '.join(types)}]\n")


def write_world(
    root: Path,
    repos: Mapping[str, FileMap],
    settings: Mapping | None = None,
    *,
    git: bool = True,
) -> Path:
    """Write ``{"owner/repo": {"path": content}}`` under ``root``; with ``git`` each repo
    is committed on ``main`` now (otherwise at world load). ``settings`` becomes
    ``emulator.yml``."""
    root.mkdir(parents=True, exist_ok=True)
    for full_name, files in repos.items():
        repo_dir = root / _checked_name(full_name)
        repo_dir.mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            target = repo_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            target.write_bytes(data)
        if git and not (repo_dir / ".git").exists():
            make_git_repo(repo_dir)
    if settings is not None:
        (root / WORLD_FILE).write_text(yaml.safe_dump(dict(settings), sort_keys=False))
    return root


def commit_files(repo_dir: Path, files: FileMap, message: str = "update") -> str:
    """Write files into a (non-bare) world repo and commit them; returns the sha."""
    import git

    repo = git.Repo(repo_dir)
    for rel, content in files.items():
        target = repo_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    repo.git.add("--all", ".")
    actor = git.Actor("Tako Emulator", "emulator@tako.invalid")
    return repo.index.commit(message, author=actor, committer=actor).hexsha


def build_bare_world(
    root: Path,
    repos: Mapping[str, FileMap],
    settings: Mapping | None = None,
    branch: str = "main",
) -> Path:
    """Create many bare repos quickly (see module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    store = root / SHARED_STORE
    if not store.exists():
        _git(["init", "--quiet", "--bare", str(store)], root)
    names = [_checked_name(n) for n in repos]
    stream, commit_marks = _fast_import_stream(repos, names)
    marks_file = store / "tako-marks"
    _git(
        ["fast-import", "--quiet", "--force", f"--export-marks={marks_file}"],
        store,
        stdin=stream,
    )
    shas = _read_marks(marks_file)
    _pack_refs(store, {f"refs/tako/{name}": shas[mark]
                       for name, mark in zip(names, commit_marks, strict=True)})
    jobs = [(root / name, store, branch, shas[mark])
            for name, mark in zip(names, commit_marks, strict=True)]
    # Creating directories and small files is all system calls: threads overlap them.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda job: _bare_repo(*job), jobs))
    if settings is not None:
        (root / WORLD_FILE).write_text(yaml.safe_dump(dict(settings), sort_keys=False))
    return root


def _fast_import_stream(
    repos: Mapping[str, FileMap], names: list[str]
) -> tuple[bytes, list[int]]:
    chunks: list[bytes] = []
    blob_marks: dict[bytes, int] = {}
    commit_marks: list[int] = []
    mark = 0
    for name, files in zip(names, repos.values(), strict=True):
        modifies: list[bytes] = []
        for rel, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            if data not in blob_marks:
                mark += 1
                blob_marks[data] = mark
                chunks.append(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
            modifies.append(b"M 100644 :%d %s\n" % (blob_marks[data], rel.encode()))
        mark += 1
        commit_marks.append(mark)
        message = f"Initial content of {name}".encode()
        chunks.append(
            # One scratch branch, reset before each root commit: fast-import then writes a
            # single ref instead of 10,000 ref files; the per-repo refs go into
            # packed-refs below (they keep every commit reachable for git gc).
            b"reset refs/tako-build\ncommit refs/tako-build\nmark :%d\n" % mark
            + b"author Tako Emulator <emulator@tako.invalid> %s\n" % _STAMP.encode()
            + b"committer Tako Emulator <emulator@tako.invalid> %s\n" % _STAMP.encode()
            + b"data %d\n%s\n" % (len(message), message)
            + b"".join(modifies)
            + b"\n"
        )
    return b"".join(chunks), commit_marks


def _pack_refs(store: Path, refs: dict[str, str]) -> None:
    """Add refs to the store's packed-refs (sorted, as git writes it)."""
    packed = store / "packed-refs"
    existing: dict[str, str] = {}
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line and not line.startswith(("#", "^")):
                sha, _, ref = line.partition(" ")
                existing[ref] = sha
    existing.update(refs)
    lines = [f"{sha} {ref}" for ref, sha in sorted(existing.items())]
    packed.write_text("# pack-refs with: peeled fully-peeled sorted \n" + "\n".join(lines) + "\n")
    (store / "refs" / "tako-build").unlink(missing_ok=True)


def _read_marks(path: Path) -> dict[int, str]:
    out: dict[int, str] = {}
    for line in path.read_text().splitlines():
        mark, _, sha = line.partition(" ")
        out[int(mark[1:])] = sha
    return out


def _bare_repo(path: Path, store: Path, branch: str, sha: str) -> None:
    """A bare repository by its documented on-disk layout, borrowing the store's
    objects through alternates (what ``git clone --shared --bare`` produces). The
    branch lives in ``packed-refs``: fewer files, the same repository to git."""
    base = str(path)
    os.makedirs(base + "/objects/info", exist_ok=True)
    os.makedirs(base + "/refs", exist_ok=True)
    ref = f"refs/heads/{branch}"
    for name, text in (
        ("HEAD", f"ref: {ref}\n"),
        ("config", _BARE_CONFIG),
        ("objects/info/alternates", f"../../../{SHARED_STORE}/objects\n"),
        ("packed-refs", f"# pack-refs with: peeled fully-peeled sorted \n{sha} {ref}\n"),
    ):
        fd = os.open(f"{base}/{name}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


_BARE_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"


def _checked_name(full_name: str) -> str:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name or owner.startswith(".") or name.startswith("."):
        raise WorldError(f"bad repository name {full_name!r} (expected owner/repo)")
    return f"{owner}/{name}"


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> None:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise WorldError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace')}")
