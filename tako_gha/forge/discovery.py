"""Org-wide discovery of ``tako.yml`` files (docs/architecture.md, docs/limits.md).

GraphQL first: one query per 100 repositories, the config blob in the same query.
With a warm cache the listing asks only for blob oids and reuses cached texts, so an
unchanged org costs exactly its listing; changed blobs are fetched in alias batches.
REST fallback (org listing + contents per repo, conditional on stored ETags) when
GraphQL is unavailable or ``prefer_rest`` is set. A malformed ``tako.yml`` is a
diagnostic on its repo, never a failed discovery.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tako_gha.core.config import ConfigResult, load_config
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.core.names import is_repo_name
from tako_gha.forge.base import (
    NOT_GITHUB_HINT,
    AuthError,
    CallKind,
    DiscoveredRepo,
    Discovery,
    ForgeError,
    NotFoundError,
    RepoMeta,
    RepoSelection,
    skip_reason,
)
from tako_gha.forge.cache import BlobCache
from tako_gha.forge.redact import redact_url
from tako_gha.forge.transport import Response, Transport

log = logging.getLogger("tako_gha.forge")

PAGE = 100  # GraphQL `first` maximum and REST per_page maximum
PUSH_PERMISSIONS = frozenset({"ADMIN", "MAINTAIN", "WRITE"})
# Statuses meaning "this server has no usable GraphQL" -> use REST instead.
GRAPHQL_UNAVAILABLE = frozenset({400, 403, 404, 405, 410, 501})

REPO_FIELDS = (
    "nameWithOwner isArchived isDisabled isFork viewerPermission "
    "defaultBranchRef { name } repositoryTopics(first: 20) { nodes { topic { name } } }"
)


class GraphQLUnavailable(Exception):
    """GraphQL cannot be used here; discovery switches to REST."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# GitHub stops GraphQL queries after ~10 s with 502/504: a page that keeps timing out
# is asked again with half as many repositories, down to this many.
MIN_PAGE = 12
TIMEOUT_STATUSES = frozenset({502, 504})


@dataclass
class BlobRef:
    """The config file as the listing saw it: absent, or an oid (+ text if fetched)."""

    present: bool
    oid: str | None = None
    text: str | None = None
    unreadable: str = ""  # why the text cannot be used (binary, too large, a directory)


def parse_config(text: str, path: str, repo: str) -> ConfigResult:
    """``load_config`` that cannot take discovery down with it."""
    try:
        return load_config(text, path=path, repo=repo)
    except Exception as exc:  # one repo's file must never fail the org
        log.warning("config loader failed on %s/%s: %s", repo, path, type(exc).__name__)
        return ConfigResult(repo=repo, path=path, config=None, diagnostics=[Diagnostic(
            Severity.ERROR, f"{path} could not be read ({type(exc).__name__}: {exc})",
            file=path, hint="check the file is valid YAML in the tako.yml format",
            code="unreadable")])


def unreadable_config(path: str, repo: str, why: str) -> ConfigResult:
    return ConfigResult(repo=repo, path=path, config=None, diagnostics=[Diagnostic(
        Severity.ERROR, f"{path} cannot be used: {why}", file=path,
        hint=f"make {path} a UTF-8 text file under 1 MB at the repository root",
        code="unreadable")])


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _gql_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid GraphQL string literal


def _blob_selection(with_text: bool) -> str:
    return "... on Blob { oid text isBinary }" if with_text else "... on Blob { oid }"


def owner_query(owner_field: str, config_path: str, with_text: bool, first: int = PAGE) -> str:
    expression = _gql_str(f"HEAD:{config_path}")
    return (
        "query($login: String!, $cursor: String) { "
        f"{owner_field}(login: $login) {{ "
        f"repositories(first: {first}, after: $cursor) {{ "
        "pageInfo { hasNextPage endCursor } "
        f"nodes {{ {REPO_FIELDS} config: object(expression: {expression}) "
        f"{{ {_blob_selection(with_text)} }} }} }} }} "
        "rateLimit { cost remaining limit resetAt } }"
    )


def repos_query(full_names: Sequence[str], config_path: str, with_meta: bool) -> str:
    """Aliases ``r0..rN`` over ``repository(owner:, name:)``, one query for many repos."""
    expression = _gql_str(f"HEAD:{config_path}")
    parts = []
    for i, full in enumerate(full_names):
        owner, name = full.split("/", 1)
        fields = REPO_FIELDS if with_meta else "nameWithOwner"
        parts.append(
            f"r{i}: repository(owner: {_gql_str(owner)}, name: {_gql_str(name)}) {{ {fields} "
            f"config: object(expression: {expression}) {{ {_blob_selection(True)} }} }}")
    return "query { " + " ".join(parts) + " rateLimit { cost remaining limit resetAt } }"


