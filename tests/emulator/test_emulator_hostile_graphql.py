"""Hostile GraphQL: fragment cycles, exponential fragments, deep selections, deep
values, aliases times page sizes, huge documents and numbers, names that lead out of
the world. Each gets a GraphQL ``errors`` answer (HTTP 200, as GitHub) or a bounded
answer, never a 500, each in bounded time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from emulator_hostile_corpus import CONTROL_GRAPHQL, GRAPHQL_CASES, GraphQLCase
from emulator_hostile_world import Hostile, assert_confined, hostile_emulator

pytestmark = pytest.mark.timeout(120)

SECONDS_PER_CASE = 10.0  # generous: the machine is shared; typical cases take milliseconds


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    with hostile_emulator(tmp_path_factory) as served:
        yield served


def test_the_corpus_is_big_enough() -> None:
    assert len(GRAPHQL_CASES) >= 100
    assert len({case.id for case in GRAPHQL_CASES}) == len(GRAPHQL_CASES)


@pytest.mark.parametrize("case", [*GRAPHQL_CASES, CONTROL_GRAPHQL], ids=lambda case: case.id)
def test_hostile_graphql_gets_an_answer(hostile: Hostile, case: GraphQLCase) -> None:
    started = time.monotonic()
    reply = hostile.get("/graphql", method="POST",
                        body={"query": case.query, "variables": case.variables})
    assert time.monotonic() - started < SECONDS_PER_CASE
    assert reply.status == case.status, reply.body[:300]
    assert_confined(reply)
    body = reply.json()
    if case.fragment is None:
        assert "errors" not in body, body["errors"][:3]
        assert isinstance(body["data"], dict)
    else:
        messages = [error["message"] for error in body["errors"]]
        assert any(case.fragment in message for message in messages), messages[:3]
