"""The REST endpoints: repos, contents, dispatches, workflow runs, jobs, annotations,
rate limit. Each handler takes the app (``server.ApiApp``) and a ``Request``."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from tako_gha.emulator import confine
from tako_gha.emulator.httpkit import ApiError, Request, Response, Router, not_found
from tako_gha.emulator.ratelimit import RATE_DOCS, SECONDARY_MESSAGE
from tako_gha.emulator.reruns import rerun_failed_jobs
from tako_gha.emulator.state import RunRecord, utcnow
from tako_gha.emulator.workflows import (
    WorkflowError,
    is_workflow_path,
    parse_workflow,
    workflow_id_for,
)
from tako_gha.emulator.world import WorldRepo

if TYPE_CHECKING:
    from tako_gha.emulator.server import ApiApp

DOC_DISPATCH = "https://docs.github.com/rest/repos/repos#create-a-repository-dispatch-event"
DOC_RUNS = "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository"
DOC_CONTENTS = "https://docs.github.com/rest/repos/contents#get-repository-content"
DOC_REPO = "https://docs.github.com/rest/repos/repos#get-a-repository"
DOC_CANCEL = "https://docs.github.com/rest/actions/workflow-runs#cancel-a-workflow-run"

MAX_EVENT_TYPE = 100
MAX_PAYLOAD_KEYS = 10
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_FILTERED_RESULTS = 1000  # GitHub: filtered run listings stop at 1,000 results
RUN_STATUSES = {"requested", "queued", "pending", "waiting", "in_progress", "completed"}
RUN_CONCLUSIONS = {
    "action_required", "cancelled", "failure", "neutral", "skipped", "stale", "success",
    "timed_out",
}
RAW_TYPES = ("application/vnd.github.raw", "application/vnd.github.v3.raw")


def register(router: Router) -> None:
    router.add("GET", "/rate_limit", "rate_limit", get_rate_limit)
    router.add("GET", "/orgs/{org}", "org", get_org)
    router.add("GET", "/orgs/{org}/repos", "repos_list", list_owner_repos)
    router.add("GET", "/users/{org}/repos", "repos_list", list_owner_repos)
    router.add("GET", "/user/repos", "repos_list", list_own_repos)
    router.add("GET", "/repos/{owner}/{repo}", "repo", get_repo)
    router.add("GET", "/repos/{owner}/{repo}/contents", "contents", get_contents)
    router.add("GET", "/repos/{owner}/{repo}/contents/{path*}", "contents", get_contents)
    router.add("POST", "/repos/{owner}/{repo}/dispatches", "dispatch", create_dispatch)
    router.add("GET", "/repos/{owner}/{repo}/actions/workflows", "workflows", list_workflows)
    router.add("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow}", "workflows",
               get_workflow)
    router.add("GET", "/repos/{owner}/{repo}/actions/runs", "runs_list", list_runs)
    router.add(
        "GET", "/repos/{owner}/{repo}/actions/workflows/{workflow}/runs", "runs_list", list_runs
    )
    router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}", "run", get_run)
    router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", "jobs", list_jobs)
    router.add("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}", "jobs", get_job)
    router.add("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel", "cancel", cancel_run)
    router.add("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun", "rerun", rerun_run)
    router.add("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs",
               "rerun", rerun_failed_jobs)
    router.add(
        "GET", "/repos/{owner}/{repo}/check-runs/{job_id}/annotations", "annotations",
        list_annotations,
    )
    from tako_gha.emulator import workflow_dispatch  # it imports this module's helpers

    workflow_dispatch.register(router)
    from tako_gha.emulator import artifacts

    artifacts.register(router)


# -- helpers --------------------------------------------------------------------------
def visible_repo(app: ApiApp, req: Request) -> WorldRepo:
    """The repo named in the path, if the token may see it; 404 otherwise (as GitHub)."""
    full_name = f"{req.params['owner']}/{req.params['repo']}"
    repo = app.world.repo(full_name)
    if repo is None or not app.can_see(req, repo):
        raise not_found(DOC_REPO)
    return repo


def page_args(req: Request) -> tuple[int, int]:
    """``per_page`` (default 30, at most 100) and ``page`` (from 1), as GitHub reads them."""
    per_page = _int_arg(req, "per_page", 30)
    per_page = 30 if per_page < 1 else min(per_page, 100)
    page = max(1, _int_arg(req, "page", 1))
    return per_page, page


def _int_arg(req: Request, name: str, default: int) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return default


def paginate(app: ApiApp, req: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    per_page, page = page_args(req)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    return chunk, {"Link": link_header(app, req, page, last)} if last > 1 or page > 1 else {}


def link_header(app: ApiApp, req: Request, page: int, last: int) -> str:
    def url(number: int) -> str:
        query = {k: v[0] for k, v in req.query.items() if k != "page"}
        query["page"] = str(number)
        return f"{app.base_url}{quote(req.path)}?{urlencode(query)}"  # path: decoded

    links = []
    if page > 1:
        links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(last)}>; rel="last"')
    if page > 1:
        links.append(f'<{url(1)}>; rel="first"')
    return ", ".join(links)


# -- rate limit, orgs, repos ----------------------------------------------------------
def get_rate_limit(app: ApiApp, req: Request) -> Response:
    resources = {name: app.rate_snapshot(req, name) for name in
                 ("core", "graphql", "search", "code_search", "integration_manifest",
                  "dependency_snapshots", "actions_runner_registration")}
    return Response(200, {"resources": resources, "rate": resources["core"]})


def get_org(app: ApiApp, req: Request) -> Response:
    repos = [r for r in app.world.repos_of(req.params["org"]) if app.can_see(req, r)]
    if not repos:
        raise not_found("https://docs.github.com/rest/orgs/orgs#get-an-organization")
    login = repos[0].owner
    return Response(200, app.render.organization(login, repos))


def list_owner_repos(app: ApiApp, req: Request) -> Response:
    owner = req.params["org"]
    if not app.world.owner_exists(owner):
        raise not_found("https://docs.github.com/rest/repos/repos#list-organization-repositories")
    repos = _filter_repos(app, req, app.world.repos_of(owner))
    return _repo_page(app, req, repos)


def list_own_repos(app: ApiApp, req: Request) -> Response:
    return _repo_page(app, req, _filter_repos(app, req, app.world.all_repos()))


def _filter_repos(app: ApiApp, req: Request, repos: list[WorldRepo]) -> list[WorldRepo]:
    repos = [r for r in repos if app.can_see(req, r)]
    kind = req.arg("type") or "all"
    if kind == "public":
        repos = [r for r in repos if not r.meta.private]
    elif kind == "private":
        repos = [r for r in repos if r.meta.private]
    elif kind == "forks":
        repos = [r for r in repos if r.meta.fork]
    elif kind == "sources":
        repos = [r for r in repos if not r.meta.fork]
    if req.arg("direction") == "desc":
        repos = list(reversed(repos))
    return repos


def _repo_page(app: ApiApp, req: Request, repos: list[WorldRepo]) -> Response:
    chunk, headers = paginate(app, req, repos)
    return Response(200, [_caller_view(app, req, r, app.render.repository(r)) for r in chunk],
                    headers)


def get_repo(app: ApiApp, req: Request) -> Response:
    repo = visible_repo(app, req)
    return Response(200, _caller_view(app, req, repo, app.render.repository(repo, full=True)))


def _caller_view(app: ApiApp, req: Request, repo: WorldRepo, body: dict[str, Any]) -> dict:
    """``permissions`` as GitHub reports them for the caller: a token that may not
    dispatch (emulator.yml ``dispatch: false``) has no push (preflight reads this)."""
    push = app.can_dispatch(req, repo)
    body["permissions"] = {"admin": False, "maintain": False, "push": push, "triage": push,
                           "pull": True}
    return body


# -- contents -------------------------------------------------------------------------
def get_contents(app: ApiApp, req: Request) -> Response:
    repo = visible_repo(app, req)
    ref = req.arg("ref")
    if not repo.head_sha():
        raise ApiError(404, "This repository is empty.", DOC_CONTENTS)
    commit = repo.resolve_ref(ref)
    if commit is None:
        raise ApiError(404, f"No commit found for the ref {ref}", DOC_CONTENTS)
    path = req.params.get("path", "") or ""
    entry = repo.entry(path, commit)
    if entry is None:
        raise not_found(DOC_CONTENTS)
    shown_ref = ref or repo.default_branch
    accept = req.headers.get("accept", "")
    if entry.kind == "dir":
        listing = [
            app.render.content_links(repo, child, shown_ref)
            for child in repo.list_dir(entry.sha, entry.path)
            if child.kind != "submodule"
        ]
        return Response(200, listing)
    data = repo.blob(entry.sha)
    if any(kind in accept for kind in RAW_TYPES):
        return Response(200, data, content_type="application/vnd.github.raw; charset=utf-8",
                        blobs=1)
    return Response(200, app.render.content_file(repo, entry, shown_ref, data), blobs=1)


# -- dispatch -------------------------------------------------------------------------
def dispatch_target(app: ApiApp, req: Request, doc: str) -> WorldRepo:
    """The repository a dispatch (repository or workflow) goes to, refused as GitHub
    refuses both: 404 unseen, 403 without write access, disabled or archived."""
    repo = visible_repo(app, req)
    if not app.can_dispatch(req, repo):
        message = ("Resource not accessible by integration" if req.is_run_token
                   else "Resource not accessible by personal access token")
        raise ApiError(403, message, doc)
    if repo.meta.disabled:
        raise ApiError(403, "Repository access blocked", doc)
    if repo.meta.archived:
        raise ApiError(403, "Repository was archived so is read-only.", doc)
    return repo


def refuse_if_content_limited(app: ApiApp, req: Request) -> None:
    """403 with Retry-After while the token is over the secondary limit on writes."""
    retry = app.limiter.content_retry_after(req.rate_key)
    if retry is not None:
        raise ApiError(403, SECONDARY_MESSAGE, RATE_DOCS, headers={"retry-after": str(retry)})


def after_create_faults(app: ApiApp, records: list[RunRecord]) -> None:
    """The world's faults on a dispatch that created ``records``: their runs show late
    in the runs list, or the answer is a 5xx although they were created."""
    delay = app.faults.run_delay()
    if delay > 0:
        visible = utcnow() + timedelta(seconds=delay)
        for record in records:
            record.visible_at = visible
    status = app.faults.fail_after_create()
    if status is not None:
        raise ApiError(status, "Server Error" if status >= 500 else "Error")


def create_dispatch(app: ApiApp, req: Request) -> Response:
    repo = dispatch_target(app, req, DOC_DISPATCH)
    event_type, payload = _dispatch_body(req)
    refuse_if_content_limited(app, req)
    if app.faults.drop_dispatch():
        return Response(204)
    records = app.dispatch(repo.full_name, event_type, payload, req.login)
    after_create_faults(app, records)
    return Response(204)


def _dispatch_body(req: Request) -> tuple[str, dict[str, Any]]:
    body = req.json()
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _invalid(f"For 'links/0/schema', {_show(body)} is not an object.")
    if "event_type" not in body:
        raise _invalid('"event_type" wasn\'t supplied.')
    event_type = body["event_type"]
    if not isinstance(event_type, str):
        raise _invalid(f"For 'properties/event_type', {_show(event_type)} is not a string.")
    if not event_type:
        raise _invalid(
            "For 'properties/event_type', \"\" is too short (minimum is 1 characters)."
        )
    if len(event_type) > MAX_EVENT_TYPE:
        raise _invalid(
            f"For 'properties/event_type', {_show(event_type)} is too long "
            f"(maximum is {MAX_EVENT_TYPE} characters)."
        )
    payload = body.get("client_payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise _invalid(f"For 'properties/client_payload', {_show(payload)} is not an object.")
    if len(payload) > MAX_PAYLOAD_KEYS:
        raise _invalid(
            f"No more than {MAX_PAYLOAD_KEYS} properties are allowed; "
            f"{len(payload)} were supplied."
        )
    if len(json.dumps(payload, separators=(",", ":")).encode()) >= MAX_PAYLOAD_BYTES:
        raise _invalid("client_payload is too large")
    return event_type, payload


def _invalid(detail: str) -> ApiError:
    return ApiError(422, f"Invalid request.\n\n{detail}", DOC_DISPATCH, extra={"status": "422"})


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- workflows and runs ---------------------------------------------------------------
def list_workflows(app: ApiApp, req: Request) -> Response:
    repo = visible_repo(app, req)
    items = [app.render.workflow(repo, path, workflow_id_for(repo.full_name, path), name)
             for path, name in _workflow_files(repo)]
    chunk, headers = paginate(app, req, items)
    return Response(200, {"total_count": len(items), "workflows": chunk}, headers)


def get_workflow(app: ApiApp, req: Request) -> Response:
    repo = visible_repo(app, req)
    wanted = req.params["workflow"]
    for path, name in _workflow_files(repo):
        number = workflow_id_for(repo.full_name, path)
        if wanted == str(number) or wanted == path.rsplit("/", 1)[-1]:
            return Response(200, app.render.workflow(repo, path, number, name))
    raise not_found("https://docs.github.com/rest/actions/workflows#get-a-workflow")


def _workflow_files(repo: WorldRepo) -> list[tuple[str, str]]:
    return [(path, _workflow_name(repo, path))
            for path in repo.list_files(".github/workflows/") if is_workflow_path(path)]


def _workflow_name(repo: WorldRepo, path: str) -> str:
    try:
        return parse_workflow(path, repo.read_file(path) or b"").display_name
    except WorkflowError:
        return path


def list_runs(app: ApiApp, req: Request) -> Response:
    repo = visible_repo(app, req)
    runs = [r for r in app.store.list_runs(repo.full_name) if app.run_visible(r)]
    if "workflow" in req.params:
        runs = _for_workflow(repo, runs, req.params["workflow"])
    runs, filtered = _filter_runs(app, req, runs)
    if filtered:
        runs = runs[:MAX_FILTERED_RESULTS]
    chunk, headers = paginate(app, req, runs)
    repo_json = app.render.repository(repo) if chunk else None  # one repo: render it once
    body = {"total_count": len(runs),
            "workflow_runs": [app.render_run(r, repo_json) for r in chunk]}
    return Response(200, body, headers)


def _for_workflow(repo: WorldRepo, runs: list[RunRecord], wanted: str) -> list[RunRecord]:
    if confine.valid_id(wanted):  # an id (str.isdigit also takes "²")
        number = int(wanted)
        matched = [r for r in runs if r.workflow_id == number]
        known = any(workflow_id_for(repo.full_name, p) == number for p, _ in _workflow_files(repo))
    else:
        matched = [r for r in runs if r.workflow_path.rsplit("/", 1)[-1] == wanted]
        known = any(p.rsplit("/", 1)[-1] == wanted for p, _ in _workflow_files(repo))
    if not matched and not known:
        raise not_found("https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow")
    return matched


def _filter_runs(app: ApiApp, req: Request, runs: list[RunRecord]) -> tuple[list[RunRecord], bool]:
    filtered = False
    for name in ("event", "branch", "actor", "head_sha"):
        wanted = req.arg(name)
        if wanted:
            filtered = True
            attr = {"branch": "head_branch"}.get(name, name)
            runs = [r for r in runs if getattr(r, attr) == wanted]
    status = req.arg("status")
    if status:
        filtered = True
        if status not in RUN_STATUSES | RUN_CONCLUSIONS:
            raise ApiError(422, f"Invalid status '{status}'", DOC_RUNS, extra={"status": "422"})
        runs = [r for r in runs if r.status == status or r.conclusion == status]
    created = req.arg("created")
    if created:
        filtered = True
        low, high = parse_created(created)
        skew = timedelta(seconds=app.faults.clock_skew)
        runs = [r for r in runs if _in_window(r.created_at + skew, low, high)]
    return runs, filtered


def _in_window(moment: datetime, low: tuple[datetime, bool] | None,
               high: tuple[datetime, bool] | None) -> bool:
    moment = moment.replace(microsecond=0)  # GitHub compares at second resolution
    if low is not None and (moment < low[0] or (moment == low[0] and not low[1])):
        return False
    return not (high is not None and (moment > high[0] or (moment == high[0] and not high[1])))


Bound = tuple[datetime, bool]  # (moment, inclusive)


def parse_created(text: str) -> tuple[Bound | None, Bound | None]:
    """GitHub's search date syntax: ``>=T``, ``>T``, ``<=T``, ``<T``, ``A..B`` (``*`` open),
    or a bare date/time (that day, or that second)."""
    text = text.strip()
    try:
        for op in (">=", "<=", ">", "<"):
            if text.startswith(op):
                moment = _parse_time(text[len(op):], end=op in ("<=", ">"))
                inclusive = "=" in op
                return ((moment, inclusive), None) if op[0] == ">" else (None, (moment, inclusive))
        if ".." in text:
            left, _, right = text.partition("..")
            low = None if left in ("", "*") else (_parse_time(left, end=False), True)
            high = None if right in ("", "*") else (_parse_time(right, end=True), True)
            return low, high
        return (_parse_time(text, end=False), True), (_parse_time(text, end=True), True)
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise ApiError(
            422, f"Invalid created filter {text!r} (e.g. >=2026-01-01T00:00:00Z or A..B)",
            DOC_RUNS, extra={"status": "422"},
        ) from None


def _parse_time(text: str, end: bool) -> datetime:
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
        return day + timedelta(days=1, seconds=-1) if end else day
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def _visible_run(app: ApiApp, req: Request) -> tuple[WorldRepo, RunRecord]:
    repo = visible_repo(app, req)
    try:
        run = app.store.get(int(req.params["run_id"]))
    except ValueError:
        run = None
    if run is None or run.repo.lower() != repo.full_name.lower() or not app.run_visible(run):
        raise not_found("https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run")
    return repo, run


def get_run(app: ApiApp, req: Request) -> Response:
    _, run = _visible_run(app, req)
    return Response(200, app.render_run(run))


def list_jobs(app: ApiApp, req: Request) -> Response:
    _, run = _visible_run(app, req)
    with app.store.lock:
        jobs = [app.render.job(run, job) for job in run.jobs]
    chunk, headers = paginate(app, req, jobs)
    return Response(200, {"total_count": len(jobs), "jobs": chunk}, headers)


def get_job(app: ApiApp, req: Request) -> Response:
    repo = visible_repo(app, req)
    try:
        job = app.store.find_job(int(req.params["job_id"]))
    except ValueError:
        job = None
    run = app.store.get(job.run_id) if job else None
    if job is None or run is None or run.repo.lower() != repo.full_name.lower() \
            or not app.run_visible(run):
        raise not_found("https://docs.github.com/rest/actions/workflow-jobs#get-a-job-for-a-workflow-run")
    with app.store.lock:
        return Response(200, app.render.job(run, job))


def cancel_run(app: ApiApp, req: Request) -> Response:
    repo, run = _visible_run(app, req)
    if not app.can_dispatch(req, repo):
        raise ApiError(403, "Resource not accessible by personal access token", DOC_CANCEL)
    if run.status == "completed" or not app.runner.cancel(run.id):
        raise ApiError(409, "Cannot cancel a workflow run that is completed.", DOC_CANCEL)
    return Response(202, {})


def rerun_run(app: ApiApp, req: Request) -> Response:
    repo, run = _visible_run(app, req)
    doc = "https://docs.github.com/rest/actions/workflow-runs#re-run-a-workflow"
    if not app.can_dispatch(req, repo):
        raise ApiError(403, "Resource not accessible by personal access token", doc)
    if run.status != "completed":
        raise ApiError(403, "This workflow is already running", doc)
    refuse_if_content_limited(app, req)
    if not app.runner.rerun(run.id):
        raise ApiError(403, "This workflow is already running", doc)
    return Response(201, {})


def list_annotations(app: ApiApp, req: Request) -> Response:
    repo = visible_repo(app, req)
    doc = "https://docs.github.com/rest/checks/runs#list-check-run-annotations"
    try:
        job = app.store.find_job(int(req.params["job_id"]))
    except ValueError:
        job = None
    run = app.store.get(job.run_id) if job else None
    if job is None or run is None or run.repo.lower() != repo.full_name.lower():
        raise not_found(doc)
    with app.store.lock:
        notes = [app.render.annotation(run, note) for note in job.annotations]
    chunk, headers = paginate(app, req, notes)
    return Response(200, chunk, headers)


def now_epoch() -> int:
    return int(time.time())
