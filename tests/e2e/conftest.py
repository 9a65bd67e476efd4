"""Fixtures for the end-to-end seed scenarios (see cascade_world.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cascade_world import SETTINGS

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import build_bare_world, write_world


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """``world(repos, bare=False, **settings) -> started Emulator``, stopped at teardown."""
    started: list[Emulator] = []

    def _start(repos: dict[str, dict[str, str]], bare: bool = False,
               **settings: Any) -> Emulator:
        root = tmp_path / "world"
        config = {**SETTINGS, **settings}
        if bare:
            build_bare_world(root, repos, config)
        else:
            write_world(root, repos, config)
        emu = Emulator(root, port=0).start()
        started.append(emu)
        return emu

    yield _start
    for emu in started:
        emu.stop()
