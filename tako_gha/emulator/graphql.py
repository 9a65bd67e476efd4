"""``POST /graphql``: a small purpose-built GraphQL engine for the discovery queries.

It parses any query document (operations, variables with defaults, aliases, inline
fragments, named fragments, ``@include``/``@skip``) and resolves the part of
GitHub's schema discovery needs: ``organization(login).repositories(first, after,
isArchived, isFork, privacy)`` with ``pageInfo``/``nodes``/``edges``/``totalCount``,
``repository(owner, name)``, ``Repository.object(expression: "HEAD:path")`` →
``Blob { text oid byteSize isBinary isTruncated }``, topics, ``rateLimit`` and
``viewer``; and ``node(id)`` / ``nodes(ids)`` over the REST ``node_id`` of workflow
runs (``WorkflowRun { databaseId runNumber event createdAt updatedAt url checkSuite {
status conclusion } }``) and repositories, which is how tako reads the state of many
known runs in one query. Unknown fields and arguments are reported in ``errors`` (nothing is
executed), as GitHub's validation does. Costs follow GitHub's formula.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tako_gha.emulator import confine
from tako_gha.emulator.gqlparse import (
    Document,
    EnumValue,
    Field,
    GraphQLError,
    InlineFragment,
    Operation,
    Parser,
    Spread,
    Var,
    check_limits,
)
from tako_gha.emulator.httpkit import Request, Response, Router
from tako_gha.emulator.shapes import epoch_iso, iso, node_id
from tako_gha.emulator.state import RunRecord
from tako_gha.emulator.world import WorldRepo, stable_id

if TYPE_CHECKING:
    from tako_gha.emulator.server import ApiApp

MAX_PAGE = 100
MAX_NODE_IDS = 100  # GitHub refuses a nodes(ids:) with more
TEXT_LIMIT = 512 * 1024  # larger blobs come back with isTruncated and no full text
# Blob.text bytes one answer may carry: aliases can name the same large file thousands
# of times, and the answer is built in memory.
MAX_ANSWER_TEXT = 32 * 1024 * 1024


def register(router: Router) -> None:
    router.add("POST", "/graphql", "graphql", execute, resource="graphql")
    router.add("POST", "/api/graphql", "graphql", execute, resource="graphql")


# -- the schema subset ----------------------------------------------------------------
Resolver = Callable[["Executor", Any, dict[str, Any]], tuple[Any, str | None]]


@dataclass
class Blob:
    oid: str
    data: bytes


@dataclass
class Tree:
    oid: str
    entries: list[Any]
    repo: WorldRepo


@dataclass
class Connection:
    items: list[Any]
    total: int
    has_next: bool
    has_prev: bool
    cursor_of: Callable[[Any], str]


def _cursor(name: str) -> str:
    return base64.b64encode(f"cursor:v2:{name.lower()}".encode()).decode()


def _uncursor(cursor: Any) -> str:
    if not isinstance(cursor, str):
        raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.")
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.") from None
    if not text.startswith("cursor:v2:"):
        raise GraphQLError(f"`{cursor}` does not appear to be a valid cursor.")
    return text[len("cursor:v2:") :]


class Executor:
    def __init__(self, app: ApiApp, req: Request, doc: Document,
                 variables: dict[str, Any], cost: int, remaining: int, reset_at: int,
                 limit: int, used: int) -> None:
        self.app = app
        self.req = req
        self.doc = doc
        self.vars = variables
        self.errors: list[dict[str, Any]] = []
        self.blobs = 0  # Blob.text fields answered: file content that crossed the wire
        self.text_bytes = 0  # their size, bounded by MAX_ANSWER_TEXT
        self.cost = cost
        self.remaining, self.reset_at, self.limit, self.used = remaining, reset_at, limit, used

    # -- generic machinery ------------------------------------------------------------
    def run(self, op: Operation) -> dict[str, Any]:
        return self.object("Query", None, op.selections, [])

    def object(self, type_name: str, source: Any, selections: list[Any],
               path: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sel in self.collect(type_name, selections):
            key = sel.key
            if sel.name == "__typename":
                out[key] = type_name
                continue
            resolver = SCHEMA[type_name][sel.name]
            try:
                value, child_type = resolver(self, source, self.args(sel))
            except GraphQLError as exc:
                err = exc.as_dict()
                err.setdefault("locations", [{"line": sel.line, "column": sel.column}])
                err["path"] = [*path, key]
                self.errors.append(err)
                out[key] = None
                continue
            out[key] = self.complete(child_type, value, sel, [*path, key])
        return out

    def complete(self, type_name: str | None, value: Any, sel: Field, path: list[Any]) -> Any:
        if value is None or type_name is None:
            return value
        if type_name.startswith("["):
            inner = type_name[1:-1]
            return [self.complete(inner, item, sel, [*path, i]) for i, item in enumerate(value)]
        if type_name == "GitObject":
            type_name = "Blob" if isinstance(value, Blob) else "Tree"
        elif type_name == "RepositoryOwner":
            type_name = "Organization"  # world owners are organizations
        elif type_name == "Node":
            type_name = "WorkflowRun" if isinstance(value, RunRecord) else "Repository"
        return self.object(type_name, value, sel.selections, path)

    def collect(self, type_name: str, selections: list[Any]) -> list[Field]:
        out: list[Field] = []
        for sel in selections:
            if not self.included(getattr(sel, "directives", [])):
                continue
            if isinstance(sel, Field):
                out.append(sel)
            elif isinstance(sel, InlineFragment):
                if sel.type_condition in (None, type_name) or _implements(type_name,
                                                                          sel.type_condition):
                    out.extend(self.collect(type_name, sel.selections))
            else:
                cond, subs = self.doc.fragments[sel.name]
                if cond == type_name or _implements(type_name, cond):
                    out.extend(self.collect(type_name, subs))
        return out

    def included(self, directives: list[tuple[str, dict[str, Any]]]) -> bool:
        for name, args in directives:
            flag = bool(self.resolve_value(args.get("if")))
            if (name == "include" and not flag) or (name == "skip" and flag):
                return False
        return True

    def args(self, sel: Field) -> dict[str, Any]:
        return {k: self.resolve_value(v) for k, v in sel.args.items()}

    def resolve_value(self, value: Any) -> Any:
        if isinstance(value, Var):
            return self.vars.get(value.name)
        if isinstance(value, EnumValue):
            return value.name
        if isinstance(value, list):
            return [self.resolve_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve_value(v) for k, v in value.items()}
        return value

    # -- helpers for resolvers --------------------------------------------------------
    def visible(self, repo: WorldRepo | None) -> bool:
        return repo is not None and self.app.can_see(self.req, repo)


def _implements(type_name: str, interface: str | None) -> bool:
    return interface in INTERFACES.get(type_name, ())


def _page(items: list[Any], args: dict[str, Any], what: str,
          key: Callable[[Any], str]) -> Connection:
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError(
            f"You must provide a `first` or `last` value to properly paginate the `{what}` "
            "connection.", type="MISSING_PAGINATION_BOUNDARIES"
        )
    for label, value in (("first", first), ("last", last)):
        if value is not None and (not isinstance(value, int) or value < 0 or value > MAX_PAGE):
            raise GraphQLError(
                f"Requesting {value} records on the `{what}` connection exceeds the `{label}` "
                f"limit of {MAX_PAGE} records.", type="EXCESSIVE_PAGINATION"
            )
    after, before = args.get("after"), args.get("before")
    if after or before:
        keys = [key(i).lower() for i in items]  # items come sorted by key
        if after:
            cut = bisect.bisect_right(keys, _uncursor(after))
            items, keys = items[cut:], keys[cut:]
        if before:
            items = items[: bisect.bisect_left(keys, _uncursor(before))]
    total = len(items)
    if first is not None:
        chunk = items[:first]
        has_next, has_prev = total > first, bool(after)
    else:
        chunk = items[max(0, total - last):]
        has_next, has_prev = bool(before), total > last
    return Connection(chunk, total, has_next, has_prev, lambda i: _cursor(key(i)))


def _query_organization(ex: Executor, _src: Any, args: dict[str, Any]) -> tuple[Any, str | None]:
    login = str(args.get("login") or "")
    repo = next((r for r in ex.app.world.repos_of(login) if ex.visible(r)), None)
    if repo is None:
        raise GraphQLError(f"Could not resolve to an Organization with the login of '{login}'.",
                           type="NOT_FOUND")
    return repo.owner, "Organization"


def _query_user(ex: Executor, _src: Any, args: dict[str, Any]) -> tuple[Any, str | None]:
    """Every owner of the world is an organization, so no login resolves to a user."""
    raise GraphQLError(f"Could not resolve to a User with the login of '{args.get('login')}'.",
                       type="NOT_FOUND")


def _query_repository_owner(ex: Executor, src: Any, args: dict[str, Any]
                            ) -> tuple[Any, str | None]:
    try:
        return _query_organization(ex, src, args)
    except GraphQLError:
        return None, None  # repositoryOwner is simply null for an unknown login


def _query_repository(ex: Executor, _src: Any, args: dict[str, Any]) -> tuple[Any, str | None]:
    full = f"{args.get('owner')}/{args.get('name')}"
    repo = ex.app.world.repo(full)
    if not ex.visible(repo):
        raise GraphQLError(f"Could not resolve to a Repository with the name '{full}'.",
                           type="NOT_FOUND")
    return repo, "Repository"


def _org_repositories(ex: Executor, login: str, args: dict[str, Any]) -> tuple[Any, str | None]:
    repos = ex.app.world.repos_of(login)
    if not ex.app.sees_all(ex.req):
        repos = [r for r in repos if ex.visible(r)]
    if args.get("isArchived") is not None:
        repos = [r for r in repos if r.meta.archived == bool(args["isArchived"])]
    if args.get("isFork") is not None:
        repos = [r for r in repos if r.meta.fork == bool(args["isFork"])]
    privacy = args.get("privacy") or args.get("visibility")
    if privacy:
        want_private = str(privacy).upper() != "PUBLIC"
        repos = [r for r in repos if r.meta.private == want_private]
    # repos_of is sorted by name already: cursors are names, pages are slices
    return _page(repos, args, "repositories", lambda r: r.name), "RepositoryConnection"


def _repo_object(ex: Executor, repo: WorldRepo, args: dict[str, Any]) -> tuple[Any, str | None]:
    expression = str(args.get("expression") or "")
    rev, sep, path = expression.partition(":")
    if not sep or not confine.valid_repo_path(path):
        return None, None  # only rev:path expressions name a blob or tree
    sha = repo.head_sha() if rev in ("HEAD", "") else repo.resolve_ref(rev)
    if not sha:
        return None, None
    entry = repo.entry(path, sha)
    if entry is None:
        return None, None
    if entry.kind == "dir":
        return Tree(entry.sha, repo.list_dir(entry.sha, entry.path), repo), "GitObject"
    if entry.kind not in ("file", "symlink"):
        return None, None
    return Blob(entry.sha, repo.blob(entry.sha)), "GitObject"


def _blob_text(blob: Blob) -> str | None:
    if b"\0" in blob.data[:8000]:
        return None
    try:
        text = blob.data[:TEXT_LIMIT].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text


def _counted_text(ex: Executor, blob: Blob, _args: dict[str, Any]) -> tuple[Any, None]:
    text = _blob_text(blob)
    if text is not None:
        size = min(len(blob.data), TEXT_LIMIT)
        if ex.text_bytes + size > MAX_ANSWER_TEXT:
            raise GraphQLError(f"This answer would carry more than {MAX_ANSWER_TEXT:,} bytes "
                               "of Blob text; ask for fewer blobs per query",
                               type="RESPONSE_TOO_LARGE")
        ex.text_bytes += size
        ex.blobs += 1
    return text, None


def _is_binary(blob: Blob) -> bool:
    return _blob_text(blob) is None and len(blob.data) > 0


def _scalar(fn: Callable[[Any], Any]) -> Resolver:
    return lambda ex, src, args: (fn(src), None)


def _head_ref(repo: WorldRepo) -> dict[str, Any] | None:
    sha = repo.head_sha()
    return {"name": repo.default_branch, "sha": sha} if sha else None


def _topics(repo: WorldRepo, args: dict[str, Any]) -> Connection:
    return _page([{"name": t} for t in repo.meta.topics], args, "repositoryTopics",
                 lambda t: t["name"])


def _pushed_at(repo: WorldRepo) -> str | None:
    head = repo.head_commit()
    return epoch_iso(head.timestamp) if head else None


def _decode_node_id(text: str) -> tuple[str, int] | None:
    """``("WFR", 1234)`` from a global id the emulator handed out, else None."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, sep, number = raw.partition(":")
    # ASCII digits of a sane length: str.isdigit takes "²", int() refuses 5,000 digits
    return (prefix, int(number)) if sep and confine.valid_id(number) else None


