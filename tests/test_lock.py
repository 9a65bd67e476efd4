"""requirements/action.txt, the action's hashed lock, stays in step with pyproject.toml.

A dependency added or re-pinned in pyproject.toml without regenerating the lock would
make the action install something else than what the project asks for (or fail with
--require-hashes on a user's runner): this fails first, naming the command."""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "action.txt"
REGENERATE = ("uv pip compile pyproject.toml requirements/build.in --universal "
              "--generate-hashes --python-version 3.10 --output-file requirements/action.txt")
# one "name==version ; marker \" line per pinned release
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _pins(text: str) -> list[tuple[str, Version, Marker | None]]:
    pins = []
    for line in text.splitlines():
        found = _PIN.match(line)
        if found:
            name, version, marker = found.groups()
            pins.append((canonicalize_name(name), Version(version),
                         Marker(marker) if marker else None))
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _required() -> list[Requirement]:
    project = _pyproject()
    reqs = [Requirement(r) for r in project["project"]["dependencies"]]
    reqs += [Requirement(r) for r in project["build-system"]["requires"]]
    return reqs


# the interpreters the action's lock must serve: the environments pip evaluates markers in
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
PLATFORMS = [("linux", "Linux"), ("darwin", "Darwin"), ("win32", "Windows")]


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS, ids=[p[0] for p in PLATFORMS])
def test_lock_satisfies_pyproject(python: str, platform: tuple[str, str]) -> None:
    env = {"python_version": python, "python_full_version": f"{python}.0",
           "sys_platform": platform[0], "platform_system": platform[1],
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    chosen: dict[str, Version] = {}
    for name, version, marker in _pins(LOCK.read_text(encoding="utf-8")):
        if marker is None or marker.evaluate(env):
            assert name not in chosen, f"{name} pinned twice for Python {python} {platform}"
            chosen[name] = version
    for req in _required():
        name = canonicalize_name(req.name)
        assert name in chosen, f"{req.name} is not in the lock: run {REGENERATE}"
        assert req.specifier.contains(chosen[name], prereleases=True), (
            f"the lock has {req.name}=={chosen[name]}, pyproject.toml asks {req}: "
            f"run {REGENERATE}")


def test_every_pin_has_hashes_and_the_lock_names_its_command() -> None:
    text = LOCK.read_text(encoding="utf-8")
    assert REGENERATE in text.splitlines()[1]
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(blocks) == len(_pins(text)) > 30
    for block in blocks:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_build_in_is_pyprojects_build_system() -> None:
    lines = (ROOT / "requirements" / "build.in").read_text(encoding="utf-8").splitlines()
    listed = sorted(str(Requirement(x)) for x in lines if x.strip() and not x.startswith("#"))
    assert listed == sorted(str(r) for r in map(Requirement,
                                                 _pyproject()["build-system"]["requires"]))


def test_pin_parser_reads_markers() -> None:
    pins = _pins("six==1.17.0 ; python_full_version < '3.11' \\\nattrs==26.1.0 \\\n")
    assert [(n, str(v)) for n, v, _ in pins] == [("six", "1.17.0"), ("attrs", "26.1.0")]
    assert pins[0][2] is not None and pins[1][2] is None


@pytest.mark.skipif(os.environ.get("TAKO_CI_DEPS") != "lock",
                    reason="only in CI's run on the lock (TAKO_CI_DEPS=lock .ci/run)")
def test_the_suite_runs_on_the_locks_versions() -> None:
    # the test dependencies installed on top must not have moved a locked package
    env = {"python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
           "python_full_version": ".".join(map(str, sys.version_info[:3])),
           "sys_platform": sys.platform, "platform_system": platform.system(),
           "implementation_name": sys.implementation.name,
           "platform_python_implementation": platform.python_implementation()}
    moved = []
    for name, version, marker in _pins(LOCK.read_text(encoding="utf-8")):
        if marker is None or marker.evaluate(env):
            try:
                installed = str(Version(metadata.version(name)))
            except metadata.PackageNotFoundError:
                installed = "nothing"
            if installed != str(version):
                moved.append(f"{name}: lock {version}, installed {installed}")
    assert moved == []
