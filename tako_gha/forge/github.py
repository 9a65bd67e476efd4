"""``GitHubForge``: the ``Forge`` protocol on GitHub's REST and GraphQL APIs.

PyGithub provides the client (auth incl. GitHub App token refresh, base URL for
github.com and GHES alike, User-Agent); requests go through its requester, wrapped
by ``forge.transport`` for retries, rate limits and the ledger. The requester is
used directly rather than PyGithub's object layer because runs need ETag-conditional
requests (``PaginatedList`` cannot send ``If-None-Match``) and GraphQL needs partial
data (``graphql_query`` raises on any ``errors`` entry).

Not thread-safe (neither is PyGithub): one ``GitHubForge`` per thread; ``worker()``
makes another for a thread that polls alongside (own PyGithub client and requester,
shared ledger, ETag cache and deadline).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import github
import requests
from github import Auth, GithubException

from tako_gha import __version__
from tako_gha.forge import auth as auth_mod
from tako_gha.forge import exact, logtail
from tako_gha.forge.base import (
    NOT_GITHUB_HINT,
    AmbiguousDispatchError,
    Annotation,
    AuthError,
    CallKind,
    CostLedger,
    Discovery,
    ForgeError,
    NotFoundError,
    RateLimitError,
    RepoSelection,
    RunInfo,
    RunListing,
    RunState,
    ValidationError,
    WorkflowDispatch,
)
from tako_gha.forge.cache import BlobCache
from tako_gha.forge.discovery import PAGE, Discoverer
from tako_gha.forge.redact import guard_github_logger, redact_url
from tako_gha.forge.runstate import RUN_STATES_QUERY, check_ids, states_from_body
from tako_gha.forge.transport import (
    Response,
    RetryPolicy,
    Transport,
    TransportAmbiguous,
    WaitEvent,
)

log = logging.getLogger("tako_gha.forge")
MAX_LOG_BYTES = 8 * 1024 * 1024  # of a job log read for its last lines
# Runs listings read at most this many pages (1,000 runs of one repo in a window).
MAX_RUN_PAGES = 10

DEFAULT_API_URL = "https://api.github.com"
API_URL_HINT = "pass --api-url like https://api.github.com or https://ghe.example.com/api/v3"
USER_AGENT = f"tako-gha/{__version__}"
MAX_EVENT_TYPE = 100
MAX_PAYLOAD_KEYS = 10
MAX_PAYLOAD_BYTES = 64 * 1024
ETAG_ENTRIES = 4096
DISPATCH_HINT = ("use a token with Contents: write on the target repositories (fine-grained "
                 "PAT or GitHub App) or the repo scope (classic PAT)")


def _parse_time(value: Any) -> datetime:
    text = str(value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    """A field that is a string or null. Anything else (an object, a list) would
    travel on into state lookups and the tree, and fail far from here."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{key} is {type(value).__name__}, not a string")