def _resolve_node(ex: Executor, ident: Any) -> Any:
    """The object behind one global id, or None when it names nothing this token
    may see (a run of a repo it cannot read is as unknown as a made-up id)."""
    found = _decode_node_id(ident) if isinstance(ident, str) else None
    if found is None:
        return None
    prefix, number = found
    if prefix == "WFR":
        run = ex.app.store.get(number)
        if run is None or not ex.app.run_visible(run):
            return None
        repo = ex.app.world.repo(run.repo)
        return run if ex.visible(repo) else None
    if prefix == "R":
        repo = ex.app.world.repo_by_id(number)  # an index: never a scan per id
        return repo if ex.visible(repo) else None
    return None


def _not_resolved(ident: Any) -> GraphQLError:
    return GraphQLError(f"Could not resolve to a node with the global id of '{ident}'",
                        type="NOT_FOUND")


def _query_node(ex: Executor, _src: Any, args: dict[str, Any]) -> tuple[Any, str | None]:
    found = _resolve_node(ex, args.get("id"))
    if found is None:
        raise _not_resolved(args.get("id"))
    return found, "Node"


def _query_nodes(ex: Executor, _src: Any, args: dict[str, Any]) -> tuple[Any, str | None]:
    """One entry per id, in order; an id that resolves to nothing is null with a
    NOT_FOUND error naming its index (the rest of the answer stands)."""
    ids = args.get("ids")
    if not isinstance(ids, list):
        ids = [ids]
    if len(ids) > MAX_NODE_IDS:
        raise GraphQLError(f"You may not provide more than {MAX_NODE_IDS} node ids; "
                           f"you provided {len(ids)}.", type="EXCESSIVE_PAGINATION")
    out: list[Any] = []
    for index, ident in enumerate(ids):
        found = _resolve_node(ex, ident)
        if found is None:
            err = _not_resolved(ident).as_dict()
            err["path"] = ["nodes", index]
            ex.errors.append(err)
        out.append(found)
    return out, "[Node]"


