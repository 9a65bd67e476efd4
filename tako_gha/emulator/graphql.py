"""POST /graphql (being written)."""

from __future__ import annotations

from typing import Any

from tako_gha.emulator.httpkit import Request, Response, Router


def register(router: Router) -> None:
    router.add("POST", "/graphql", "graphql", execute, resource="graphql")


def execute(app: Any, req: Request) -> Response:
    return Response(200, {"errors": [{"message": "GraphQL is not available yet"}]})