def meta_from_node(node: dict[str, Any]) -> RepoMeta:
    topics_conn = node.get("repositoryTopics") or {}
    topics = [str(((n or {}).get("topic") or {}).get("name", ""))
              for n in topics_conn.get("nodes") or []]
    perm = node.get("viewerPermission")
    return RepoMeta(
        full_name=str(node["nameWithOwner"]),
        default_branch=str((node.get("defaultBranchRef") or {}).get("name") or "main"),
        archived=bool(node.get("isArchived")),
        disabled=bool(node.get("isDisabled")),
        fork=bool(node.get("isFork")),
        topics=[t for t in topics if t],
        can_push=(str(perm).upper() in PUSH_PERMISSIONS) if perm else None,
    )


def blob_from_node(node: dict[str, Any]) -> BlobRef:
    obj = node.get("config")
    if obj is None:
        return BlobRef(present=False)
    oid = obj.get("oid")
    if oid is None:  # something that is not a Blob (a directory named tako.yml)
        return BlobRef(present=True, unreadable="it is not a file")
    text = obj.get("text") if "text" in obj or "isBinary" in obj else None
    if ("text" in obj or "isBinary" in obj) and (text is None or obj.get("isBinary")):
        return BlobRef(present=True, oid=str(oid), unreadable="it is binary or too large")
    return BlobRef(present=True, oid=str(oid), text=text)


def meta_from_rest(item: dict[str, Any]) -> RepoMeta:
    perms, topics = item.get("permissions"), item.get("topics")
    can_push = None
    if isinstance(perms, dict) and perms:
        can_push = bool(perms.get("push") or perms.get("admin") or perms.get("maintain"))
    return RepoMeta(
        full_name=str(item["full_name"]),
        default_branch=str(item.get("default_branch") or "main"),
        archived=bool(item.get("archived")),
        disabled=bool(item.get("disabled")),
        fork=bool(item.get("fork")),
        topics=[t for t in topics if isinstance(t, str)] if isinstance(topics, list) else [],
        can_push=can_push,
    )


def next_link(headers: dict[str, str]) -> str | None:
    """The rel="next" URL of a ``Link`` header (GitHub: always follow, never build)."""
    for part in headers.get("link", "").split(","):
        match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', part)
        if match:
            return match.group(1)
    return None


