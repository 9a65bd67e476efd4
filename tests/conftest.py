"""Shared by every test: fan-outs keep their dispatch journals in a temporary
directory (never the user's ~/.local/state), subprocesses included."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _journal_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.environ.get("TAKO_STATE_DIR")
    os.environ["TAKO_STATE_DIR"] = str(tmp_path_factory.mktemp("tako-state"))
    yield
    if before is None:
        os.environ.pop("TAKO_STATE_DIR", None)
    else:
        os.environ["TAKO_STATE_DIR"] = before
