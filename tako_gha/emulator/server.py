"""The HTTP server and the request pipeline every API call goes through:

route → auth (401) → concurrency cap → points per minute (secondary, 403) →
injected latency / storms / errors → primary budget (403) → handler → ETag / 304 →
points and primary charge, rate-limit headers → request log.

Stdlib ``ThreadingHTTPServer`` on 127.0.0.1; every request is wrapped so a bad
request or a handler bug answers 500 with a GitHub-style body and the server lives on.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import math
import re
import secrets as _secrets
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tako_gha.core.links import doc_url
from tako_gha.emulator import (
    artifacts,
    confine,
    gitstore,
    graphql,
    harness,
    logroutes,
    pages,
    rest,
)
from tako_gha.emulator.admin import RequestLog
from tako_gha.emulator.faults import FaultError, Faults
from tako_gha.emulator.httpkit import ApiError, Request, Response, Route, Router
from tako_gha.emulator.ratelimit import PRIMARY_MESSAGE, RATE_DOCS, SECONDARY_MESSAGE, RateLimiter
from tako_gha.emulator.settings import TokenPolicy, WorldSettings
from tako_gha.emulator.shapes import Renderer, error_body
from tako_gha.emulator.state import RunRecord, RunStore, utcnow
from tako_gha.emulator.world import World, WorldRepo

log = logging.getLogger("tako_gha.emulator")

MAX_BODY = confine.MAX_BODY_BYTES  # larger bodies: 413, never held in memory
_DIGITS = re.compile(r"[0-9]{1,30}")
DRAIN_LIMIT = 16 * MAX_BODY  # a refused body up to this size is read and dropped
ADMIN_PREFIX = "/_emulator/"
FREE_KINDS = {"rate_limit"}
WRITE_KINDS = {"dispatch", "cancel", "rerun"}  # GET /rate_limit does not count against the budget


class ApiApp:
    """Everything a handler needs: world, runs, runner, limits, faults, rendering."""

    def __init__(self, world: World, store: RunStore, settings: WorldSettings) -> None:
        self.world = world
        self.store = store
        self.settings = settings
        self.runner: Any = None  # set by the Emulator once the port is known
        self.base_url = ""
        self.limiter = RateLimiter(settings.limits)
        self.faults = Faults(settings.faults)
        self.log = RequestLog()
        self.render = Renderer("")
        self.run_tokens: dict[str, str] = {}  # token -> repo full name
        self._run_token_count = 0
        self._lock = threading.Lock()
        self.router = Router()
        rest.register(self.router)
        logroutes.register(self.router)
        graphql.register(self.router)

    def set_base_url(self, base_url: str) -> None:
        self.base_url = base_url
        self.render = Renderer(base_url, self.faults.clock_skew)

    def set_faults(self, spec: dict[str, Any] | None) -> None:
        """Replace the active faults (raises FaultError on a malformed spec)."""
        self.faults = Faults(spec or {})
        self.render = Renderer(self.base_url, self.faults.clock_skew)

    # -- tokens and access ------------------------------------------------------------
    def issue_run_token(self, repo: str) -> str:
        token = "ghs_" + _secrets.token_hex(18)
        with self._lock:
            self.run_tokens[token] = repo
            self._run_token_count += 1
        return token

    def sees_all(self, req: Request) -> bool:
        """The token sees every repo (skip per-repo checks on big listings)."""
        return not req.is_run_token and req.policy is not None and req.policy.sees_everything

    def can_see(self, req: Request, repo: WorldRepo) -> bool:
        if req.is_run_token:
            # A run's GITHUB_TOKEN reads its own repo and public ones, like on GitHub.
            return repo.full_name.lower() == (req.run_repo or "").lower() or not repo.meta.private
        return req.policy is not None and req.policy.sees(repo.full_name)

    def can_dispatch(self, req: Request, repo: WorldRepo) -> bool:
        if req.is_run_token:
            return repo.full_name.lower() == (req.run_repo or "").lower()
        policy = req.policy
        return (policy is not None and policy.dispatch and policy.sees(repo.full_name)
                and policy.scope_allows_write(repo.meta.private))

    def run_visible(self, run: RunRecord) -> bool:
        return run.visible_at is None or run.visible_at <= utcnow()

    def render_run(self, run: RunRecord, repo_json: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        """A run's JSON; ``repo_json`` reuses one repository rendering across a listing."""
        with self.store.lock:
            return self.render.run(run, self.world.repo(run.repo), repo_json)

    def dispatch(self, repo: str, event_type: str, payload: dict, login: str) -> list[RunRecord]:
        if self.runner is None:
            return []
        sender = self.render.actor(login)
        return list(self.runner.dispatch(repo, event_type, payload, sender) or [])

    def budget_limit(self, req: Request, resource: str) -> int:
        limits = self.settings.limits
        if req.is_run_token:
            base = limits.run_token_core
        elif resource == "graphql":
            base = (req.policy.graphql_limit if req.policy else None) or limits.graphql
        elif resource == "search":
            base = limits.search
        else:
            base = (req.policy.core_limit if req.policy else None) or limits.core
        return self.faults.budgets.get(resource, base)

    def rate_snapshot(self, req: Request, resource: str) -> dict[str, int]:
        if req.token is None:
            bucket = self.limiter.bucket("anonymous", resource, 60)
        else:
            bucket = self.limiter.bucket(req.rate_key, resource, self.budget_limit(req, resource))
        return self._bucket_snapshot(bucket)

    def _bucket_snapshot(self, bucket: Any) -> dict[str, int]:
        """A budget as GitHub reports it (the reset on the skewed server clock)."""
        return {
            "limit": bucket.limit,
            "remaining": bucket.remaining,
            "reset": int(bucket.reset_at + self.faults.clock_skew),
            "used": bucket.used,
        }

    def stats(self) -> dict[str, Any]:
        """The request log's counters, plus secondary-limit refusals by reason."""
        return {**self.log.stats(), "secondary_refusals": dict(self.limiter.refusals),
                "tokens": self.limiter.token_stats()}

    # -- the pipeline -----------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        started = time.monotonic()
        parts = urlsplit(raw_path)
        path = unquote(parts.path) or "/"
        req = Request(method, path, parse_qs(parts.query, keep_blank_values=True), headers, body)
        if path.startswith(ADMIN_PREFIX) or path == ADMIN_PREFIX.rstrip("/"):
            return self._guarded(lambda: admin_handle(self, req))
        if pages.is_page(path):  # a run's html_url: its web page (no token, not counted)
            return self._guarded(lambda: pages.handle(self, req))
        if artifacts.is_blob(path):  # a signed download URL (no token, not counted)
            return self._guarded(lambda: artifacts.serve_blob(self, req))
        if artifacts.is_upload(path):  # the results service (a runtime token, free)
            return self._guarded(lambda: artifacts.handle_upload(self, req))
        route, params = self.router.match(method, path)
        req.params = params
        kind = route.kind if route else "unknown"
        resource = route.resource if route else "core"
        with gitstore.snapshot():
            resp = self._guarded(lambda: self._pipeline(req, route, kind, resource))
        self._finish(req, resp, kind, resource)
        self.log.record(method, raw_path, resp.status, req.token_id, kind,
                        time.monotonic() - started, blobs=resp.blobs)
        return resp

    def _guarded(self, work: Any) -> Response:
        try:
            return work()
        except ApiError as exc:
            return exc.response()
        except Exception:  # a bug must never take the server down
            log.exception("emulator: unexpected error")
            return Response(500, error_body("Server Error"))

    def _pipeline(self, req: Request, route: Route | None, kind: str, resource: str) -> Response:
        if route is None:
            raise ApiError(404, "Not Found", "https://docs.github.com/rest")
        self._authenticate(req, kind)
        _check_params(req.params)
        if req.token is not None and not self.limiter.enter(req.rate_key):
            raise ApiError(429, SECONDARY_MESSAGE, RATE_DOCS, headers={"retry-after": "1"})
        if req.token is not None:
            wait = self.limiter.points_retry_after(req.rate_key, resource,
                                                   request_points(req.method, resource))
            if wait is not None:
                self.limiter.leave(req.rate_key)
                raise ApiError(403, SECONDARY_MESSAGE, RATE_DOCS,
                               headers={"retry-after": str(wait)})
            req.points_held = True
        try:
            return self._guarded_call(req, route, kind, resource)
        finally:
            if req.token is not None:
                self.limiter.leave(req.rate_key)

    def _guarded_call(self, req: Request, route: Route, kind: str, resource: str) -> Response:
        faults = self.faults
        delay = faults.latency(kind)
        if delay > 0:
            time.sleep(delay)
        storm = faults.secondary(kind)
        if storm is not None:
            retry = {"retry-after": str(storm.retry_after if storm.retry_after is not None else 60)}
            raise ApiError(storm.status, SECONDARY_MESSAGE, RATE_DOCS, headers=retry)
        failure = faults.error(kind)
        if failure is not None:
            message = "Server Error" if failure.status >= 500 else "Injected error"
            raise ApiError(failure.status, message)
        if req.token is not None and kind not in FREE_KINDS:
            bucket = self.limiter.bucket(req.rate_key, resource, self.budget_limit(req, resource))
            if self.limiter.exhausted(bucket):
                who = "user ID 1" if not req.is_run_token else "installation ID 1"
                if resource == "graphql":
                    return Response(200, {"errors": [{
                        "type": "RATE_LIMITED", "message": PRIMARY_MESSAGE.format(who=who),
                    }]}, {"x-tako-uncharged": "1"})
                raise ApiError(403, PRIMARY_MESSAGE.format(who=who), RATE_DOCS,
                               headers={"x-tako-uncharged": "1"})
        return route.handler(self, req)

    def _authenticate(self, req: Request, kind: str) -> None:
        header = req.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() in ("token", "bearer") else ""
        if not token:
            if kind in FREE_KINDS:
                return
            raise ApiError(401, "Requires authentication",
                           "https://docs.github.com/rest/overview/authenticating-to-the-rest-api")
        run_repo = self.run_tokens.get(token)
        if run_repo is not None:
            req.token, req.is_run_token, req.run_repo = token, True, run_repo
            req.token_id = f"run:{run_repo}"
            req.rate_key = f"run:{run_repo.lower()}"  # GITHUB_TOKEN: a budget per repository
            req.login = "github-actions[bot]"
            req.policy = TokenPolicy(repos=[run_repo], dispatch=True)
            return
        policy = self.settings.policy(token)
        if policy is None:
            raise ApiError(401, "Bad credentials", "https://docs.github.com/rest")
        req.token, req.policy = token, policy
        req.token_id = "tok-" + hashlib.sha256(token.encode()).hexdigest()[:10]
        req.rate_key = req.token_id
        req.login = "tako-admin" if token == self.settings.admin_token else "tako-user"

    def _finish(self, req: Request, resp: Response, kind: str, resource: str) -> None:
        """ETag / 304, charge the budget, and the headers every answer carries."""
        headers = resp.headers
        charged = headers.pop("x-tako-uncharged", None) is None
        # A refusal (secondary limits answer with retry-after) was not processed: it
        # spends neither points nor the primary budget, so a client that waits as
        # asked gets its minute back.
        refused = resp.status in (403, 429) and "retry-after" in headers
        charged = charged and not refused
        if req.method in ("GET", "HEAD") and resp.status == 200:
            etag = 'W/"' + hashlib.sha256(resp.payload()).hexdigest()[:40] + '"'
            headers["ETag"] = etag
            headers.setdefault("Cache-Control", "private, max-age=60, s-maxage=60")
            headers.setdefault("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
            if _etag_matches(req.headers.get("if-none-match", ""), etag):
                resp.status, resp.body = 304, None
                resp.blobs = 0
                charged = False  # conditional hits are free, as on GitHub
        if req.token is not None and req.points_held:
            # held when the request was admitted (its points count from then)
            self.limiter.settle_points(
                req.rate_key, resource, request_points(req.method, resource),
                charged=kind != "unknown" and not refused and (
                    resp.status != 304 or self.settings.limits.not_modified_counts))
        if req.token is not None and kind not in FREE_KINDS and kind != "unknown":
            bucket = self.limiter.bucket(req.rate_key, resource, self.budget_limit(req, resource))
            if charged:
                self.limiter.charge(bucket, resp.cost)
            headers.update(_rate_headers(self._bucket_snapshot(bucket), resource))
        elif kind in FREE_KINDS:
            # GET /rate_limit is free but, as on GitHub, still reports the core budget
            # in its headers: PyGithub's ``Github.rate_limiting`` reads only those.
            headers.update(_rate_headers(self.rate_snapshot(req, resource), resource))
        if req.policy is not None and req.policy.scopes is not None and not req.is_run_token:
            headers["x-oauth-scopes"] = ", ".join(req.policy.scopes)
            if kind in WRITE_KINDS:
                headers["x-accepted-oauth-scopes"] = "repo"
        headers["x-github-request-id"] = _secrets.token_hex(8).upper()
        headers["x-github-api-version-selected"] = "2022-11-28"
        headers["x-github-media-type"] = "github.v3; format=json"


def request_points(method: str, resource: str) -> int:
    """What one request costs against the per-minute secondary budget: a GraphQL
    query 1 (the emulator runs no mutations), a REST read 1, a REST write 5."""
    if resource == "graphql":
        return 1
    return 1 if method in ("GET", "HEAD", "OPTIONS") else 5


# Route parameters checked before any handler runs: a name, id or path GitHub would
# not accept never reaches the world or a header (``World`` checks names again, for
# GraphQL's sake). Ids are ASCII digits: int() also takes " 1\r\n", which came back in
# the Link header (a response split).
_NAME_PARAMS = ("owner", "repo", "org")
_ID_PARAMS = ("run_id", "job_id")
_WORKFLOW = re.compile(r"[^\x00-\x1f\x7f/]{1,255}")  # an id or a workflow file name


def _check_params(params: dict[str, str]) -> None:
    for name in _NAME_PARAMS:
        if name in params and not confine.valid_name(params[name]):
            raise ApiError(404, "Not Found", "https://docs.github.com/rest")
    for name in _ID_PARAMS:
        if name in params and not confine.valid_id(params[name]):
            raise ApiError(404, "Not Found", "https://docs.github.com/rest")
    if "workflow" in params and not _WORKFLOW.fullmatch(params["workflow"]):
        raise ApiError(404, "Not Found", "https://docs.github.com/rest")
    if "path" in params and not confine.valid_repo_path(params["path"] or ""):
        raise ApiError(404, "Not Found", rest.DOC_CONTENTS)


def _rate_headers(snapshot: dict[str, int], resource: str) -> dict[str, str]:
    return {**{f"x-ratelimit-{k}": str(v) for k, v in snapshot.items()},
            "x-ratelimit-resource": resource}


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted or tag.strip() == "*"
               for tag in header.split(","))


