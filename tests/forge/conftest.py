from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakehub import FakeHub

from tako_gha.forge.github import GitHubForge
from tako_gha.forge.transport import RetryPolicy, WaitEvent


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub().start()
    yield server
    server.stop()


class Sleeps(list):
    """Records the waits a forge asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_forge(hub: FakeHub, sleeps: Sleeps):
    made: list[GitHubForge] = []

    def make(**kw) -> GitHubForge:
        kw.setdefault("token", "ghp_" + "s3cret" * 6)
        kw.setdefault("policy", RetryPolicy(jitter=False, secondary_min_wait=60.0))
        kw.setdefault("sleep", sleeps)
        kw.setdefault("write_interval", 0.0)
        kw.setdefault("timeout", 2)
        forge = GitHubForge(hub.base_url, **kw)
        made.append(forge)
        return forge

    yield make
    for forge in made:
        forge.close()


__all__ = ["Sleeps", "WaitEvent"]
