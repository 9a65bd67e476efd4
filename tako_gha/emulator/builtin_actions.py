"""The actions the emulator provides itself (any ref of them is accepted).

- ``actions/setup-python``: no Python is installed; the emulator's own interpreter
  (``sys.executable``, the one serving the world, which can import ``tako_gha``)
  stands in for whatever ``python-version`` asks. Outputs ``python-path``,
  ``python-version`` and ``cache-hit`` (``false``); with ``update-environment``
  (default ``true``) its directory goes first on ``PATH`` for later steps and
  ``pythonLocation`` is set.
- ``actions/checkout``: writes the tree of a world repository (``repository``, default
  the run's; ``ref``, default the run's commit for the run's repository, else the
  default branch) into ``path`` under the workspace, after emptying it, if ``token``
  (default the run's) may read it; entry names are checked and links must stay in the
  workspace (else the step fails). There is no ``.git`` directory; other inputs
  (``fetch-depth``…) are accepted and ignored. Outputs ``ref`` and ``commit``.
- ``actions/cache`` (and ``actions/cache/restore``, ``actions/cache/save``): entries live
  under ``<world>/.tako-cache/<owner>/<repo>/``. ``path`` lines are files or directories
  (``~`` is the run's home, relative paths are under the workspace; glob patterns are
  not supported); an exact ``key`` restores and sets ``cache-hit=true``, else the newest
  entry whose key starts with one of ``restore-keys``; on a miss the paths are saved at
  the end of a successful job (GitHub's post step). An entry is never overwritten.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tako_gha.emulator.composite import ActionIO, PostStep, Result, materialise
from tako_gha.emulator.gitstore import remove_tree
from tako_gha.emulator.upload_artifact import upload_artifact

Builtin = Callable[[ActionIO, dict[str, str], dict[str, Any]], Result]


def lookup(uses: str) -> Builtin | None:
    """The built-in for ``uses`` (``actions/cache@v4``, …), None for other actions."""
    name, at, _ref = uses.partition("@")
    if not at:
        return None
    return _BUILTINS.get(name.lower())


def _truthy_input(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() == "true"


# --------------------------------------------------------------------------- setup-python

def setup_python(io: ActionIO, inputs: dict[str, str], contexts: dict[str, Any]) -> Result:
    exe = sys.executable
    version = platform.python_version()
    asked = inputs.get("python-version", "").strip()
    io.log(f"Python {version} at {exe} (the emulator's own interpreter"
           + (f", standing in for the requested {asked})" if asked else ")"))
    if _truthy_input(inputs.get("update-environment"), True):
        bindir = str(Path(exe).parent)
        io.run_env["PATH"] = os.pathsep.join([bindir, io.run_env.get("PATH", "")])
        io.job_env["pythonLocation"] = sys.prefix
    return "success", "", {"python-version": version, "python-path": exe,
                           "cache-hit": "false"}


# --------------------------------------------------------------------------- checkout

def checkout(io: ActionIO, inputs: dict[str, str], contexts: dict[str, Any]) -> Result:
    name = inputs.get("repository", "").strip() or io.repo
    view = io.world.repo(name)
    token = inputs.get("token", "").strip() or io.token
    if view is None or not io.token_reads(token, view.full_name):
        # one answer for both, as git's "Repository not found": no existence oracle
        io.annotate("failure", f"actions/checkout: repository {name} not found, or the "
                    "token cannot read it (a run's GITHUB_TOKEN reads its own repository "
                    "and public ones; pass `token:` for others)")
        return "failure", "", {}
    ref = inputs.get("ref", "").strip() or (io.sha if name.lower() == io.repo.lower()
                                             else None)
    target = (io.workspace / inputs.get("path", "").strip()).resolve()
    if not target.is_relative_to(io.workspace.resolve()):
        io.annotate("failure", f"actions/checkout: path {inputs.get('path')!r} is outside "
                    "the workspace")
        return "failure", "", {}
    _empty(target)
    sha = materialise(view, ref, target, io.workspace)
    if sha is None:
        io.annotate("failure", f"actions/checkout: {name} has no branch, tag or commit "
                    f"{ref!r}")
        return "failure", "", {}
    io.log(f"Checked out {view.full_name} at {sha} into {target}")
    return "success", "", {"ref": ref or view.default_branch, "commit": sha}


def _empty(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            remove_tree(child)
        else:
            child.unlink()


# --------------------------------------------------------------------------- cache

def cache(io: ActionIO, inputs: dict[str, str], contexts: dict[str, Any],
          restore: bool = True, save: bool = True) -> Result:
    key = inputs.get("key", "").strip()
    paths = [line.strip() for line in inputs.get("path", "").splitlines() if line.strip()]
    for name, value in (("key", key), ("path", paths)):
        if not value:
            io.annotate("failure", f"Input required and not supplied: {name}")
            return "failure", "", {}
    home = io.run_env.get("HOME") or str(Path.home())
    targets = [_cache_path(p, home, io.workspace) for p in paths]
    if any(t is None for t in targets):
        io.annotate("warning", "actions/cache: glob patterns in 'path' are not supported "
                    "by the emulator; those lines are ignored")
    chosen = [t for t in targets if t is not None]
    store = io.cache_root / io.repo.lower()
    outputs = {"cache-primary-key": key}
    hit = False
    if restore:
        restore_keys = [k.strip() for k in inputs.get("restore-keys", "").splitlines()
                        if k.strip()]
        entry = _find_entry(store, key, restore_keys)
        if entry is None:
            io.log(f"Cache not found for input keys: {', '.join([key, *restore_keys])}")
        else:
            matched = (entry / "key").read_text(encoding="utf-8")
            hit = matched == key
            if not _truthy_input(inputs.get("lookup-only"), False):
                _restore(entry, chosen)
            io.log(f"Cache restored from key: {matched}")
            outputs["cache-matched-key"] = matched
        outputs["cache-hit"] = "true" if hit else "false"
        if not hit and _truthy_input(inputs.get("fail-on-cache-miss"), False):
            io.annotate("failure", f"Failed to restore cache entry. Exiting as "
                        f"fail-on-cache-miss is set. Input key: {key}")
            return "failure", "", outputs
    if save and not hit:
        def _save(log: Callable[[str], None]) -> None:
            log(_save_entry(store, key, chosen))

        if restore:
            io.post.append(PostStep(f"actions/cache (key {key})", _save))
        else:
            io.log(_save_entry(store, key, chosen))
    return "success", "", outputs


def _cache_path(line: str, home: str, workspace: Path) -> Path | None:
    if any(c in line for c in "*?[") or line.startswith("!"):
        return None
    if line == "~" or line.startswith("~/"):
        return Path(home + line[1:])
    path = Path(line)
    return path if path.is_absolute() else workspace / path


def _entry_dir(store: Path, key: str) -> Path:
    return store / hashlib.sha256(key.encode()).hexdigest()[:32]


def _find_entry(store: Path, key: str, restore_keys: list[str]) -> Path | None:
    exact = _entry_dir(store, key)
    if (exact / "key").is_file():
        return exact
    if not store.is_dir():
        return None
    entries = []
    for entry in store.iterdir():
        try:
            entries.append((entry.stat().st_mtime, entry, (entry / "key").read_text("utf-8")))
        except OSError:
            continue  # an entry being written by another job
    for prefix in restore_keys:
        found = [(m, e) for m, e, k in entries if k.startswith(prefix)]
        if found:
            return max(found)[1]
    return None


def _restore(entry: Path, targets: list[Path]) -> None:
    for index, target in enumerate(targets):
        saved = entry / "files" / str(index)
        if saved.is_dir():
            shutil.copytree(saved, target, symlinks=True, dirs_exist_ok=True)
        elif (entry / "files" / f"{index}.file").is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry / "files" / f"{index}.file", target)


# copytree recurses once per level, so how deep a tree it can copy depends on the
# process's recursion limit (which libraries raise: celpy sets 2,500). A depth counted
# before copying makes the answer the same in every process.
MAX_SAVE_DEPTH = 200


def _deeper_than(top: Path, limit: int) -> bool:
    """Whether a directory lies more than ``limit`` levels below ``top`` (links are not
    followed; an iterative walk, so no depth can exhaust the stack)."""
    if not top.is_dir() or top.is_symlink():
        return False
    pending = [(top, 0)]
    while pending:
        here, depth = pending.pop()
        if depth > limit:
            return True
        try:
            with os.scandir(here) as entries:
                pending.extend((Path(e.path), depth + 1) for e in entries
                               if e.is_dir(follow_symlinks=False))
        except OSError:
            continue  # unreadable: copytree reports it as the save's failure
    return False


def _save_entry(store: Path, key: str, targets: list[Path]) -> str:
    entry = _entry_dir(store, key)
    if entry.exists():
        return f"Cache already exists for key: {key}; not saved again"
    existing = [(i, t) for i, t in enumerate(targets) if t.exists()]
    if not existing:
        return ("##[warning]Path Validation Error: Path(s) specified in the action for "
                "caching do(es) not exist, hence no cache is being saved.")
    deep = next((t for _, t in existing if _deeper_than(t, MAX_SAVE_DEPTH)), None)
    if deep is not None:
        return (f"##[warning]Failed to save: a directory is nested too deep to copy "
                f"(more than {MAX_SAVE_DEPTH} levels under {deep.name})")
    staging = store / f".partial-{os.getpid()}-{time.monotonic_ns()}"
    (staging / "files").mkdir(parents=True)
    try:
        for index, target in existing:
            if target.is_dir():
                shutil.copytree(target, staging / "files" / str(index), symlinks=True)
            else:
                shutil.copy2(target, staging / "files" / f"{index}.file")
    except OSError as exc:
        # as actions/cache: a save that fails is a warning, never the job's failure
        remove_tree(staging)
        return f"##[warning]Failed to save: {exc.strerror or exc}"
    (staging / "key").write_text(key, encoding="utf-8")
    try:
        staging.rename(entry)
    except OSError:  # another job saved the same key first: entries are immutable
        shutil.rmtree(staging, ignore_errors=True)
        return f"Cache already exists for key: {key}; not saved again"
    return f"Cache saved with key: {key}"


def _restore_only(io: ActionIO, inputs: dict[str, str], contexts: dict[str, Any]) -> Result:
    return cache(io, inputs, contexts, restore=True, save=False)


def _save_only(io: ActionIO, inputs: dict[str, str], contexts: dict[str, Any]) -> Result:
    return cache(io, inputs, contexts, restore=False, save=True)


_BUILTINS: dict[str, Builtin] = {
    "actions/setup-python": setup_python,
    "actions/checkout": checkout,
    "actions/cache": cache,
    "actions/cache/restore": _restore_only,
    "actions/cache/save": _save_only,
    "actions/upload-artifact": upload_artifact,  # emulator.upload_artifact
}