def _query_resource(ex: Executor, _src: Any, args: dict[str, Any]) -> tuple[Any, str | None]:
    """``resource(url:)``: the workflow run a run's web URL (or its path) names, or null
    when it names nothing this token may see (GitHub answers null, not an error). A run
    known only by the URL a workflow dispatch answered is read this way."""
    url = args.get("url")
    path = urlsplit(url).path if isinstance(url, str) else ""
    parts = path.strip("/").split("/")
    if len(parts) != 5 or parts[2:4] != ["actions", "runs"] or not confine.valid_id(parts[4]):
        return None, "UniformResourceLocatable"
    run = ex.app.store.get(int(parts[4]))
    if run is None or run.repo.lower() != f"{parts[0]}/{parts[1]}".lower() \
            or not ex.app.run_visible(run) or not ex.visible(ex.app.world.repo(run.repo)):
        return None, "UniformResourceLocatable"
    return run, "WorkflowRun"


CHECK_STATUSES = {"queued": "QUEUED", "in_progress": "IN_PROGRESS", "completed": "COMPLETED",
                  "waiting": "WAITING", "pending": "PENDING", "requested": "REQUESTED"}


def _suite(run: RunRecord) -> dict[str, Any]:
    """A run's check suite as GraphQL shows it: the run's status and conclusion,
    upper-case (the REST ``check_suite_id`` names the same suite)."""
    suite_id = stable_id(f"suite:{run.id}:{run.run_attempt}")
    return {"id": node_id("CS", suite_id), "databaseId": suite_id,
            "status": CHECK_STATUSES.get(run.status, run.status.upper()),
            "conclusion": run.conclusion.upper() if run.conclusion else None,
            "createdAt": iso(run.created_at), "updatedAt": iso(run.updated_at)}