class Discoverer:
    """One discovery run's worth of logic over a ``Transport``."""

    def __init__(self, transport: Transport, graphql_url: str, cache: BlobCache, *,
                 host: str, prefer_rest: bool = False,
                 permissions: dict[str, bool | None] | None = None) -> None:
        self.t = transport
        self.graphql_url = graphql_url
        self.cache = cache
        self.host = host
        self.prefer_rest = prefer_rest
        self.permissions = permissions if permissions is not None else {}
        self.used_rest = False  # for reports and tests: which path answered

    # ------------------------------------------------------------ entry
    def discover(self, sel: RepoSelection) -> Discovery:
        explicit = [r.strip() for r in sel.repos if r.strip()]
        if not explicit and (not sel.org.strip() or sel.org.strip() == "*"):
            raise ForgeError("discovery on GitHub needs an organization or user name",
                             hint="pass --org ORG (or a list of owner/repo names)")
        for full in explicit:
            if not is_repo_name(full):
                raise ForgeError(f"{full!r} is not an owner/repo name",
                                 hint="list repositories as owner/name, e.g. acme/service")
        metas: list[tuple[RepoMeta, BlobRef | None]]
        missing: list[str] = []
        if not self.prefer_rest:
            try:
                metas, missing = (self._graphql_repos(explicit, sel) if explicit
                                  else self._graphql_owner(sel))
            except GraphQLUnavailable as exc:
                log.info("GraphQL unavailable (%s); discovering through REST", exc)
                self.prefer_rest = True
        if self.prefer_rest:
            self.used_rest = True
            metas, missing = (self._rest_repos(explicit) if explicit
                              else self._rest_owner(sel.org))
            metas = self.fill_rest_blobs(metas, sel)
        result = self._assemble(sel, metas, missing)
        if not explicit:  # a repo list does not fill the cache for the whole org
            self.cache.mark_org(self._org_key(sel.org))
        self.cache.save()
        return result

    def _org_key(self, org: str) -> str:
        return f"{self.host}/{org.lower()}"

    def _warm(self, sel: RepoSelection) -> bool:
        return self.cache.enabled and self.cache.knows_org(self._org_key(sel.org))

    def _assemble(self, sel: RepoSelection, metas: list[tuple[RepoMeta, BlobRef | None]],
                  missing: list[str]) -> Discovery:
        repos: list[DiscoveredRepo] = []
        skipped: list[tuple[str, str]] = [
            (m, "not found, or not visible to this token") for m in missing]
        # Blobs the listing did not carry text for, fetched in batches afterwards.
        need = [(m, b) for m, b in metas
                if b is not None and b.present and not b.unreadable and b.text is None
                and skip_reason(m, sel) is None and self.cache.get(b.oid) is None]
        fetched = self._fetch_texts([m.full_name for m, _ in need], sel.config_path)
        for meta, blob in sorted(metas, key=lambda mb: mb[0].full_name.lower()):
            self.permissions[meta.full_name.lower()] = meta.can_push
            reason = skip_reason(meta, sel)
            if reason is not None:
                skipped.append((meta.full_name, reason))
                continue
            blob = fetched.get(meta.full_name, blob)
            repos.append(self._repo(meta, blob, sel.config_path))
        return Discovery(org=sel.org, repos=repos, skipped=skipped)

    def _repo(self, meta: RepoMeta, blob: BlobRef | None, path: str) -> DiscoveredRepo:
        config: ConfigResult
        oid = blob.oid if blob else None
        if blob is None or not blob.present:
            config = ConfigResult(repo=meta.full_name, path=path, config=None, missing=True)
        elif blob.unreadable:
            config = unreadable_config(path, meta.full_name, blob.unreadable)
        else:
            text = blob.text if blob.text is not None else self.cache.get(blob.oid)
            if text is None:
                config = unreadable_config(path, meta.full_name, "its content was not returned")
            else:
                self.cache.put(blob.oid, text)
                config = parse_config(text, path, meta.full_name)
        return DiscoveredRepo.of(meta, config, oid)

    # ------------------------------------------------------------ GraphQL
    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """POST one query; returns the JSON body (which may carry ``errors``)."""
        resp = self.t.request(CallKind.DISCOVERY, "POST", self.graphql_url,
                              body={"query": query, "variables": variables}, safe=True)
        if resp.status == 401:
            raise AuthError("GitHub rejected the token (401 Bad credentials)",
                            hint="set GITHUB_TOKEN or GH_TOKEN to a valid, unexpired token",
                            status=401)
        if resp.status in GRAPHQL_UNAVAILABLE or resp.status >= 500:
            raise GraphQLUnavailable(f"HTTP {resp.status} from {redact_url(self.graphql_url)}",
                                     status=resp.status)
        body = resp.json()
        if resp.status != 200 or not isinstance(body, dict):
            raise GraphQLUnavailable(f"unexpected answer (HTTP {resp.status})")
        if not isinstance(body.get("data"), dict):
            raise GraphQLUnavailable("no data: " + _error_text(body))
        if body.get("errors"):
            log.info("GraphQL answered with errors (partial data kept): %s", _error_text(body))
        return body

    def _graphql_owner(self, sel: RepoSelection) -> tuple[list[tuple[RepoMeta, BlobRef | None]],
                                                          list[str]]:
        with_text = not self._warm(sel)
        for owner_field in ("organization", "user"):
            size = PAGE
            out: list[tuple[RepoMeta, BlobRef | None]] = []
            cursor: str | None = None
            first = True
            while True:
                query = owner_query(owner_field, sel.config_path, with_text, size)
                try:
                    body = self._graphql(query, {"login": sel.org, "cursor": cursor})
                except GraphQLUnavailable as exc:
                    if exc.status in TIMEOUT_STATUSES and size > MIN_PAGE:
                        size //= 2  # same cursor, smaller page
                        log.info("GraphQL page timed out; asking %d repos at a time", size)
                        continue
                    if first:
                        raise
                    # Mid-listing failure after retries: REST would restart from zero.
                    raise ForgeError(
                        f"discovery of {sel.org} failed part-way: GraphQL stopped answering",
                        hint="try again; a warm cache makes the retry cheap") from None
                owner = body["data"].get(owner_field)
                if owner is None:
                    break  # not this kind of account: try the next field
                try:
                    conn = owner.get("repositories") or {}
                    failed = _failed_nodes(body, owner_field)
                    for i, node in enumerate(conn.get("nodes") or []):
                        if node:
                            blob = BlobRef(present=True) if i in failed else blob_from_node(node)
                            out.append((meta_from_node(node), blob))
                    page = conn.get("pageInfo") or {}
                    has_next, cursor = bool(page.get("hasNextPage")), page.get("endCursor")
                except (KeyError, TypeError, AttributeError) as exc:
                    raise GraphQLUnavailable(f"unexpected answer shape: {exc!r}") from None
                first = False
                if not has_next:
                    return out, []
                if not cursor:
                    raise GraphQLUnavailable("hasNextPage without endCursor")
            if not first:
                return out, []
        raise NotFoundError(
            f"organization {sel.org} was not found, or is not visible to this token",
            hint=f"check --org, and that the token can read {sel.org}'s repositories",
            status=404)

    def _graphql_repos(self, explicit: Sequence[str], sel: RepoSelection
                       ) -> tuple[list[tuple[RepoMeta, BlobRef | None]], list[str]]:
        out: list[tuple[RepoMeta, BlobRef | None]] = []
        missing: list[str] = []
        for batch in _chunks(list(dict.fromkeys(explicit)), PAGE):
            body = self._graphql(repos_query(batch, sel.config_path, True), {})
            data = body["data"]
            for i, full in enumerate(batch):
                node = data.get(f"r{i}")
                if not node:
                    missing.append(full)
                    continue
                out.append(_node_pair(node))
        return out, missing

    def _fetch_texts(self, names: list[str], path: str) -> dict[str, BlobRef]:
        """Texts of changed blobs after an oid-only listing: alias batches, REST if not."""
        found: dict[str, BlobRef] = {}
        if not names:
            return found
        if not self.prefer_rest:
            try:
                for batch in _chunks(names, PAGE):
                    data = self._graphql(repos_query(batch, path, False), {})["data"]
                    for i, full in enumerate(batch):
                        node = data.get(f"r{i}")
                        if node:
                            found[full] = _node_pair(node)[1]
                return found
            except GraphQLUnavailable as exc:
                log.info("GraphQL blob fetch failed (%s); using REST contents", exc)
        for full in names:
            if full not in found:
                found[full] = self._rest_blob(full, path)
        return found

    # ------------------------------------------------------------ REST
    def _rest_owner(self, org: str) -> tuple[list[tuple[RepoMeta, BlobRef | None]], list[str]]:
        items = self._rest_list(f"/orgs/{quote(org)}/repos", {"per_page": PAGE, "type": "all"})
        if items is None:
            items = self._rest_list(f"/users/{quote(org)}/repos", {"per_page": PAGE,
                                                                  "type": "owner"})
        if items is None:
            raise NotFoundError(
                f"organization {org} was not found, or is not visible to this token",
                hint=f"check --org, and that the token can read {org}'s repositories",
                status=404)
        return [(meta_from_rest(item), None) for item in items], []

    def _rest_list(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]] | None:
        """All pages of a REST listing (following Link), or None on 404."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        query: dict[str, Any] | None = params
        while url is not None:
            resp = self.t.request(CallKind.DISCOVERY, "GET", url, params=query, safe=True)
            if resp.status == 404:
                return None
            _raise_listing(resp, path)
            page = resp.json()
            if not isinstance(page, list):
                raise ForgeError(f"unexpected answer from GitHub for {path}",
                                 hint=NOT_GITHUB_HINT)
            items.extend(p for p in page
                         if isinstance(p, dict) and isinstance(p.get("full_name"), str))
            url, query = next_link(resp.headers), None  # next links carry their own query
        return items

    def _rest_repos(self, explicit: Sequence[str]
                    ) -> tuple[list[tuple[RepoMeta, BlobRef | None]], list[str]]:
        out: list[tuple[RepoMeta, BlobRef | None]] = []
        missing: list[str] = []
        for full in dict.fromkeys(explicit):
            resp = self.t.request(CallKind.DISCOVERY, "GET", f"/repos/{full}", safe=True)
            if resp.status in (403, 404):  # 403: e.g. SSO not authorised for this org
                missing.append(full)
                continue
            _raise_listing(resp, full)
            out.append((_checked_rest_meta(resp.json(), full), None))
        return out, missing

    def _rest_blob(self, full: str, path: str) -> BlobRef:
        """GET contents, conditional on the ETag stored with the cache."""
        url = f"/repos/{full}/contents/{quote(path)}"
        key = f"{self.host}{url}"
        known = self.cache.etag(key)
        headers = {"Accept": "application/vnd.github.object+json"}
        if known is not None and (known[1] is None or self.cache.get(known[1]) is not None):
            headers["If-None-Match"] = known[0]
        resp = self.t.request(CallKind.DISCOVERY, "GET", url, headers=headers, safe=True)
        if resp.status == 304 and known is not None:
            oid = known[1]
            if oid is None:
                return BlobRef(present=False)
            return BlobRef(present=True, oid=oid, text=self.cache.get(oid))
        if resp.status == 404:
            etag = resp.headers.get("etag")
            if etag:
                self.cache.put_etag(key, etag, None)
            return BlobRef(present=False)
        if resp.status == 403:  # this repo only (rate limits were handled by the transport)
            return BlobRef(present=True, unreadable="GitHub refused to read it (HTTP 403: "
                           f"{resp.message or 'forbidden'})")
        _raise_listing(resp, url)
        blob = _blob_from_contents(resp.json())
        etag = resp.headers.get("etag")
        if etag and blob.oid and blob.text is not None:
            self.cache.put(blob.oid, blob.text)
            self.cache.put_etag(key, etag, blob.oid)
        return blob

    def fill_rest_blobs(self, metas: list[tuple[RepoMeta, BlobRef | None]], sel: RepoSelection
                        ) -> list[tuple[RepoMeta, BlobRef | None]]:
        return [(m, self._rest_blob(m.full_name, sel.config_path)
                 if b is None and skip_reason(m, sel) is None else b) for m, b in metas]


def _node_pair(node: Any) -> tuple[RepoMeta, BlobRef]:
    """Meta and blob of one aliased ``repository`` node; a node of another shape makes
    the GraphQL answer unusable (discovery then reads REST) rather than a traceback."""
    try:
        return meta_from_node(node), blob_from_node(node)
    except (KeyError, TypeError, AttributeError) as exc:
        raise GraphQLUnavailable(f"unexpected repository node: {exc!r}") from None


def _checked_rest_meta(data: Any, what: str) -> RepoMeta:
    """``meta_from_rest`` for an answer that must be a repository object."""
    if not isinstance(data, dict) or not isinstance(data.get("full_name"), str):
        raise ForgeError(f"unexpected answer from GitHub for {what}: not a repository",
                         hint=NOT_GITHUB_HINT)
    try:
        return meta_from_rest(data)
    except (TypeError, AttributeError) as exc:
        raise ForgeError(f"unexpected repository data from GitHub for {what}: {exc!r}",
                         hint=NOT_GITHUB_HINT) from None


def _blob_from_contents(data: Any) -> BlobRef:
    if isinstance(data, list) or not isinstance(data, dict):
        return BlobRef(present=True, unreadable="it is a directory")
    if data.get("type") not in (None, "file"):
        return BlobRef(present=True, unreadable=f"it is a {data.get('type')}")
    oid = data.get("sha")
    if data.get("encoding") != "base64" or not isinstance(data.get("content"), str):
        return BlobRef(present=True, oid=oid, unreadable="it is too large")
    try:
        text = base64.b64decode(data["content"]).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return BlobRef(present=True, oid=oid, unreadable="it is binary")
    return BlobRef(present=True, oid=oid, text=text)


def _errors(body: dict[str, Any]) -> list[Any]:
    errors = body.get("errors") or []
    return errors if isinstance(errors, list) else [errors]


def _failed_nodes(body: dict[str, Any], owner_field: str) -> set[int]:
    """Indexes of listing nodes an error points into (their blob must be asked again,
    since a null ``config`` there does not mean "no file")."""
    failed: set[int] = set()
    for err in _errors(body):
        path = err.get("path") if isinstance(err, dict) else None
        if (isinstance(path, list) and len(path) > 3 and path[:3] == [
                owner_field, "repositories", "nodes"] and isinstance(path[3], int)):
            failed.add(path[3])
    return failed


def _error_text(body: dict[str, Any]) -> str:
    errors = _errors(body)
    msgs = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
    return "; ".join(msgs[:3]) or "no data"


def _raise_listing(resp: Response, what: str) -> None:
    if resp.status < 300:
        return
    if resp.status == 401:
        raise AuthError("GitHub rejected the token (401 Bad credentials)",
                        hint="set GITHUB_TOKEN or GH_TOKEN to a valid, unexpired token",
                        status=401)
    if resp.status == 403:
        raise AuthError(f"the token may not read {what}: {resp.message or 'HTTP 403'}",
                        hint="use a token with read access to the organization's repositories",
                        status=403)
    detail = f": {resp.message}" if resp.message else ""  # an HTML page has none
    raise ForgeError(f"GitHub answered HTTP {resp.status} for {what}{detail}",
                     status=resp.status)

