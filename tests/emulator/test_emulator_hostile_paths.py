"""Hostile paths and refs: every owner, repo, path and ref GitHub would refuse gets
GitHub's 404 (401 without a token) and a GitHub-shaped body, and the whole traversal
corpus leaves the world's parent directory, which holds a marker file, untouched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_hostile_corpus import CONTROL_PATHS, GRAPHQL_CASES, PATH_CASES, PathCase
from emulator_hostile_world import (
    MARKER,
    TOKEN,
    Hostile,
    assert_confined,
    assert_untouched,
    hostile_emulator,
    snapshot,
)

from tako_gha.emulator.testing import Reply

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    with hostile_emulator(tmp_path_factory) as served:
        yield served


def _send(hostile: Hostile, case: PathCase) -> Reply:
    return hostile.get(case.path, token=TOKEN if case.token else None, method=case.method,
                       body=case.body)


def test_the_corpus_is_big_enough() -> None:
    assert len(PATH_CASES) >= 100
    assert len({case.id for case in PATH_CASES}) == len(PATH_CASES)


@pytest.mark.parametrize("case", PATH_CASES, ids=lambda case: case.id)
def test_hostile_path_or_ref_is_refused(hostile: Hostile, case: PathCase) -> None:
    reply = _send(hostile, case)
    assert reply.status == case.status, (case.path[:200], reply.body[:300])
    assert_confined(reply)
    if case.status == 404 and case.method != "HEAD" and "json" in reply.headers["content-type"]:
        assert reply.json()["message"] in ("Not Found", "This repository is empty.") \
            or reply.json()["message"].startswith("No commit found for the ref")


@pytest.mark.parametrize("case", CONTROL_PATHS, ids=lambda case: case.id)
def test_well_formed_neighbours_are_served(hostile: Hostile, case: PathCase) -> None:
    reply = _send(hostile, case)
    assert reply.status == case.status, reply.body[:300]


def test_traversal_corpus_never_leaves_the_world(hostile: Hostile) -> None:
    """The parent of the world holds marker.txt, an emulator.yml and a plain directory;
    the world holds symlinks out to them. After every hostile path, ref and GraphQL
    lookup, no byte of the marker was served and nothing outside the world (nor the
    world itself) gained, lost or changed a file, and no .git appeared."""
    before = snapshot(hostile.parent)
    assert (hostile.parent / "marker.txt").read_text().strip() == MARKER
    for case in PATH_CASES:
        reply = _send(hostile, case)
        assert MARKER.encode() not in reply.body, case.id
    for gql in GRAPHQL_CASES:
        reply = hostile.get("/graphql", method="POST", body={"query": gql.query,
                                                             "variables": gql.variables})
        assert MARKER.encode() not in reply.body, gql.id
    assert_untouched(before, snapshot(hostile.parent))
    world = hostile.emu.world
    assert world.repo("acme/escape") is None and world.repos_of("outside") == []
    assert sorted(r.full_name for r in world.all_repos()) == ["acme/app", "acme/lib"]
