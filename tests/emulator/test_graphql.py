"""POST /graphql: the discovery query shape (docs/limits.md, Discovery), errors, costs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from github import Auth, Github

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import Reply, call

pytestmark = pytest.mark.timeout(60)

DISCOVERY = """
query($org: String!, $cursor: String) {
  organization(login: $org) {
    repositories(first: 2, after: $cursor, isArchived: false) {
      pageInfo { hasNextPage endCursor }
      nodes { nameWithOwner name isArchived isFork isDisabled defaultBranchRef { name }
              repositoryTopics(first: 20) { nodes { topic { name } } }
              tako: object(expression: "HEAD:tako.yml") {
                ... on Blob { text oid byteSize isBinary isTruncated } } } } }
  rateLimit { cost remaining resetAt limit used }
}"""


@pytest.fixture
def emu(make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> Emulator:
    world = make_world(
        {
            "acme/a": {"tako.yml": "version: 1\n"},
            "acme/b": {"README": "no config"},
            "acme/c": {"tako.yml": b"\x00\x01binary"},
            "acme/old": {"tako.yml": "version: 1\n"},
            "acme/fork": {"tako.yml": "version: 1\n"},
            "other/x": {"tako.yml": "version: 1\n"},
        },
        settings={"repos": {"acme/old": {"archived": True},
                            "acme/fork": {"fork": True, "topics": ["tako", "rust"]}}},
    )
    return start_emulator(world)


def gql(emu: Emulator, query: str, variables: dict | None = None, token: str = "") -> Reply:
    body = {"query": query, "variables": variables or {}}
    return call(emu.base_url, "POST", "/graphql", token or emu.admin_token, body)


def test_discovery_pages_with_blobs(emu: Emulator) -> None:
    seen: dict[str, dict | None] = {}
    cursor = None
    pages = 0
    while True:
        reply = gql(emu, DISCOVERY, {"org": "acme", "cursor": cursor})
        assert reply.status == 200
        body = reply.json()
        assert "errors" not in body
        conn = body["data"]["organization"]["repositories"]
        pages += 1
        for node in conn["nodes"]:
            seen[node["nameWithOwner"]] = node
        assert body["data"]["rateLimit"]["cost"] == 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        cursor = conn["pageInfo"]["endCursor"]
    assert pages == 2  # four non-archived repos, two a page
    assert sorted(seen) == ["acme/a", "acme/b", "acme/c", "acme/fork"]
    assert seen["acme/a"]["tako"]["text"] == "version: 1\n"
    oid = seen["acme/a"]["tako"]["oid"]
    contents = call(emu.base_url, "GET", "/repos/acme/a/contents/tako.yml", emu.admin_token)
    assert contents.json()["sha"] == oid  # the real git blob sha, same as REST
    assert seen["acme/b"]["tako"] is None
    assert seen["acme/c"]["tako"]["isBinary"] is True and seen["acme/c"]["tako"]["text"] is None
    assert seen["acme/fork"]["isFork"] is True
    assert [t["topic"]["name"] for t in seen["acme/fork"]["repositoryTopics"]["nodes"]] == [
        "tako", "rust"]
    assert seen["acme/a"]["defaultBranchRef"] == {"name": "main"}


def test_repository_aliases_and_partial_errors(emu: Emulator) -> None:
    query = """{ one: repository(owner: "acme", name: "a") { nameWithOwner
                   y: object(expression: "HEAD:tako.yml") { ... on Blob { text } }
                   n: object(expression: "HEAD:nope.yml") { ... on Blob { text } } }
                 two: repository(owner: "acme", name: "ghost") { name } }"""
    body = gql(emu, query).json()
    assert body["data"]["one"]["y"] == {"text": "version: 1\n"}
    assert body["data"]["one"]["n"] is None
    assert body["data"]["two"] is None
    assert body["errors"][0]["type"] == "NOT_FOUND" and body["errors"][0]["path"] == ["two"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ('{ organization(login: "acme") { repositories(first: 5) { nodes { bogus } } } }',
         "Field 'bogus' doesn't exist on type 'Repository'"),
        ('{ organization(login: "acme") { repositories(first: 101) { nodes { name } } } }',
         "exceeds the `first` limit of 100"),
        ('{ organization(login: "acme") { repositories { nodes { name } } } }',
         "You must provide a `first` or `last` value"),
        ('{ organization(login: "acme") { repositories(first: 1, color: RED) { totalCount } } }',
         "doesn't accept argument 'color'"),
        ('{ organization(login: "acme" { name } }', "Parse error"),
        ('{ organization(login: "nobody") { login } }',
         "Could not resolve to an Organization with the login of 'nobody'"),
        ("mutation { addStar(input: {}) { clientMutationId } }", "does not support mutation"),
        ("query($org: String!) { organization(login: $org) { login } }", "invalid value"),
    ],
)
def test_graphql_errors(emu: Emulator, query: str, fragment: str) -> None:
    reply = gql(emu, query)
    assert reply.status == 200
    messages = [e["message"] for e in reply.json()["errors"]]
    assert any(fragment in m for m in messages), messages


def test_graphql_bad_bodies(emu: Emulator) -> None:
    bad_json = call(emu.base_url, "POST", "/graphql", emu.admin_token, raw=b"{oops")
    assert bad_json.status == 400 and bad_json.json()["message"] == "Problems parsing JSON"
    no_query = call(emu.base_url, "POST", "/graphql", emu.admin_token, {"variables": {}})
    assert "query attribute must be specified" in no_query.json()["errors"][0]["message"]
    assert call(emu.base_url, "POST", "/graphql", None, {"query": "{ viewer { login } }"}
                ).status == 401


def test_graphql_budget_is_its_own_resource(emu: Emulator) -> None:
    reply = gql(emu, "{ viewer { login } rateLimit { remaining cost } }")
    assert reply.headers["x-ratelimit-resource"] == "graphql"
    assert reply.json()["data"]["rateLimit"] == {"remaining": 4999, "cost": 1}
    # a nested connection multiplies: 100 repos x topics(first: 100) = 101 requests
    heavy = """{ organization(login: "acme") { repositories(first: 100) {
                 nodes { repositoryTopics(first: 100) { nodes { topic { name } } } } } }
               rateLimit { cost } }"""
    assert gql(emu, heavy).json()["data"]["rateLimit"]["cost"] == 1
    heavier = heavy.replace("repositoryTopics(first: 100)", "repositoryTopics(first: 100) "
                            "{ totalCount } t2: repositoryTopics(first: 100)")
    assert gql(emu, heavier).json()["data"]["rateLimit"]["cost"] == 2


def test_token_scope_applies_to_graphql(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({"acme/a": {"f": "1"}, "acme/b": {"f": "2"}},
                       settings={"tokens": {"t-all": {"repos": ["*"]},
                                            "t-a": {"repos": ["acme/a"]}}})
    emu = start_emulator(world)
    query = '{ organization(login: "acme") { repositories(first: 10) { nodes { name } } } }'
    names = gql(emu, query, token="t-a").json()["data"]["organization"]["repositories"]["nodes"]
    assert names == [{"name": "a"}]


def test_pygithub_graphql_query(emu: Emulator) -> None:
    gh = Github(auth=Auth.Token(emu.admin_token), base_url=emu.base_url, retry=None)
    _, data = gh.requester.graphql_query(DISCOVERY, {"org": "acme", "cursor": None})
    assert data["data"]["organization"]["repositories"]["pageInfo"]["hasNextPage"] is True


def test_owner_lookups_behave_like_an_organization_world(emu: Emulator) -> None:
    user = gql(emu, '{ user(login: "acme") { login repositories(first: 5) { totalCount } } }')
    assert user.json()["data"] == {"user": None}
    assert user.json()["errors"][0]["type"] == "NOT_FOUND"
    owners = gql(emu, '{ a: repositoryOwner(login: "acme") { login } '
                      'b: repositoryOwner(login: "nobody") { login } }').json()
    assert owners == {"data": {"a": {"login": "acme"}, "b": None}}
    perm = gql(emu, '{ repository(owner: "acme", name: "a") { viewerPermission } }').json()
    assert perm["data"]["repository"]["viewerPermission"] == "WRITE"