# -- admin surface --------------------------------------------------------------------
def admin_handle(app: ApiApp, req: Request) -> Response:
    """``/_emulator/*``: no token, not logged, not rate-limited."""
    path, method = req.path, req.method
    if path == "/_emulator/requests" and method == "GET":
        since = req.arg("since")
        try:
            moment = float(since) if since else None
        except ValueError:
            moment = math.nan
        if moment is not None and not math.isfinite(moment):
            raise ApiError(400, f"since={since[:40]!r}: expected epoch seconds")
        return Response(200, app.log.entries(moment))
    if path.startswith(logroutes.DOWNLOAD_PREFIX) and method in ("GET", "HEAD"):
        return logroutes.download(app, req)
    if path.startswith("/_emulator/raw/") and method in ("GET", "HEAD"):
        return _raw_file(app, req, path.removeprefix("/_emulator/raw/"))
    if path == "/_emulator/stats" and method == "GET":
        return Response(200, app.stats())
    if path == "/_emulator/reset-stats" and method == "POST":
        app.log.reset()
        return Response(204)
    if path == "/_emulator/faults" and method == "GET":
        return Response(200, app.faults.spec)
    if path == "/_emulator/faults" and method == "POST":
        spec = req.json()
        if spec is not None and not isinstance(spec, dict):  # [] or 0 must not mean "none"
            raise ApiError(400, f"faults: expected a mapping (see {doc_url('emulator.md')})")
        try:
            app.set_faults(spec)
        except (FaultError, TypeError) as exc:
            raise ApiError(400, str(exc)) from None
        return Response(200, app.faults.spec)
    if path == "/_emulator/reload" and method == "POST":
        app.world.refresh()
        return Response(200, {"repos": len(app.world.all_repos())})
    if path == "/_emulator/runs" and method == "GET":
        return Response(200, [app.render_run(r) for r in app.store.all_runs()])
    if harness.is_harness(path):  # a harness playing held runs' fan-out step
        return harness.handle(app, req)
    if path == "/_emulator/health" and method == "GET":
        return Response(200, {"ok": True, "repos": len(app.world.all_repos())})
    raise ApiError(404, "Not Found")


