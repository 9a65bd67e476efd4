"""The GraphQL parser and the less common query features the executor honours."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.gqlparse import EnumValue, Field, GraphQLError, InlineFragment, Parser
from tako_gha.emulator.testing import call

pytestmark = pytest.mark.timeout(60)


def test_parser_reads_the_whole_language() -> None:
    doc = Parser('''
        # a comment
        query Discover($org: String! = "acme", $n: Int = 5, $flag: [Boolean!]) @live {
          organization(login: $org) {
            ...Repos
            ... on Organization { login }
            ... @include(if: true) { name }
          }
          x: viewer { login }
        }
        fragment Repos on Organization {
          repositories(first: 5, orderBy: {field: NAME, direction: ASC}, privacy: PUBLIC,
                       list: [1, 2.5, -3e2], text: "a\\"b\\u0041", block: """many
lines""", nothing: null) { totalCount }
        }
    ''').document()
    op = doc.operations[0]
    assert op.name == "Discover" and op.variables["org"] == ("String!", "acme", True)
    assert op.variables["flag"] == ("[Boolean!]", None, False)
    org = op.selections[0]
    assert isinstance(org, Field) and isinstance(org.selections[1], InlineFragment)
    args = doc.fragments["Repos"][1][0].args
    assert args["orderBy"] == {"field": EnumValue("NAME"), "direction": EnumValue("ASC")}
    assert args["list"] == [1, 2.5, -300.0] and args["text"] == 'a"bA'
    assert args["block"] == "many\nlines" and args["nothing"] is None
    assert op.selections[1].alias == "x"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{ a", "unclosed selection set"),
        ("{ }", "empty selection set"),
        ("{ a(x: ) }", "expected a value"),
        ("query($a: Int = $b) { a }", "variables are not allowed"),
        ("fragment F in X { a }", "expected 'on'"),
        ("type X { a }", "Parse error on 'type'"),
        ("{ a } ~", "Parse error"),
        ("", "no operation"),
    ],
)
def test_parse_errors_say_where(source: str, fragment: str) -> None:
    with pytest.raises(GraphQLError) as err:
        Parser(source).document()
    assert fragment in err.value.message


@pytest.fixture
def emu(make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> Emulator:
    world = make_world({"acme/a": {"tako.yml": "x: 1\n", "dir/f.txt": "f"},
                        "acme/b": {"tako.yml": "y: 2\n"}, "acme/c": {"n": "1"}},
                       settings={"repos": {"acme/b": {"private": True, "topics": ["t1", "t2"]}}})
    return start_emulator(world)


def gql(emu: Emulator, query: str, **extra: object) -> dict:
    return call(emu.base_url, "POST", "/graphql", emu.admin_token,
                {"query": query, **extra}).json()


def test_named_operations_fragments_directives_and_edges(emu: Emulator) -> None:
    query = """
      query One { viewer { login } }
      query Two($skip: Boolean = true) {
        organization(login: "acme") {
          login
          repositories(first: 2, privacy: PUBLIC) {
            totalCount
            edges { cursor node { ...R } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          }
        }
        r: repository(owner: "acme", name: "a") {
          __typename owner { login } isPrivate visibility isEmpty databaseId
          dir: object(expression: "HEAD:dir") { ... on Tree { entries { name type oid } } }
          at: object(expression: "main:tako.yml") { oid ... on Blob { abbreviatedOid } }
          bad: object(expression: "nosuchbranch:tako.yml") { oid }
          whole: object(expression: "HEAD") { oid }
          defaultBranchRef { name target { oid } }
          skipped: name @skip(if: $skip)
        }
      }
      fragment R on Repository { name }"""
    body = gql(emu, query, operationName="Two")
    assert "errors" not in body, body
    org = body["data"]["organization"]
    assert org["repositories"]["totalCount"] == 2  # acme/b is private
    assert [e["node"]["name"] for e in org["repositories"]["edges"]] == ["a", "c"]
    assert org["repositories"]["pageInfo"]["hasNextPage"] is False
    repo = body["data"]["r"]
    assert repo["__typename"] == "Repository" and repo["owner"] == {"login": "acme"}
    assert repo["dir"]["entries"] == [{"name": "f.txt", "type": "blob",
                                       "oid": repo["dir"]["entries"][0]["oid"]}]
    assert repo["at"]["abbreviatedOid"] == repo["at"]["oid"][:7]
    assert repo["bad"] is None and repo["whole"] is None and "skipped" not in repo
    assert repo["defaultBranchRef"]["name"] == "main"
    assert gql(emu, query)["errors"][0]["message"].startswith("An operation name is required")
    assert "No operation named" in gql(emu, query, operationName="Three")["errors"][0]["message"]


def test_backward_pagination_and_bad_cursors(emu: Emulator) -> None:
    base = '{ organization(login: "acme") { repositories(%s) { nodes { name } ' \
           'pageInfo { startCursor hasPreviousPage } } } }'
    last = gql(emu, base % "last: 2")["data"]["organization"]["repositories"]
    assert [n["name"] for n in last["nodes"]] == ["b", "c"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    before = gql(emu, base % f'last: 5, before: "{last["pageInfo"]["startCursor"]}"')
    assert [n["name"] for n in before["data"]["organization"]["repositories"]["nodes"]] == ["a"]
    bad = gql(emu, base % 'first: 1, after: "!!!"')
    assert "does not appear to be a valid cursor" in bad["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        ("{ repository(owner: \"acme\", name: \"a\") { name { x } } }", {},
         "Selections can't be made on scalars"),
        ("{ repository(owner: \"acme\", name: \"a\") { owner } }", {},
         "Field must have selections"),
        ("{ repository(owner: \"acme\", name: \"a\") { ...Nope } }", {},
         "Fragment Nope was used, but not defined"),
        ("{ repository(owner: \"acme\", name: \"a\") { ... on Banana { x } } }", {},
         "No such type Banana"),
        ("{ repository(owner: \"acme\", name: \"a\") { object(expression: \"HEAD:x\") "
         "{ text } } }", {}, "Field 'text' doesn't exist on type 'GitObject'"),
        ("query($n: Int) { viewer { login } }", {"n": "five"}, "invalid value"),
        ("query($s: String) { viewer { login } }", {"s": 5}, "invalid value"),
        ("query($b: Boolean) { viewer { login } }", {"b": "yes"}, "invalid value"),
        ("{ viewer { login } }", "not-a-dict", "Variables are invalid"),
    ],
)
def test_validation_errors(emu: Emulator, query: str, variables: object, fragment: str) -> None:
    body = gql(emu, query, variables=variables)
    assert "data" not in body
    assert any(fragment in e["message"] for e in body["errors"]), body["errors"]


def test_graphql_budget_exhaustion(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    emu = start_emulator(make_world({"acme/a": {"f": "1"}}), limits={"graphql": 2})
    statuses = [gql(emu, "{ viewer { login } }") for _ in range(3)]
    assert "data" in statuses[0] and "data" in statuses[1]
    assert statuses[2]["errors"][0]["type"] == "RATE_LIMITED"