SCHEMA: dict[str, dict[str, Resolver]] = {
    "Query": {
        "organization": _query_organization,
        "repository": _query_repository,
        "rateLimit": lambda ex, src, args: (ex, "RateLimit"),
        "viewer": lambda ex, src, args: (ex.req.login, "User"),
        "user": _query_user,
        "repositoryOwner": _query_repository_owner,
        "node": _query_node,
        "nodes": _query_nodes,
        "resource": _query_resource,
    },
    "WorkflowRun": {
        "id": _scalar(lambda r: node_id("WFR", r.id)),
        "databaseId": _scalar(lambda r: r.id),
        "runNumber": _scalar(lambda r: r.run_number),
        "event": _scalar(lambda r: r.event),
        "createdAt": _scalar(lambda r: iso(r.created_at)),
        "updatedAt": _scalar(lambda r: iso(r.updated_at)),
        "url": lambda ex, r, args: (f"{ex.app.base_url}/{r.repo}/actions/runs/{r.id}", None),
        "resourcePath": _scalar(lambda r: f"/{r.repo}/actions/runs/{r.id}"),
        "checkSuite": lambda ex, r, args: (_suite(r), "CheckSuite"),
    },
    "CheckSuite": {
        "id": _scalar(lambda s: s["id"]),
        "databaseId": _scalar(lambda s: s["databaseId"]),
        "status": _scalar(lambda s: s["status"]),
        "conclusion": _scalar(lambda s: s["conclusion"]),
        "createdAt": _scalar(lambda s: s["createdAt"]),
        "updatedAt": _scalar(lambda s: s["updatedAt"]),
    },
    "Organization": {
        "login": _scalar(lambda login: login),
        "name": _scalar(lambda login: login),
        "repositories": lambda ex, login, args: _org_repositories(ex, login, args),
    },
    "User": {
        "login": _scalar(lambda login: login),
        # world owners are organizations: a user never owns repos here
        "repositories": lambda ex, login, args: (
            _page([], args, "repositories", lambda r: r.name), "RepositoryConnection"),
    },
    "RepositoryOwner": {"login": _scalar(lambda login: login)},
    "RepositoryConnection": {
        "totalCount": _scalar(lambda c: c.total),
        "pageInfo": lambda ex, c, args: (c, "PageInfo"),
        "nodes": lambda ex, c, args: (c.items, "[Repository]"),
        "edges": lambda ex, c, args: ([(c, i) for i in c.items], "[Edge:Repository]"),
    },
    "TopicConnection": {
        "totalCount": _scalar(lambda c: c.total),
        "pageInfo": lambda ex, c, args: (c, "PageInfo"),
        "nodes": lambda ex, c, args: (c.items, "[RepositoryTopic]"),
    },
    "PageInfo": {
        "hasNextPage": _scalar(lambda c: c.has_next),
        "hasPreviousPage": _scalar(lambda c: c.has_prev),
        "endCursor": _scalar(lambda c: c.cursor_of(c.items[-1]) if c.items else None),
        "startCursor": _scalar(lambda c: c.cursor_of(c.items[0]) if c.items else None),
    },
    "Repository": {
        "id": _scalar(lambda r: node_id("R", r.id)),  # the REST node_id
        "databaseId": _scalar(lambda r: r.id),
        "name": _scalar(lambda r: r.name),
        "nameWithOwner": _scalar(lambda r: r.full_name),
        "owner": lambda ex, r, args: (r.owner, "RepositoryOwner"),
        "description": _scalar(lambda r: r.meta.description),
        "url": lambda ex, r, args: (f"{ex.app.base_url}/{r.full_name}", None),
        "isArchived": _scalar(lambda r: r.meta.archived),
        "isFork": _scalar(lambda r: r.meta.fork),
        "isDisabled": _scalar(lambda r: r.meta.disabled),
        "isPrivate": _scalar(lambda r: r.meta.private),
        "isEmpty": _scalar(lambda r: not r.head_sha()),
        "isLocked": _scalar(lambda r: False),
        "isTemplate": _scalar(lambda r: False),
        "visibility": _scalar(lambda r: "PRIVATE" if r.meta.private else "PUBLIC"),
        "pushedAt": _scalar(_pushed_at),
        "updatedAt": _scalar(_pushed_at),
        "defaultBranchRef": lambda ex, r, args: (_head_ref(r), "Ref"),
        "repositoryTopics": lambda ex, r, args: (_topics(r, args), "TopicConnection"),
        "object": _repo_object,
        # the caller's role; a token that may not dispatch reads (forge preflight uses it)
        "viewerPermission": lambda ex, r, args: (
            "WRITE" if ex.app.can_dispatch(ex.req, r) else "READ", None),
    },
    "Ref": {
        "name": _scalar(lambda ref: ref["name"]),
        "target": lambda ex, ref, args: ({"oid": ref["sha"]}, "Commit"),
    },
    "Commit": {"oid": _scalar(lambda c: c["oid"] if isinstance(c, dict) else c.oid)},
    "RepositoryTopic": {"topic": lambda ex, t, args: (t, "Topic")},
    "Topic": {"name": _scalar(lambda t: t["name"])},
    "Blob": {
        "oid": _scalar(lambda b: b.oid),
        "abbreviatedOid": _scalar(lambda b: b.oid[:7]),
        "text": _counted_text,
        "byteSize": _scalar(lambda b: len(b.data)),
        "isBinary": _scalar(_is_binary),
        "isTruncated": _scalar(lambda b: len(b.data) > TEXT_LIMIT),
    },
    "Tree": {
        "oid": _scalar(lambda t: t.oid),
        "entries": lambda ex, t, args: (t.entries, "[TreeEntry]"),
    },
    "TreeEntry": {
        "name": _scalar(lambda e: e.name),
        "path": _scalar(lambda e: e.path),
        "oid": _scalar(lambda e: e.sha),
        "type": _scalar(lambda e: {"dir": "tree", "submodule": "commit"}.get(e.kind, "blob")),
    },
    "RateLimit": {
        "cost": _scalar(lambda ex: ex.cost),
        "limit": _scalar(lambda ex: ex.limit),
        "remaining": _scalar(lambda ex: max(0, ex.remaining - ex.cost)),
        "used": _scalar(lambda ex: ex.used + ex.cost),
        "resetAt": _scalar(lambda ex: epoch_iso(ex.reset_at)),
        "nodeCount": _scalar(lambda ex: ex.cost * 100),
    },
}
INTERFACES = {"Blob": ("GitObject",), "Tree": ("GitObject",), "Commit": ("GitObject",),
              "Organization": ("RepositoryOwner",), "User": ("RepositoryOwner",),
              "WorkflowRun": ("Node", "UniformResourceLocatable"), "Repository": ("Node",),
              "CheckSuite": ("Node",)}