def _raw_file(app: ApiApp, req: Request, rest: str) -> Response:
    """``download_url`` targets: ``/_emulator/raw/{owner}/{repo}/{ref}/{path}``, like
    raw.githubusercontent.com, with every part checked as the API checks it. A public
    repository's files need no token; a private one's need a token that sees it (the
    emulator is reachable by every user of the machine), else 404 as on GitHub."""
    parts = rest.split("/", 3)
    if (len(parts) == 4 and confine.valid_name(parts[0]) and confine.valid_name(parts[1])
            and confine.valid_ref(parts[2]) and confine.valid_repo_path(parts[3])):
        repo = app.world.repo(f"{parts[0]}/{parts[1]}")
        if repo is not None and repo.meta.private and not _may_read(app, req, repo):
            repo = None
        commit = repo.resolve_ref(parts[2]) if repo else None
        entry = repo.entry(parts[3], commit) if repo and commit else None
        if repo is not None and entry is not None and entry.kind == "file":
            return Response(200, repo.blob(entry.sha), content_type="text/plain; charset=utf-8")
    raise ApiError(404, "Not Found")


def _may_read(app: ApiApp, req: Request, repo: WorldRepo) -> bool:
    """The request carries a token that sees ``repo``."""
    try:
        app._authenticate(req, "contents")
    except ApiError:  # no token, or one the world does not know
        return False
    return req.token is not None and app.can_see(req, repo)


