"""Fixtures for the end-to-end seed scenarios (see cascade_world.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cascade_world import ACTION_REPO, SETTINGS, action_repo

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import build_bare_world, write_world


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """``world(repos, bare=False, action_yml=None, **settings) -> started Emulator``,
    stopped at teardown. Every world holds ``acme/tako-gha`` (the project's action,
    ``action_yml`` replacing its action.yml) with the tag ``v1``."""
    started: list[Emulator] = []

    def _start(repos: dict[str, dict[str, str]], bare: bool = False,
               action_yml: str | None = None, **settings: Any) -> Emulator:
        root = tmp_path / "world"
        config = {**SETTINGS, **settings}
        repos = {ACTION_REPO: action_repo(action_yml), **repos}
        if bare:
            build_bare_world(root, repos, config)
        else:
            write_world(root, repos, config)
        subprocess.run(["git", "-C", str(root / ACTION_REPO), "tag", "v1"], check=True,
                       capture_output=True)
        emu = Emulator(root, port=0).start()
        started.append(emu)
        return emu

    yield _start
    for emu in started:
        emu.stop()