# Edges: (connection, item) pairs.
SCHEMA["Edge:Repository"] = {
    "cursor": lambda ex, pair, args: (pair[0].cursor_of(pair[1]), None),
    "node": lambda ex, pair, args: (pair[1], "Repository"),
}
_CONNECTION_ARGS = {"first", "last", "after", "before"}
ARGS: dict[tuple[str, str], set[str]] = {
    ("Query", "organization"): {"login"},
    ("Query", "repository"): {"owner", "name", "followRenames"},
    ("Query", "rateLimit"): {"dryRun"},
    ("Query", "user"): {"login"},
    ("Query", "repositoryOwner"): {"login"},
    ("User", "repositories"): _CONNECTION_ARGS | {
        "isArchived", "isFork", "privacy", "visibility", "orderBy", "affiliations",
        "ownerAffiliations", "isLocked", "hasIssuesEnabled",
    },
    ("Organization", "repositories"): _CONNECTION_ARGS | {
        "isArchived", "isFork", "privacy", "visibility", "orderBy", "affiliations",
        "ownerAffiliations", "isLocked", "hasIssuesEnabled",
    },
    ("Repository", "repositoryTopics"): _CONNECTION_ARGS,
    ("Repository", "object"): {"expression", "oid"},
    ("Query", "node"): {"id"},
    ("Query", "nodes"): {"ids"},
    ("Query", "resource"): {"url"},
}
# Types a field yields, for validation before execution (what resolvers return).
FIELD_TYPES: dict[tuple[str, str], str] = {
    ("Query", "organization"): "Organization", ("Query", "repository"): "Repository",
    ("Query", "rateLimit"): "RateLimit", ("Query", "viewer"): "User",
    ("Query", "user"): "User", ("Query", "repositoryOwner"): "Organization",
    ("User", "repositories"): "RepositoryConnection",
    ("Organization", "repositories"): "RepositoryConnection",
    ("RepositoryConnection", "pageInfo"): "PageInfo",
    ("RepositoryConnection", "nodes"): "Repository",
    ("RepositoryConnection", "edges"): "Edge:Repository",
    ("Edge:Repository", "node"): "Repository",
    ("TopicConnection", "pageInfo"): "PageInfo",
    ("TopicConnection", "nodes"): "RepositoryTopic",
    ("Repository", "owner"): "RepositoryOwner",
    ("Repository", "defaultBranchRef"): "Ref", ("Ref", "target"): "Commit",
    ("Repository", "repositoryTopics"): "TopicConnection",
    ("Repository", "object"): "GitObject", ("RepositoryTopic", "topic"): "Topic",
    ("Tree", "entries"): "TreeEntry",
    ("Query", "node"): "Node", ("Query", "nodes"): "Node",
    ("Query", "resource"): "UniformResourceLocatable",
    ("WorkflowRun", "checkSuite"): "CheckSuite",
}
ABSTRACT = {"GitObject": ("Blob", "Tree", "Commit"), "RepositoryOwner": ("Organization", "User"),
            "Node": ("WorkflowRun", "Repository", "CheckSuite"),
            "UniformResourceLocatable": ("WorkflowRun",)}
