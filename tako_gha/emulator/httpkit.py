"""Request, response, errors and routing: the small HTTP vocabulary of the emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tako_gha.emulator import confine
from tako_gha.emulator.settings import TokenPolicy
from tako_gha.emulator.shapes import error_body


@dataclass
class Request:
    method: str
    path: str  # decoded, without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    token_id: str = "-"
    rate_key: str = "anonymous"  # whose budget: a token id, or run:<repo> for run tokens
    policy: TokenPolicy | None = None
    login: str = "tako-user"
    is_run_token: bool = False
    run_repo: str | None = None
    points_held: bool = False  # its per-minute points were held when it was admitted

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body as JSON; GitHub answers 400 "Problems parsing JSON" otherwise. The
        reader refuses what GitHub's parser refuses (``NaN``, ``Infinity``, nesting
        beyond 100) and, to bound the work a request costs, number literals longer
        than 100 characters (see ``confine.parse_json``)."""
        if not self.body.strip():
            return None
        try:
            return confine.parse_json(self.body)
        except confine.BadJSON:
            raise ApiError(400, "Problems parsing JSON") from None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-able, or bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"
    cost: int = 1  # points charged against the budget (GraphQL queries may cost more)
    blobs: int = 0  # file contents carried (contents of a file, GraphQL Blob.text)

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode()


class ApiError(Exception):
    """An error GitHub would answer with ``{"message", "documentation_url"}``."""

    def __init__(
        self,
        status: int,
        message: str,
        doc: str = "",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, doc, **(extra or {}))
        self.headers = headers or {}

    def response(self) -> Response:
        return Response(self.status, self.body, dict(self.headers))


def not_found(doc: str = "") -> ApiError:
    return ApiError(404, "Not Found", doc)


Handler = Callable[[Any, Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    kind: str
    handler: Handler
    resource: str = "core"


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, kind: str, handler: Handler,
            resource: str = "core") -> None:
        """``template`` like ``/repos/{owner}/{repo}/contents/{path*}``."""
        regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.*)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append(Route(method, re.compile(f"^{regex}/?$"), kind, handler, resource))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            found = route.pattern.match(path)
            if found and (route.method == method or (route.method == "GET" and method == "HEAD")):
                return route, found.groupdict()
        return None, {}