def run_from_json(data: Any, repo: str) -> RunInfo:
    """A ``RunInfo`` from GitHub's workflow-run JSON; ForgeError on a malformed one."""
    try:
        return RunInfo(
            id=int(data["id"]),
            repo=str((data.get("repository") or {}).get("full_name") or repo),
            workflow_path=str(data.get("path") or ""),
            display_title=str(data.get("display_title") or data.get("name") or ""),
            name=_opt_str(data, "name"),
            event=str(data.get("event") or ""),
            status=_opt_str(data, "status"),
            conclusion=_opt_str(data, "conclusion"),
            created_at=_parse_time(data["created_at"]),
            html_url=str(data.get("html_url") or ""),
            head_branch=_opt_str(data, "head_branch"),
            run_attempt=int(data.get("run_attempt") or 1),
            updated_at=_parse_time(data["updated_at"]) if data.get("updated_at") else None,
            node_id=str(data.get("node_id") or ""),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ForgeError(f"unexpected workflow run data from GitHub for {repo}: {exc!r}",
                         hint=NOT_GITHUB_HINT) from None


def _workflow_file(workflow: str) -> str:
    """``rebuild.yml`` from ``rebuild.yml`` or ``.github/workflows/rebuild.yml``."""
    return workflow.rstrip("/").rsplit("/", 1)[-1]


def _in_actions_with_workflow_token(token: str | None) -> bool:
    """Heuristic: inside GitHub Actions with what looks like the job's own token.

    A workflow's ``GITHUB_TOKEN`` is an installation token (``ghs_`` prefix); the
    action receives it through its ``token`` input, not necessarily as an environment
    variable, so the prefix is the signal. An App installation token minted in the
    workflow looks the same; it only gets a note added to an error it already has.
    """
    if os.environ.get("GITHUB_ACTIONS") != "true" or not token:
        return False
    return token.startswith("ghs_")


def _others(count: int, joiner: str) -> str:
    if count <= 0:
        return ""
    return f" {joiner} {count} other target" + ("s" if count > 1 else "")


def workflow_token_note(repo: str | None = None) -> str:
    own = os.environ.get("GITHUB_REPOSITORY", "its own repository")
    target = f" such as {repo}" if repo else ""
    return (f"a workflow's GITHUB_TOKEN only reaches {own}, not other repositories{target}: "
            "pass a PAT or GitHub App installation token with Contents: write as the token")


class GitHubForge:
    """The GitHub implementation of ``tako_gha.forge.base.Forge``."""

    def __init__(
        self,
        api_url: str | None = None,
        *,
        token: str | None = None,
        credentials: auth_mod.Credentials | None = None,
        cache_dir: Path | str | None = None,
        policy: RetryPolicy | None = None,
        timeout: int = 15,
        write_interval: float = 1.0,
        on_wait: Callable[[WaitEvent], None] | None = None,
        prefer_rest: bool = False,
        etag_entries: int = ETAG_ENTRIES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        url = (api_url or DEFAULT_API_URL).strip().rstrip("/")
        try:
            parsed = urlparse(url)
            parsed.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535"
            raise ForgeError(f"API URL {redact_url(repr(url))} is not a valid URL: {exc}",
                             hint=API_URL_HINT) from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ForgeError(f"API URL {redact_url(repr(url))} is not an http(s) URL",
                             hint=API_URL_HINT)
        if credentials is None and token:
            credentials = auth_mod.Credentials(token=token, source="input")
        guard_github_logger(credentials.token if credentials else None)
        self.api_url = url
        self.ledger = CostLedger()
        self.prefer_rest = prefer_rest
        self.used_rest = False
        self._host = parsed.netloc
        self._credentials = credentials
        self._timeout = timeout
        self._github: github.Github | None = None
        self._etags: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._etag_lock = threading.Lock()  # shared with this forge's workers
        self._workers: list[GitHubForge] = []
        self._make = (url, dict(credentials=credentials, cache_dir=cache_dir, policy=policy,
                                timeout=timeout, write_interval=write_interval,
                                on_wait=on_wait, prefer_rest=prefer_rest,
                                etag_entries=etag_entries, sleep=sleep, clock=clock))
        self._etag_entries = etag_entries
        self._permissions: dict[str, bool | None] = {}  # repo (lower) -> can push
        self._orgs_ok: set[str] = set()
        self._cache = BlobCache(cache_dir)
        self.transport = Transport(self._send, self.ledger, policy=policy, sleep=sleep,
                                   clock=clock, on_wait=on_wait, write_interval=write_interval)

    def __repr__(self) -> str:
        who = self._credentials.describe() if self._credentials else "no credentials"
        return f"GitHubForge(api_url={redact_url(repr(self.api_url))}, auth={who!r})"

    # ------------------------------------------------------------ client
    def _client(self, owner: str | None = None) -> github.Github:
        """The PyGithub client, built on first use (an App needs the owner first)."""
        if self._github is None:
            auth: Auth.Auth | None = None
            creds = self._credentials
            if creds is not None and creds.is_app:
                self.ledger.record(CallKind.OTHER)  # the installation look-up / token
                auth = auth_mod.app_installation_auth(
                    creds, owner, base_url=self.api_url, user_agent=USER_AGENT,
                    timeout=self._timeout)
            elif creds is not None and creds.token:
                auth = auth_mod.token_auth(creds.token)
            self._github = github.Github(
                auth=auth, base_url=self.api_url, timeout=self._timeout,
                user_agent=USER_AGENT, per_page=100, retry=None, lazy=True,
                # pacing lives in the transport, where the sleep is injectable
                seconds_between_requests=0.0, seconds_between_writes=0.0)
        return self._github

    def _send(self, verb: str, url: str, params: dict[str, Any] | None,
              headers: dict[str, str], body: Any) -> tuple[int, dict, str]:
        try:
            return self._client().requester.requestJson(verb, url, params, headers, body)
        except RuntimeError:
            # PyGithub follows a 301 only on the same scheme and host and raises
            # RuntimeError otherwise (and RecursionError, a subclass, on a redirect
            # loop). Such an answer was not processed, so this is not ambiguous.
            path = url.split("?", 1)[0]
            raise ForgeError(
                f"the API at {redact_url(self.api_url)} redirected {verb} {path} to another "
                "host, "
                "scheme or back to itself; tako does not follow such redirects",
                hint="check --api-url / GITHUB_API_URL (GitHub Enterprise Server: "
                     "https://HOST/api/v3)") from None
        except GithubException as exc:
            # Only the App auth makes PyGithub requests of its own (installation tokens).
            raise AuthError(
                f"could not get a GitHub App installation token (HTTP {exc.status})",
                hint=f"check {auth_mod.APP_ID_VAR}, {auth_mod.APP_KEY_VAR} and "
                     f"{auth_mod.APP_INSTALLATION_VAR}, and that the app is installed",
                status=exc.status) from None

    @property
    def graphql_url(self) -> str:
        return self._client().requester.graphql_url

    def close(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()
        if self._github is not None:
            self._github.close()
            self._github = None

    def __enter__(self) -> GitHubForge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def on_wait(self) -> Callable[[WaitEvent], None] | None:
        """Called before every retry wait (rate limits, 5xx, connection errors), so a
        surface can show why nothing moves; the ledger's ``waited_seconds`` sums them."""
        return self.transport.on_wait

    @on_wait.setter
    def on_wait(self, callback: Callable[[WaitEvent], None] | None) -> None:
        self.transport.on_wait = callback

    def set_deadline(self, when: datetime | None) -> None:
        """Rate-limit waits that would end after ``when`` raise RateLimitError instead."""
        self.transport.deadline = when.timestamp() if when is not None else None
        for worker in self._workers:
            worker.set_deadline(when)

    def worker(self) -> GitHubForge:
        """A forge for another thread: the same credentials, ledger, ETag cache,
        permissions, wait callback and deadline, and its own PyGithub client (PyGithub
        is not thread-safe). Closed with this forge."""
        url, kwargs = self._make
        other = GitHubForge(url, **kwargs)
        other.ledger = self.ledger
        other.transport.ledger = self.ledger
        other.transport.on_wait = self.transport.on_wait
        other.transport.deadline = self.transport.deadline
        other._etags, other._etag_lock = self._etags, self._etag_lock
        other._permissions = self._permissions
        self._workers.append(other)
        return other

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    def _token(self) -> str | None:
        return self._credentials.token if self._credentials is not None else None

    def _request(self, kind: CallKind, verb: str, url: str, *, owner: str | None = None,
                 safe: bool = True, **kw: Any) -> Response:
        self._client(owner)
        return self.transport.request(kind, verb, url, safe=safe, **kw)

    # ------------------------------------------------------------ errors
    def _error(self, resp: Response, what: str, repo: str | None = None,
               permission: str = "Actions: read") -> ForgeError:
        """The ForgeError for a refused request; ``permission`` is what a fine-grained
        token needs for it (named in the 403 hint)."""
        msg = resp.message or f"HTTP {resp.status}"
        if resp.status == 401:
            hint = (f"check {auth_mod.APP_ID_VAR} and {auth_mod.APP_KEY_VAR}"
                    if self._credentials is not None and self._credentials.is_app
                    else "set GITHUB_TOKEN or GH_TOKEN to a valid, unexpired token")
            return AuthError("GitHub rejected the token (401 Bad credentials)", hint=hint,
                             status=401)
        if resp.status == 403:
            hint = (workflow_token_note(repo) if _in_actions_with_workflow_token(self._token())
                    else DISPATCH_HINT if permission == "Contents: write"
                    else f"use a token with {permission} on {repo or 'the repository'} "
                         "(fine-grained PAT or GitHub App) or the repo scope (classic PAT)")
            return AuthError(f"the token may not {what} ({msg})", hint=hint, status=403)
        if resp.status == 404:
            hint = (workflow_token_note(repo) if _in_actions_with_workflow_token(self._token())
                    else "check the name, and that the token can read it (GitHub answers 404 "
                         "for private repositories it cannot see)")
            return NotFoundError(f"cannot {what}: not found, or not visible to this token",
                                 hint=hint, status=404)
        if resp.status == 422:
            return ValidationError(f"GitHub refused to {what}: {msg}", status=422,
                                   hint="see GitHub's message for the invalid field")
        detail = f": {resp.message}" if resp.message else ""  # an HTML page has none
        return ForgeError(f"could not {what}: HTTP {resp.status}{detail}", status=resp.status)

    # ------------------------------------------------------------ discovery
    def discover(self, selection: RepoSelection) -> Discovery:
        self._client(selection.org)
        discoverer = Discoverer(self.transport, self.graphql_url, self._cache,
                                host=self._host, prefer_rest=self.prefer_rest,
                                permissions=self._permissions)
        result = discoverer.discover(selection)
        self.used_rest = discoverer.used_rest
        self._orgs_ok.add(selection.org.lower())
        return result

    # ------------------------------------------------------------ preflight
    def preflight(self, org: str, targets: Sequence[str], *, dispatch: bool) -> None:
        if self._credentials is None:
            raise AuthError("no GitHub credentials are set", hint=auth_mod.NO_CREDENTIALS_HINT)
        self._preflight_org(org)
        unreadable: list[str] = []
        read_only: list[str] = []
        for target in dict.fromkeys(targets):
            can_push = self._target_permission(target, unreadable)
            if dispatch and can_push is False:
                read_only.append(target)
        if unreadable:
            more = _others(len(unreadable) - 1, "or")
            hint = (workflow_token_note(unreadable[0])
                    if _in_actions_with_workflow_token(self._token())
                    else f"check the name, and give the token read access to {unreadable[0]}")
            raise NotFoundError(f"the token cannot read {unreadable[0]}{more}", hint=hint,
                                status=404)
        if dispatch:
            self._preflight_scopes()
        if read_only:
            more = _others(len(read_only) - 1, "and")
            hint = (workflow_token_note(read_only[0])
                    if _in_actions_with_workflow_token(self._token()) else
                    f"use a token with Contents: write on {read_only[0]} (fine-grained PAT "
                    "or GitHub App) or the repo scope (classic PAT)")
            them = "them" if more else "it"
            raise AuthError(f"the token can read {read_only[0]}{more} but cannot dispatch "
                            f"to {them}", hint=hint, status=403)

    def _preflight_org(self, org: str) -> None:
        if org.lower() in self._orgs_ok:
            return
        resp = self._request(CallKind.OTHER, "GET", f"/orgs/{quote(org)}/repos", owner=org,
                             params={"per_page": 1})
        if resp.status == 404:  # maybe a user account rather than an organization
            resp = self._request(CallKind.OTHER, "GET", f"/users/{quote(org)}/repos",
                                 owner=org, params={"per_page": 1})
        if resp.status == 401:
            raise self._error(resp, "list repositories")
        # GitHub lists an org's repos to anyone, filtered to what the token may see:
        # an empty page means this token reaches none of them.
        if resp.status == 200 and resp.json() == []:
            hint = (workflow_token_note() if _in_actions_with_workflow_token(self._token())
                    else f"use a token that can read {org}'s repositories (a fine-grained "
                         f"PAT or GitHub App installed on {org})")
            raise NotFoundError(f"the token cannot see any repository of {org}", hint=hint,
                                status=404)
        if resp.status in (403, 404):
            hint = (workflow_token_note() if _in_actions_with_workflow_token(self._token())
                    else f"check --org, and use a token that can read {org}'s repositories "
                         f"(a fine-grained PAT or GitHub App installed on {org})")
            raise (NotFoundError if resp.status == 404 else AuthError)(
                f"the token cannot list the repositories of {org}", hint=hint,
                status=resp.status)
        if resp.status >= 300:
            raise self._error(resp, f"list the repositories of {org}")
        self._orgs_ok.add(org.lower())

    def _target_permission(self, target: str, unreadable: list[str]) -> bool | None:
        key = target.lower()
        if key in self._permissions and self._permissions[key] is not None:
            return self._permissions[key]
        resp = self._request(CallKind.OTHER, "GET", f"/repos/{target}",
                             owner=target.split("/", 1)[0])
        if resp.status in (403, 404):
            unreadable.append(target)
            return None
        if resp.status >= 300:
            raise self._error(resp, f"read {target}", target, permission="Metadata: read")
        data = resp.json()
        perms = data.get("permissions") if isinstance(data, dict) else None
        can_push: bool | None = None
        if isinstance(perms, dict) and perms:
            can_push = bool(perms.get("push") or perms.get("admin") or perms.get("maintain"))
        self._permissions[key] = can_push
        return can_push

    def _preflight_scopes(self) -> None:
        """A classic PAT announces its scopes; dispatch needs ``repo`` (or
        ``public_repo`` for public targets, which cannot be told apart here cheaply,
        so only a token with neither is refused)."""
        scopes_header = self.transport.last_scopes
        if scopes_header is None or self._credentials is None or self._credentials.is_app:
            return
        scopes = {s.strip() for s in scopes_header.split(",") if s.strip()}
        if not scopes:  # fine-grained PATs and installation tokens send an empty header
            return
        if not scopes & {"repo", "public_repo"}:
            raise AuthError("the classic token lacks the repo scope needed to dispatch",
                            hint="add the repo scope to the token, or use a fine-grained "
                                 "PAT with Contents: write", status=403)

    # ------------------------------------------------------------ dispatch
    def dispatch(self, repo: str, event_type: str, client_payload: dict[str, Any]) -> None:
        self._check_dispatch(repo, event_type, client_payload)
        body = {"event_type": event_type, "client_payload": client_payload}
        try:
            resp = self._request(CallKind.DISPATCH, "POST", f"/repos/{repo}/dispatches",
                                 owner=repo.split("/", 1)[0], body=body, safe=False)
        except TransportAmbiguous as exc:
            raise AmbiguousDispatchError(
                f"the dispatch to {repo} may or may not have been delivered ({exc})",
                hint="look for its run before sending it again") from None
        if resp.status >= 500:
            raise AmbiguousDispatchError(
                f"GitHub answered HTTP {resp.status} to the dispatch to {repo}; it may or may "
                "not have been delivered", hint="look for its run before sending it again",
                status=resp.status)
        if resp.status >= 300:
            raise self._error(resp, f"dispatch {event_type} to {repo}", repo,
                              permission="Contents: write")

    def dispatch_workflow(self, repo: str, workflow: str, ref: str,
                          inputs: dict[str, str]) -> WorkflowDispatch:
        return exact.dispatch_workflow(self, repo, _workflow_file(workflow), ref, inputs)

    def run_states_by_url(self, urls: Sequence[str]) -> dict[str, RunState]:
        return exact.run_states_by_url(self, urls)

    def read_files(self, items: Sequence[tuple[str, str, str]]
                   ) -> dict[tuple[str, str, str], str | None]:
        return exact.read_files(self, items)

    def read_file(self, repo: str, path: str, ref: str | None = None) -> str | None:
        """A file of ``ref`` (default: the repository's default branch) as text; None when
        it is missing or unreadable (``plan`` reads receiving workflows with it: exact
        mode's inputs, on the branch or tag the dispatch would run on). None: GitHub says
        it is not there (404: no such file on that ref, or no such ref); another refusal
        raises ForgeError."""
        resp = self._request(CallKind.DISCOVERY, "GET",
                             f"/repos/{repo}/contents/{quote(path)}",
                             owner=repo.split("/", 1)[0],
                             params={"ref": ref} if ref else None,
                             headers={"Accept": "application/vnd.github.raw"})
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._error(resp, f"read {path} of {repo}", repo, permission="Contents: read")
        return resp.text

    @staticmethod
    def _check_dispatch(repo: str, event_type: str, payload: dict[str, Any]) -> None:
        """GitHub's documented limits, checked before sending (a 422 says less)."""
        if not event_type or len(event_type) > MAX_EVENT_TYPE:
            raise ValidationError(
                f"event type for {repo} must be 1-{MAX_EVENT_TYPE} characters "
                f"(got {len(event_type)})", hint="shorten the event type")
        if len(payload) > MAX_PAYLOAD_KEYS:
            raise ValidationError(
                f"client_payload for {repo} has {len(payload)} top-level keys; GitHub allows "
                f"{MAX_PAYLOAD_KEYS}", hint="nest the values under fewer keys")
        size = len(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        if size >= MAX_PAYLOAD_BYTES:
            raise ValidationError(
                f"client_payload for {repo} is {size} bytes; GitHub requires less than "
                f"{MAX_PAYLOAD_BYTES}", hint="send less payload (e.g. a URL to the data)")

    # ------------------------------------------------------------ runs
    def _conditional_get(self, kind: CallKind, url: str, params: dict[str, Any], owner: str,
                         convert: Callable[[Response], Any]) -> tuple[Any, bool]:
        """GET with If-None-Match from the last answer for the same URL+query.

        ``convert`` turns a 2xx answer into the value returned (and raises on a bad
        one); that value, not the raw JSON, is what the ETag cache keeps, so a fleet's
        worth of entries stays small. Returns (value, not_modified)."""
        key = url + "?" + "&".join(f"{k}={params[k]}" for k in sorted(params))
        with self._etag_lock:
            cached = self._etags.get(key)
        headers = {"If-None-Match": cached[0]} if cached else {}
        resp = self._request(kind, "GET", url, owner=owner, params=params, headers=headers)
        if resp.status == 304 and cached is not None:
            with self._etag_lock:
                if key in self._etags:
                    self._etags.move_to_end(key)
            return cached[1], True
        value = convert(resp)
        etag = resp.headers.get("etag")
        if resp.status == 200 and etag:
            with self._etag_lock:
                self._etags[key] = (etag, value)
                self._etags.move_to_end(key)
                while len(self._etags) > self._etag_entries:
                    self._etags.popitem(last=False)
        return value, False

    def list_runs(self, repo: str, *, event: str | None = "repository_dispatch",
                  created_after: datetime | None = None,
                  workflow: str | None = None) -> RunListing:
        url = (f"/repos/{repo}/actions/workflows/{quote(_workflow_file(workflow))}/runs"
               if workflow else f"/repos/{repo}/actions/runs")
        params: dict[str, Any] = {"per_page": PAGE}
        if event:
            params["event"] = event
        if created_after is not None:
            stamp = created_after.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            params["created"] = ">=" + stamp

        def convert(resp: Response) -> tuple[list[RunInfo], int]:
            if resp.status >= 300:
                if resp.status == 404 and workflow:
                    raise NotFoundError(f"workflow {workflow} not found in {repo}", status=404,
                                        hint="check the subscription's workflow file name")
                raise self._error(resp, f"list the workflow runs of {repo}", repo)
            data = resp.json()
            if not isinstance(data, dict) or not isinstance(data.get("workflow_runs"), list):
                raise ForgeError(f"unexpected workflow runs data from GitHub for {repo}",
                                 hint=NOT_GITHUB_HINT)
            total = data.get("total_count")
            return ([run_from_json(r, repo) for r in data["workflow_runs"]],
                    total if isinstance(total, int) else 0)

        return self._run_pages(url, params, repo, convert)

    def _run_pages(self, url: str, params: dict[str, Any], repo: str,
                   convert: Callable[[Response], tuple[list[RunInfo], int]]) -> RunListing:
        """Every page of a runs listing, newest first, up to MAX_RUN_PAGES.

        Almost always one page: the query is narrowed to the cascade's window. A
        repo with more than 100 dispatch runs in it (a busy producer, many cascades
        at once) would otherwise hide the oldest, and with them a child's run. Each
        page is its own conditional GET, so unchanged pages cost nothing."""
        by_id: dict[int, RunInfo] = {}
        unchanged = True
        for page in range(1, MAX_RUN_PAGES + 1):
            query = params if page == 1 else {**params, "page": page}
            (runs, total), not_modified = self._conditional_get(
                CallKind.POLL, url, query, repo.split("/", 1)[0], convert)
            unchanged = unchanged and not_modified
            by_id.update((r.id, r) for r in runs)  # a run may shift onto the next page
            if len(runs) < PAGE or len(by_id) >= total:
                break
        runs = sorted(by_id.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        return RunListing(runs=runs, not_modified=unchanged)

    def get_run(self, repo: str, run_id: int) -> RunInfo:
        def convert(resp: Response) -> RunInfo:
            if resp.status >= 300:
                raise self._error(resp, f"read run {run_id} of {repo}", repo)
            return run_from_json(resp.json(), repo)

        run, _ = self._conditional_get(CallKind.POLL, f"/repos/{repo}/actions/runs/{int(run_id)}",
                                       {}, repo.split("/", 1)[0], convert)
        return run

    def run_states(self, node_ids: Sequence[str]) -> dict[str, RunState]:
        ids = check_ids(node_ids)
        if not ids:
            return {}
        resp = self._request(CallKind.POLL, "POST", self.graphql_url,
                             body={"query": RUN_STATES_QUERY, "variables": {"ids": ids}})
        if resp.status != 200:
            raise self._error(resp, "read the state of workflow runs (GraphQL)")
        return states_from_body(resp.json(), ids)

    def cancel_run(self, repo: str, run_id: int) -> bool:
        # Safe to retry: cancelling twice is harmless (the second answers 409).
        resp = self._request(CallKind.CANCEL, "POST",
                             f"/repos/{repo}/actions/runs/{int(run_id)}/cancel",
                             owner=repo.split("/", 1)[0])
        if resp.status in (200, 202):
            return True
        if resp.status == 409:
            return False
        raise self._error(resp, f"cancel run {run_id} of {repo}", repo,
                          permission="Actions: write")

    def rerun_run(self, repo: str, run_id: int, *, failed_only: bool = True) -> None:
        # Not retried blindly: a second POST after a lost answer would be refused
        # (already running) at best; the caller reads the run to see what happened.
        verb = "rerun-failed-jobs" if failed_only else "rerun"
        resp = self._request(CallKind.OTHER, "POST",
                             f"/repos/{repo}/actions/runs/{int(run_id)}/{verb}",
                             owner=repo.split("/", 1)[0], safe=False)
        if resp.status not in (201, 204):
            raise self._error(resp, f"re-run run {run_id} of {repo}", repo,
                              permission="Actions: write")

    def _run_jobs(self, repo: str, run_id: int) -> list[Any] | None:
        """The jobs of a run as GitHub lists them (None when the answer has no list)."""
        resp = self._request(CallKind.POLL, "GET",
                             f"/repos/{repo}/actions/runs/{int(run_id)}/jobs",
                             owner=repo.split("/", 1)[0], params={"per_page": PAGE})
        if resp.status >= 300:
            raise self._error(resp, f"list the jobs of run {run_id} in {repo}", repo)
        data = resp.json()
        jobs = data.get("jobs") if isinstance(data, dict) else None
        return jobs if isinstance(jobs, list) else None

    def run_annotations(self, repo: str, run_id: int) -> list[Annotation]:
        owner = repo.split("/", 1)[0]
        jobs = self._run_jobs(repo, run_id)
        if jobs is None:
            raise ForgeError(f"unexpected jobs data from GitHub for run {run_id} of {repo}",
                             hint=NOT_GITHUB_HINT)
        out: list[Annotation] = []
        # a job id that is not an integer cannot name a check run: skip it, not crash
        for job_id in [j["id"] for j in jobs if isinstance(j, dict) and type(j.get("id")) is int]:
            ann = self._request(CallKind.POLL, "GET",
                                f"/repos/{repo}/check-runs/{job_id}/annotations",
                                owner=owner, params={"per_page": PAGE})
            if ann.status == 404:
                continue  # jobs without a check run (skipped) have no annotations
            if ann.status >= 300:
                raise self._error(ann, f"read the annotations of run {run_id} in {repo}", repo)
            items = ann.json()
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and item.get("message"):
                    out.append(Annotation(level=str(item.get("annotation_level") or "notice"),
                                          message=str(item["message"]),
                                          title=str(item.get("title") or "")))
        return out

    def job_log_tail(self, repo: str, run_id: int, lines: int = logtail.TAIL_LINES
                     ) -> list[str]:
        owner = repo.split("/", 1)[0]
        jobs = self._run_jobs(repo, run_id) or []
        failed = [j for j in jobs if isinstance(j, dict) and type(j.get("id")) is int
                  and j.get("conclusion") in ("failure", "timed_out")]
        if not failed:
            return []
        job = failed[0]
        steps = [s for s in job.get("steps") or [] if isinstance(s, dict)]
        step = next((s for s in steps if s.get("conclusion") in ("failure", "timed_out")),
                    None) or {}
        link = self._request(CallKind.POLL, "GET",
                             f"/repos/{repo}/actions/jobs/{job['id']}/logs", owner=owner)
        if link.status in (404, 410):
            return []  # logs expired or deleted: nothing more to say
        if link.status == 200:  # a server that answers with the log itself
            text = link.text
        elif link.status == 302 and link.headers.get("location"):
            text = self._download_log(link.headers["location"], repo)
        else:
            raise self._error(link, f"read the log of job {job['id']} in {repo}", repo)
        return logtail.step_tail(text, logtail.parse_time(step.get("started_at")),
                                 logtail.parse_time(step.get("completed_at")), lines)

    def run_report(self, repo: str, run_id: int, name: str, member: str,
                   max_bytes: int) -> bytes | None:
        """``member`` of the run's artifact ``name`` (two requests), None without it."""
        from tako_gha.forge import artifacts

        return artifacts.read_member(self, repo, run_id, name, member, max_bytes)

    def _download_log(self, url: str, repo: str) -> str:
        """The job log behind GitHub's short-lived link (its storage needs no token, so
        none is sent); only its last ``MAX_LOG_BYTES`` are kept."""
        try:
            with requests.get(url, timeout=self._timeout, stream=True) as resp:
                if resp.status_code >= 300:
                    raise ForgeError(f"could not download a job log of {repo}: "
                                     f"HTTP {resp.status_code}")
                kept = bytearray()
                for chunk in resp.iter_content(64 * 1024):
                    kept += chunk
                    if len(kept) > 2 * MAX_LOG_BYTES:
                        del kept[:-MAX_LOG_BYTES]
        except requests.exceptions.RequestException as exc:
            raise ForgeError(f"could not download a job log of {repo}: "
                             f"{type(exc).__name__}") from None
        return bytes(kept[-MAX_LOG_BYTES:]).decode("utf-8", errors="replace")

    def now(self) -> datetime:
        return self.transport.now()

    # ------------------------------------------------------------ extras
    def rate_budget(self, resource: str = "core") -> tuple[int, int, int | None] | None:
        """(remaining, limit, reset epoch) of a rate bucket, as last seen."""
        return self.transport.budgets.get(resource)


__all__ = ["DEFAULT_API_URL", "GitHubForge", "RateLimitError", "RetryPolicy", "WaitEvent",
           "run_from_json"]