INTERFACE_FIELDS = {"GitObject": {"oid"}, "RepositoryOwner": {"login"}, "Node": {"id"},
                    "UniformResourceLocatable": {"url", "resourcePath"}}
PUBLIC_NAMES = {"Edge:Repository": "RepositoryEdge"}


# -- validation and cost ----------------------------------------------------------------
def validate(doc: Document, op: Operation) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    _check(doc, "Query", op.selections, errors, set())
    return errors


def _check(doc: Document, type_name: str, selections: list[Any],
           errors: list[dict[str, Any]], seen: set[str]) -> None:
    for sel in selections:
        if isinstance(sel, InlineFragment):
            target = sel.type_condition or type_name
            if target not in SCHEMA and target not in ABSTRACT:
                errors.append({"message": f"No such type {target}, so it can't be a fragment "
                               "condition", "extensions": {"code": "undefinedType"}})
                continue
            for concrete in ABSTRACT.get(target, (target,)):
                _check(doc, concrete, sel.selections, errors, seen)
        elif isinstance(sel, Spread):
            if sel.name not in doc.fragments:
                errors.append({"message": f"Fragment {sel.name} was used, but not defined",
                               "locations": [{"line": sel.line, "column": sel.column}]})
            elif sel.name not in seen:
                cond, subs = doc.fragments[sel.name]
                if cond not in SCHEMA and cond not in ABSTRACT:
                    errors.append({"message": f"No such type {cond}, so it can't be a "
                                   "fragment condition", "extensions": {"code": "undefinedType"}})
                    continue
                for concrete in ABSTRACT.get(cond, (cond,)):
                    _check(doc, concrete, subs, errors, seen | {sel.name})
        else:
            _check_field(doc, type_name, sel, errors, seen)


