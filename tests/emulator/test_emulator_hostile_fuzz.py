"""Fuzzing the emulator's HTTP surface with hypothesis: generated paths, refs, JSON
and raw bodies, and GraphQL token soup. Whatever arrives: no 500, no marker or secret
in the answer, nothing outside the world touched, every answer in bounded time.
One server for the module; examples are bounded so the whole file takes seconds."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from emulator_hostile_world import (
    TOKEN,
    Hostile,
    Snapshot,
    assert_confined,
    assert_untouched,
    hostile_emulator,
    snapshot,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tako_gha.emulator.testing import Reply

pytestmark = pytest.mark.timeout(300)

SECONDS_PER_REQUEST = 10.0  # generous (a shared machine); typical answers take ms
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hostile, Snapshot]]:
    with hostile_emulator(tmp_path_factory) as served:
        yield served, snapshot(served.parent)


def _checked(hostile: tuple[Hostile, Snapshot], send: Any) -> Reply:
    served, before = hostile
    started = time.monotonic()
    reply = send(served)
    assert time.monotonic() - started < SECONDS_PER_REQUEST
    assert_confined(reply)
    assert_untouched(before, snapshot(served.parent))
    return reply


# -- paths and refs -----------------------------------------------------------------------
KNOWN = ["..", ".", "%2e%2e", "%2E.", ".%2e", "%252e%252e", "%00", "%2f", "%5c", "%0a", "~",
         "acme", "app", "lib", "main", "tako.yml", "docs", "guide.md", "marker.txt",
         "emulator.yml", "outside", "escape", "plain", "world", ".git", "HEAD", "refs",
         "heads", "config", "", "%ff", "%c0%ae", "*", "@%7B1%7D", "x.lock", "-x", "runs", "1"]
segments = st.sampled_from(KNOWN) | st.text(max_size=10).map(lambda s: quote(s, safe=""))
tails = st.lists(segments, max_size=6).map("/".join)
TEMPLATES = [
    "/repos/{a}/{b}", "/repos/{a}/{b}/contents/{tail}", "/repos/acme/app/contents/{tail}",
    "/_emulator/raw/{tail}", "/_emulator/raw/acme/app/{a}/{tail}", "/orgs/{a}/repos",
    "/orgs/{a}", "/users/{a}/repos", "/{tail}", "/_emulator/{tail}",
    "/repos/{a}/{b}/actions/runs/{a}", "/{a}/{b}/actions/runs/{b}",
    "/repos/{a}/{b}/actions/workflows/{a}/runs", "/repos/{a}/{b}/actions/jobs/{b}/logs",
]
refs = st.lists(segments, min_size=1, max_size=5).map("/".join) | st.text(max_size=30).map(
    lambda s: quote(s, safe=""))


@FUZZ
@given(template=st.sampled_from(TEMPLATES), a=segments, b=segments, tail=tails,
       ref=st.none() | refs, token=st.booleans(), method=st.sampled_from(["GET", "HEAD"]))
def test_fuzzed_paths_and_refs_stay_in_the_world(
    hostile: tuple[Hostile, Snapshot], template: str, a: str, b: str, tail: str,
    ref: str | None, token: bool, method: str,
) -> None:
    path = template.format(a=a, b=b, tail=tail)
    if ref is not None:
        path += f"?ref={ref}"
    _checked(hostile, lambda served: served.get(path, token=TOKEN if token else None,
                                                method=method))


# -- bodies -------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=25,
)
deep = st.integers(0, 400).map(lambda n: "[" * n + "]" * n)
big_numbers = st.integers(90, 6000).map(lambda n: "9" * n)
dispatch_bodies = st.fixed_dictionaries(
    {"event_type": st.text(max_size=120) | json_values},
    optional={"client_payload": json_values},
)
ENDPOINTS = {"dispatch": "/repos/acme/app/dispatches", "graphql": "/graphql",
             "other-repo": "/repos/acme/lib/dispatches"}


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    return False


@FUZZ
@given(endpoint=st.sampled_from(sorted(ENDPOINTS)),
       body=json_values | dispatch_bodies,
       wrap=st.sampled_from(["plain", "nested", "bytes"]),
       extra=deep | big_numbers, junk=st.binary(max_size=64))
def test_fuzzed_bodies_get_an_answer(
    hostile: tuple[Hostile, Snapshot], endpoint: str, body: Any, wrap: str, extra: str,
    junk: bytes,
) -> None:
    text = json.dumps(body)  # NaN and Infinity come out as such: they must be refused
    if wrap == "nested":  # deep brackets or a long number inside a dispatch payload
        raw = f'{{"event_type": "x", "client_payload": {{"k": {extra}}}}}'.encode()
    elif wrap == "bytes":
        raw = junk
    else:
        raw = text.encode()
    reply = _checked(hostile, lambda served: served.get(ENDPOINTS[endpoint], method="POST",
                                                        raw=raw))
    if wrap == "plain" and _has_non_finite(body):
        assert reply.status == 400 and reply.json()["message"] == "Problems parsing JSON"
    assert reply.status in (200, 204, 400, 422), reply.status


# -- GraphQL ------------------------------------------------------------------------------
GQL_TOKENS = ["{", "}", "(", ")", "[", "]", "...", "fragment", "on", "query", "viewer",
              "login", "organization", "repository", "repositories", "first:", "last:",
              "100", "1e999", '"acme"', '"app"', '".."', "owner:", "name:", "login:", "$n",
              ":", "@include(if: true)", "@skip(if: $n)", "A", "B", "User", "Query",
              "Repository", "nodes", "edges", "node", "object", "expression:",
              '"HEAD:tako.yml"', '"../../HEAD:x"', "... on Blob { text }", "totalCount",
              "after:", '"!!"', "5", "a:", "b:", "nodes(ids:", "node(id:", "ids:",
              '"V0ZSOsKy"', '"V0ZSOjE="', "... on WorkflowRun { id }"]


@FUZZ
@given(tokens=st.lists(st.sampled_from(GQL_TOKENS), max_size=80),
       variables=st.dictionaries(st.sampled_from(["n", "m"]), json_values, max_size=2))
def test_fuzzed_graphql_gets_an_answer(
    hostile: tuple[Hostile, Snapshot], tokens: list[str], variables: dict[str, Any],
) -> None:
    query = " ".join(tokens)
    if _has_non_finite(variables):
        variables = {}
    reply = _checked(hostile, lambda served: served.get(
        "/graphql", method="POST", body={"query": query, "variables": variables}))
    assert reply.status == 200
    assert "errors" in reply.json() or "data" in reply.json()
