"""Every GraphQL query the forge sends validates against GitHub's published schema
(``@octokit/graphql-schema``, checked with graphql-core), and so do the variables it
sends with them; the emulator answers each of them without errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema, build_client_schema, parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode
from graphql_schema import fetch_schema

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import call
from tako_gha.emulator.worldgen import receiver_workflow, write_world
from tako_gha.forge.discovery import owner_query, repos_query
from tako_gha.forge.exact import files_query, states_query
from tako_gha.forge.runstate import RUN_STATES_QUERY

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="session")
def schema() -> GraphQLSchema:
    data = json.loads(fetch_schema().read_text(encoding="utf-8"))
    # GitHub's published schema breaks a rule graphql-core >= 3.3 enforces on the schema
    # itself (deprecated implementations of non-deprecated interface fields); that says
    # nothing about our queries, which validate() still checks field by field.
    return build_client_schema(data.get("data", data), assume_valid=True)


def forge_queries(run_ids: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, query, variables) for every query shape the forge builds."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for owner_field in ("organization", "user"):
        for with_text in (True, False):
            out.append((f"discovery {owner_field} text={with_text}",
                        owner_query(owner_field, "tako.yml", with_text, 100),
                        {"login": "acme", "cursor": None}))
    for with_meta in (True, False):
        out.append((f"repos meta={with_meta}",
                    repos_query(["acme/app", "acme/lib"], ".github/tako.yml", with_meta), {}))
    out.append(("run states", RUN_STATES_QUERY, {"ids": run_ids}))
    # exact mode: runs known by the URL a workflow dispatch's answer carried
    urls = [f"https://github.com/acme/app/actions/runs/{n}" for n in (1, 2)]
    out.append(("run states by url", states_query(len(urls)),
                {f"u{i}": url for i, url in enumerate(urls)}))
    out.append(("workflow files", files_query([("acme/app", "main", ".github/workflows/w.yml"),
                                               ("acme/lib", "main", "x.yml")]), {}))
    return out


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    world = write_world(tmp_path_factory.mktemp("gql") / "world", {
        "acme/app": {"tako.yml": "version: 1\n",
                     ".github/workflows/w.yml": receiver_workflow("built")},
        "acme/lib": {".github/tako.yml": "version: 1\n"},
    })
    with Emulator(world) as emulator:
        yield emulator


def _run_ids(emu: Emulator) -> list[str]:
    call(emu.base_url, "POST", "/repos/acme/app/dispatches", emu.admin_token,
         {"event_type": "built", "client_payload": {}})
    runs = call(emu.base_url, "GET", "/repos/acme/app/actions/runs", emu.admin_token)
    return [r["node_id"] for r in runs.json()["workflow_runs"]]


def test_forge_queries_validate_against_githubs_schema(schema: GraphQLSchema,
                                                       emu: Emulator) -> None:
    for label, query, variables in forge_queries(_run_ids(emu)):
        document = parse(query)
        assert validate(schema, document) == [], label
        operation = next(d for d in document.definitions
                         if isinstance(d, OperationDefinitionNode))
        coerced = get_variable_values(schema, operation.variable_definitions or [],
                                      variables)
        assert not isinstance(coerced, list), (label, coerced)
        body = call(emu.base_url, "POST", "/graphql", emu.admin_token,
                    {"query": query, "variables": variables}).json()
        # the owner is an organization: the user lookup is expected to say NOT_FOUND
        errors = [e for e in body.get("errors", []) if e.get("type") != "NOT_FOUND"]
        assert errors == [] and body.get("data"), (label, body)


def test_the_check_catches_a_field_github_does_not_have(schema: GraphQLSchema) -> None:
    bad = RUN_STATES_QUERY.replace("databaseId", "runId")
    errors = validate(schema, parse(bad))
    assert len(errors) == 1
    assert errors[0].message.startswith("Cannot query field 'runId' on type 'WorkflowRun'.")
    wrong_type = get_variable_values(
        schema, parse(RUN_STATES_QUERY).definitions[0].variable_definitions,  # type: ignore[attr-defined]
        {"ids": None})
    assert isinstance(wrong_type, list)


def test_schema_cache_location() -> None:
    from graphql_schema import cache_dir

    assert cache_dir().name == "graphql" and cache_dir().parent.name == "tako-gha"
    assert Path(fetch_schema()).is_file()