# -- HTTP plumbing --------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""
    timeout = 300  # an idle keep-alive connection frees its thread after 5 minutes
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; with Nagle's algorithm on, the body
        # waits for the client's delayed ACK: ~40 ms per request (measured 43 ms ->
        # 2.3 ms per GET). Added by the forge work (helper F).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BodyError as exc:
            self._send(Response(exc.status, error_body(exc.message)), close=True)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        resp = self.server.app.handle(self.command, self.path, headers, body)
        self._send(resp)

    def _read_body(self) -> bytes:
        codings = ",".join(self.headers.get_all("Transfer-Encoding") or [])
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if codings:
            # Only plain chunked is read; with a Content-Length beside it, or two lengths
            # that differ, which length holds is ambiguous (RFC 9112 6.1, 6.3): refused.
            if lengths or [c.strip().lower() for c in codings.split(",")] != ["chunked"]:
                raise _BodyError(400, "Bad Transfer-Encoding")
            return self._read_chunked()
        if len(lengths) > 1:
            raise _BodyError(400, "Bad Content-Length")
        raw = lengths.pop() if lengths else ""
        if not raw:
            return b""
        # 1*DIGIT (RFC 9110): int() would also take "+5", "1_0" or " ²"
        if not _DIGITS.fullmatch(raw.strip()):
            raise _BodyError(400, "Bad Content-Length")
        length = int(raw)
        if length > MAX_BODY:
            self._discard(length)
            raise _BodyError(413, "Payload Too Large")
        return self._read_exactly(length)

    def _read_exactly(self, length: int) -> bytes:
        """``length`` bytes, or 400: a body cut short (the client closed early) is never
        handed to a route, which would act on half a request."""
        data = self.rfile.read(length)
        if len(data) < length:
            raise _BodyError(400, f"The body ended after {len(data)} of {length} bytes")
        return data

    def _discard(self, length: int) -> None:
        """Read and drop a refused body that is not absurdly large, so the client
        sees the 413 instead of a connection reset while it is still sending."""
        if length > DRAIN_LIMIT:
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self.rfile.readline(65537).strip()
            digits = line.split(b";")[0].strip()
            # hex digits only: int() would also take "-1" (read to EOF) or "0x10"
            if not digits or len(digits) > 16 or not all(c in b"0123456789abcdefABCDEF"
                                                        for c in digits):
                raise _BodyError(400, "Bad chunked encoding")
            size = int(digits, 16)
            if size == 0:
                self.rfile.readline()
                return bytes(data)
            if len(data) + size > MAX_BODY:
                raise _BodyError(413, "Payload Too Large")
            data += self._read_exactly(size)
            self.rfile.readline()

    def _send(self, resp: Response, close: bool = False) -> None:
        payload = b"" if resp.status in (204, 304) else resp.payload()
        try:
            self.send_response(resp.status)
            if payload or resp.status not in (204, 304):
                self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in resp.headers.items():
                # a line break in a value would end the header early (response splitting)
                self.send_header(name, _CRLF.sub(" ", str(value)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD" and payload:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Malformed HTTP (bad request line, oversize headers): a JSON answer with a
        status line, whatever the client sent, then the connection closes."""
        self.request_version = "HTTP/1.1"
        text = message or HTTPStatus(code).phrase
        self._send(Response(code, error_body(text)), close=True)

    def date_time_string(self, timestamp: float | None = None) -> str:
        skew = self.server.app.faults.clock_skew
        return email.utils.formatdate((timestamp or time.time()) + skew, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log lives in /_emulator/requests


_CRLF = re.compile(r"[\r\n]")


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of 100+ clients connecting at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: ApiApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("emulator: connection error from %s", client_address, exc_info=True)


def make_server(app: ApiApp, host: str = "127.0.0.1", port: int = 0) -> _Server:
    return _Server((host, port), app)
