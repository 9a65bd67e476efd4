"""The action's install decisions, run *before* tako-gha is installed.

action.yml runs this file by path with setup-python's interpreter
(``python "$GITHUB_ACTION_PATH/tako_gha/surfaces/action_setup.py" plan``), so it uses
the standard library only and never imports tako-gha itself: whether tako-gha is
importable is asked of a separate interpreter process (``-c`` in a neutral working
directory, so a checkout in the job's workspace is never mistaken for an install).

The venv lives at ``$RUNNER_TEMP/tako-gha-venv``; two stamp files in it record the
lock (sha256 of requirements/action.txt) and the source (sha256 over pyproject.toml,
the lock and the package's files) it was installed from. A venv restored by
actions/cache or made by an earlier use of the action in the same job is used as it
is when both stamps match and its interpreter imports tako-gha at the version of this
checkout's pyproject.toml (see docs/action.md, "Install and cache").

Commands (each prints what the bash step needs, nothing else):
  plan         lines for GITHUB_OUTPUT: venv, python (the venv's), key, restore-key,
               ready (an interpreter that already runs this tako-gha, or empty)
  venv-state   "ready" (use it), "package" (dependencies match the lock, the package
               must be installed) or "empty" (build the venv from the lock)
  stamp lock|source   record what was just installed into the venv
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# This checkout's root: the action's path (the file is tako_gha/surfaces/action_setup.py).
ACTION_PATH = Path(__file__).resolve().parents[2]
LOCK = Path("requirements") / "action.txt"
VENV_NAME = "tako-gha-venv"
LOCK_STAMP = "tako-gha-lock.sha256"
SOURCE_STAMP = "tako-gha-source.sha256"
# Bump when the venv's layout or the way it is built changes: old caches stop matching.
KEY_PREFIX = "tako-gha-venv-1"
_SKIPPED = {"__pycache__", "build", "dist"}
_VERSION = re.compile(r'^version\s*=\s*"([^"]+)"', re.MULTILINE)

# Run inside the interpreter being asked: exit 0 when it imports tako_gha from the
# action's own path, or an installed tako-gha at exactly the action's version.
_PROBE = """\
import os, sys
try:
    import tako_gha
    from importlib import metadata
except ImportError:
    sys.exit(1)
here = os.path.realpath(sys.argv[1])
init = getattr(tako_gha, "__file__", None) or ""
if init and os.path.realpath(os.path.dirname(os.path.dirname(init))) == here:
    sys.exit(0)
try:
    sys.exit(0 if metadata.version("tako-gha") == sys.argv[2] else 1)
except metadata.PackageNotFoundError:
    sys.exit(1)
"""


def project_version(action_path: Path = ACTION_PATH) -> str:
    """The version in the checkout's pyproject.toml ([project] is its only table with one)."""
    found = _VERSION.search((action_path / "pyproject.toml").read_text(encoding="utf-8"))
    if found is None:
        raise SystemExit(f"{action_path / 'pyproject.toml'}: no version = \"...\" line")
    return found.group(1)


def lock_hash(action_path: Path = ACTION_PATH) -> str:
    return hashlib.sha256((action_path / LOCK).read_bytes()).hexdigest()


def source_hash(action_path: Path = ACTION_PATH) -> str:
    """sha256 over what an install of this checkout is made of: pyproject.toml, the lock
    and every file of the package (names and contents; caches and build output left out)."""
    digest = hashlib.sha256()
    files = [action_path / "pyproject.toml", action_path / LOCK]
    for folder, dirs, names in os.walk(action_path / "tako_gha"):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED and not d.endswith(".egg-info"))
        files.extend(Path(folder) / n for n in sorted(names) if not n.endswith((".pyc", ".pyo")))
    for path in files:
        digest.update(path.relative_to(action_path).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def venv_dir(environ: Mapping[str, str] = os.environ) -> Path:
    temp = environ.get("RUNNER_TEMP")
    if not temp:
        raise SystemExit("RUNNER_TEMP is not set: run this as a step of the action")
    return Path(temp) / VENV_NAME


def venv_python(venv: Path) -> Path:
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def serves(python: str | Path, action_path: Path = ACTION_PATH) -> bool:
    """Does this interpreter import this very tako-gha (its path, or its exact version)?"""
    try:
        proc = subprocess.run([str(python), "-c", _PROBE, str(action_path),
                               project_version(action_path)],
                              cwd=Path(python).parent, capture_output=True, timeout=60,
                              check=False)
    except OSError:
        return False
    return proc.returncode == 0


def _stamp(venv: Path, name: str) -> str:
    try:
        return (venv / name).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def venv_state(venv: Path, action_path: Path = ACTION_PATH) -> str:
    python = venv_python(venv)
    if not python.exists() or _stamp(venv, LOCK_STAMP) != lock_hash(action_path):
        return "empty"
    if _stamp(venv, SOURCE_STAMP) == source_hash(action_path) and serves(python, action_path):
        return "ready"
    return "package"


def cache_key(action_path: Path = ACTION_PATH) -> tuple[str, str]:
    """(key, restore-key): the venv depends on the runner's OS and architecture, the
    Python it was made with, the lock, and (for the package itself) the source. A
    restore-key match has the right dependencies: only the package is installed again."""
    python = f"{sys.implementation.name}{platform.python_version()}"
    prefix = (f"{KEY_PREFIX}-{sys.platform}-{platform.machine().lower()}-{python}"
              f"-{lock_hash(action_path)[:24]}-")
    return prefix + source_hash(action_path)[:24], prefix


def plan(environ: Mapping[str, str] = os.environ,
         action_path: Path = ACTION_PATH) -> dict[str, str]:
    venv = venv_dir(environ)
    key, restore = cache_key(action_path)
    ready = ""
    if serves(sys.executable, action_path):
        ready = sys.executable
    elif venv_state(venv, action_path) == "ready":
        ready = str(venv_python(venv))
    return {"venv": str(venv), "python": str(venv_python(venv)), "key": key,
            "restore-key": restore, "ready": ready}


def write_stamp(venv: Path, which: str, action_path: Path = ACTION_PATH) -> None:
    if which == "lock":
        (venv / LOCK_STAMP).write_text(lock_hash(action_path) + "\n", encoding="utf-8")
    elif which == "source":
        (venv / SOURCE_STAMP).write_text(source_hash(action_path) + "\n", encoding="utf-8")
    else:
        raise SystemExit(f"stamp: expected lock or source, got {which!r}")


def main(argv: list[str]) -> int:
    command, *rest = argv or ["?"]
    if command == "plan" and not rest:
        print("\n".join(f"{k}={v}" for k, v in plan().items()))
    elif command == "venv-state" and not rest:
        print(venv_state(venv_dir()))
    elif command == "stamp" and len(rest) == 1:
        write_stamp(venv_dir(), rest[0])
    else:
        print("usage: action_setup.py plan | venv-state | stamp lock|source", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
