"""Hostile request bodies: malformed JSON, NaN/Infinity, deep nesting, huge numbers,
wrong shapes and oversize bodies get GitHub's 400/413/422 (GraphQL: an ``errors``
answer), never a 500 and never a dispatch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_hostile_corpus import _POST, BODY_CASES, CONTROL_RAW, RAW_REQUESTS, BodyCase
from emulator_hostile_world import TOKEN, Hostile, assert_confined, hostile_emulator

from tako_gha.emulator.testing import Reply

pytestmark = pytest.mark.timeout(120)

PATHS = {"dispatch": "/repos/acme/app/dispatches", "graphql": "/graphql",
         "faults": "/_emulator/faults"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    with hostile_emulator(tmp_path_factory) as served:
        yield served


def _post(hostile: Hostile, case: BodyCase) -> Reply:
    token = None if case.target == "faults" else TOKEN
    return hostile.get(PATHS[case.target], token=token, method="POST", raw=case.raw)


def test_the_corpus_is_big_enough() -> None:
    assert len(BODY_CASES) + len(RAW_REQUESTS) >= 100
    assert len({case.id for case in BODY_CASES}) == len(BODY_CASES)


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda case: case.id)
def test_hostile_body_gets_githubs_answer(hostile: Hostile, case: BodyCase) -> None:
    try:
        reply = _post(hostile, case)
    finally:
        if case.target == "faults":  # a spec that was accepted must not leak into others
            hostile.get("/_emulator/faults", token=None, method="POST", body={})
    assert reply.status == case.status, reply.body[:300]
    assert_confined(reply)
    if case.status == 400 and case.target != "faults":
        assert reply.json()["message"] == "Problems parsing JSON"
    if case.target == "graphql" and case.status == 200:
        assert reply.json()["errors"][0]["message"]
    if case.status == 422:
        assert reply.json()["message"].startswith("Invalid request.")
    assert hostile.emu.runs.all_runs() == []


@pytest.mark.parametrize(("name", "headers", "status"), [*RAW_REQUESTS, CONTROL_RAW],
                         ids=[r[0] for r in [*RAW_REQUESTS, CONTROL_RAW]])
def test_malformed_framing_gets_a_status(hostile: Hostile, name: str, headers: bytes,
                                         status: int) -> None:
    answer = hostile.raw(_POST % TOKEN.encode() + headers)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert b"documentation_url" in answer or b"errors" in answer


def test_the_server_lives_on_after_the_corpus(hostile: Hostile) -> None:
    assert hostile.get("/repos/acme/app").status == 200
    assert hostile.get("/_emulator/health", token=None).json()["ok"] is True