def _check_field(doc: Document, type_name: str, sel: Field,
                 errors: list[dict[str, Any]], seen: set[str]) -> None:
    where = [{"line": sel.line, "column": sel.column}]
    if sel.name == "__typename":
        return
    if type_name in ABSTRACT:
        if sel.name not in INTERFACE_FIELDS.get(type_name, set()):
            errors.append(_undefined(type_name, sel.name, where))
            return
        type_name = ABSTRACT[type_name][0]
    if sel.name not in SCHEMA.get(type_name, {}):
        errors.append(_undefined(type_name, sel.name, where))
        return
    allowed = ARGS.get((type_name, sel.name), set())
    for arg in sel.args:
        if arg not in allowed:
            errors.append({"message": f"Field '{sel.name}' doesn't accept argument '{arg}'",
                           "locations": where, "extensions": {"code": "argumentNotAccepted",
                           "name": sel.name, "typeName": "Field", "argumentName": arg}})
    child = FIELD_TYPES.get((type_name, sel.name))
    if child is None and sel.selections:
        errors.append({"message": f"Selections can't be made on scalars (field '{sel.name}')",
                       "locations": where})
    elif child is not None and not sel.selections:
        errors.append({"message": f"Field must have selections (field '{sel.name}' returns "
                       f"{PUBLIC_NAMES.get(child, child)} but has no selections.)",
                       "locations": where})
    elif child is not None:
        _check(doc, child, sel.selections, errors, seen)


def _undefined(type_name: str, field_name: str, where: list[dict[str, int]]) -> dict[str, Any]:
    shown = PUBLIC_NAMES.get(type_name, type_name)
    return {"message": f"Field '{field_name}' doesn't exist on type '{shown}'",
            "locations": where, "extensions": {"code": "undefinedField", "typeName": shown,
                                               "fieldName": field_name}}


