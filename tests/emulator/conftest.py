"""Shared fixtures for emulator tests (also used by the runner's tests).

- ``make_world(repos, settings=None, name="world") -> Path``: writes
  ``{"owner/repo": {"path": "content"}}`` under ``tmp_path/name``, each repo a git
  repository with its files committed on ``main``; ``settings`` becomes emulator.yml.
- ``start_emulator(world_dir, **kwargs) -> Emulator``: a started emulator on
  127.0.0.1:0, stopped at teardown (kwargs go to ``Emulator``).
- ``emu``: a running emulator over ``small_world`` (acme/core-lib, acme/app with a
  repository_dispatch workflow ``build.yml``, acme/docs without workflows).
- ``api(emu)``-style raw client: ``http`` fixture -> ``call(method, path, token=..., body=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import Reply, call
from tako_gha.emulator.worldgen import write_world

BUILD_WORKFLOW = """name: build
run-name: ${{ github.event.client_payload.title || github.workflow }}
on:
  repository_dispatch:
    types: [library_built]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: show
        run: cat "$GITHUB_EVENT_PATH"
"""

SMALL_WORLD: dict[str, dict[str, str]] = {
    "acme/core-lib": {"tako.yml": "version: 1\n", "README.md": "# core\n"},
    "acme/app": {"tako.yml": "version: 1\n", ".github/workflows/build.yml": BUILD_WORKFLOW},
    "acme/docs": {"README.md": "docs\n", "guide/intro.md": "hello\n"},
}


@pytest.fixture
def make_world(tmp_path: Path) -> Callable[..., Path]:
    def _make(
        repos: dict[str, dict[str, str | bytes]],
        settings: dict[str, Any] | None = None,
        name: str = "world",
    ) -> Path:
        return write_world(tmp_path / name, repos, settings)

    return _make


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def _start(world_dir: Path, **kwargs: Any) -> Emulator:
        emu = Emulator(world_dir, **kwargs).start()
        started.append(emu)
        return emu

    yield _start
    for emu in started:
        emu.stop()


@pytest.fixture
def small_world(make_world: Callable[..., Path]) -> Path:
    return make_world(SMALL_WORLD)


@pytest.fixture
def emu(small_world: Path, start_emulator: Callable[..., Emulator]) -> Emulator:
    return start_emulator(small_world)


@pytest.fixture
def http(emu: Emulator) -> Callable[..., Reply]:
    """``http(method, path, body=None, token=<admin>)`` against the ``emu`` fixture."""

    def _call(method: str, path: str, body: Any = None, token: str | None = "admin",
              **kwargs: Any) -> Reply:
        if token == "admin":
            token = emu.admin_token
        return call(emu.base_url, method, path, token=token, body=body, **kwargs)

    return _call
