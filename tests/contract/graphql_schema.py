"""Fetching GitHub's published GraphQL schema (``@octokit/graphql-schema``) into a
local cache, the way ``openapi_spec`` fetches the REST description."""

from __future__ import annotations

from pathlib import Path

from openapi_spec import cache_dir as openapi_cache
from openapi_spec import npm_member

PACKAGE = "@octokit/graphql-schema@15.26.1"
# The introspection result: the package's schema.graphql repeats some enterprise
# fields, which graphql-core's SDL builder refuses; the JSON builds cleanly.
MEMBER = "package/schema.json"
SCHEMA_NAME = "graphql-schema-15.26.1.json"


def cache_dir() -> Path:
    return openapi_cache().parent / "graphql"


def fetch_schema() -> Path:
    return npm_member(PACKAGE, MEMBER, cache_dir() / SCHEMA_NAME, "GitHub's GraphQL schema")