def query_cost(ex_vars: dict[str, Any], doc: Document, op: Operation) -> int:
    """GitHub's formula: requests needed to fulfil each connection (parents' page sizes
    multiplied), summed, divided by 100, rounded; at least 1."""
    resolver = Executor.__new__(Executor)
    resolver.vars = ex_vars
    total = _cost(resolver, doc, op.selections, 1, set())
    return max(1, round(total / 100))


def _cost(ex: Executor, doc: Document, selections: list[Any], multiplier: int,
          seen: set[str]) -> int:
    total = 0
    for sel in selections:
        if isinstance(sel, InlineFragment):
            total += _cost(ex, doc, sel.selections, multiplier, seen)
        elif isinstance(sel, Spread):
            if sel.name in doc.fragments and sel.name not in seen:
                total += _cost(ex, doc, doc.fragments[sel.name][1], multiplier, seen | {sel.name})
        else:
            size = ex.resolve_value(sel.args.get("first", sel.args.get("last")))
            if isinstance(size, int) and ("first" in sel.args or "last" in sel.args):
                total += multiplier
                total += _cost(ex, doc, sel.selections, multiplier * max(1, size), seen)
            else:
                total += _cost(ex, doc, sel.selections, multiplier, seen)
    return total


# -- the endpoint ---------------------------------------------------------------------
def execute(app: ApiApp, req: Request) -> Response:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return Response(200, {"errors": [{
            "message": "A query attribute must be specified and must be a string."}]})
    variables = body.get("variables")
    variables = {} if variables is None else variables  # [] or "" is not "no variables"
    if not isinstance(variables, dict):
        return Response(200, {"errors": [{"message": "Variables are invalid JSON."}]})
    try:
        doc = Parser(body["query"]).document()
        op = _pick_operation(doc, body.get("operationName"))
        variables = _coerce_variables(op, variables)
    except GraphQLError as exc:
        return Response(200, {"errors": [exc.as_dict()]})
    if op.kind != "query":
        return Response(200, {"errors": [{
            "message": f"The emulator does not support {op.kind} operations.",
            "extensions": {"code": "unsupportedOperation"}}]})
    # limits first: they bound the work of validation and execution
    errors = check_limits(doc, op, variables) or validate(doc, op)
    if errors:
        return Response(200, {"errors": errors})
    cost = query_cost(variables, doc, op)
    snapshot = app.rate_snapshot(req, "graphql")
    ex = Executor(app, req, doc, variables, cost, snapshot["remaining"], snapshot["reset"],
                  snapshot["limit"], snapshot["used"])
    if app.limiter.limits.enabled and snapshot["remaining"] < cost:
        message = f"API rate limit exceeded: this query costs {cost} points, " \
                  f"{snapshot['remaining']} remain"
        return Response(200, {"errors": [{"type": "RATE_LIMITED", "message": message}]},
                        {"x-tako-uncharged": "1"})
    data = ex.run(op)
    out: dict[str, Any] = {"data": data}
    if ex.errors:
        out["errors"] = ex.errors
    resp = Response(200, out, blobs=ex.blobs)
    resp.cost = cost
    return resp


def _pick_operation(doc: Document, name: Any) -> Operation:
    if name:
        for op in doc.operations:
            if op.name == name:
                return op
        raise GraphQLError(f'No operation named "{name}"')
    if len(doc.operations) > 1:
        raise GraphQLError("An operation name is required when the document has several")
    return doc.operations[0]


def _coerce_variables(op: Operation, given: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (type_text, default, has_default) in op.variables.items():
        if name in given:
            value = given[name]
        elif has_default:
            value = default.name if isinstance(default, EnumValue) else default
        else:
            value = None
        if value is None and type_text.endswith("!"):
            raise GraphQLError(
                f"Variable ${name} of type {type_text} was provided invalid value",
                extensions={"value": None, "problems": [
                    {"path": [], "explanation": "Expected value to not be null"}]},
            )
        base = type_text.rstrip("!")
        if value is not None and base == "Int" and (not isinstance(value, int)
                                                   or isinstance(value, bool)):
            raise GraphQLError(f"Variable ${name} of type {type_text} was provided invalid value")
        if value is not None and base == "String" and not isinstance(value, str):
            raise GraphQLError(f"Variable ${name} of type {type_text} was provided invalid value")
        if value is not None and base == "Boolean" and not isinstance(value, bool):
            raise GraphQLError(f"Variable ${name} of type {type_text} was provided invalid value")
        out[name] = value
    return out


