"""GitHub's JSON shapes, rendered from world repos and run records.

Complete enough to validate against GitHub's OpenAPI schemas (every required field
present, right types). Every absolute URL points at the emulator itself: PyGithub
follows ``url`` fields and insists they share the base URL's host and port.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

from tako_gha.emulator.settings import RepoMeta
from tako_gha.emulator.state import AnnotationRecord, JobRecord, RunRecord
from tako_gha.emulator.world import FileEntry, WorldRepo, stable_id

DOCS = "https://docs.github.com/rest"
RAW_CONTENT_LIMIT = 1024 * 1024  # over 1 MB the object form has empty content

_REPO_URL_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def iso(moment: datetime | None, skew: float = 0.0) -> str | None:
    """GitHub's timestamp format (UTC, seconds, ``Z``), shifted by the clock skew."""
    if moment is None:
        return None
    shifted = moment.astimezone(timezone.utc) + timedelta(seconds=skew)
    return shifted.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(prefix: str, number: int) -> str:
    return base64.b64encode(f"{prefix}:{number}".encode()).decode().rstrip("=")


class Renderer:
    """Renders records into JSON bodies; knows the server's base URL and skew."""

    def __init__(self, base_url: str, skew: float = 0.0) -> None:
        self.base = base_url.rstrip("/")
        self.skew = skew

    def ts(self, moment: datetime | None) -> str | None:
        return iso(moment, self.skew)

    # -- owners ---------------------------------------------------------------------
    def owner(self, login: str, kind: str = "Organization") -> dict[str, Any]:
        ident = stable_id("owner:" + login)
        api = f"{self.base}/users/{login}"
        return {
            "login": login,
            "id": ident,
            "node_id": node_id("O" if kind == "Organization" else "U", ident),
            "avatar_url": f"{self.base}/_emulator/avatars/{login}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.base}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def organization(self, login: str, repos: list[WorldRepo]) -> dict[str, Any]:
        ident = stable_id("owner:" + login)
        api = f"{self.base}/orgs/{login}"
        public = sum(1 for r in repos if not r.meta.private)
        return {
            "login": login,
            "id": ident,
            "node_id": node_id("O", ident),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.base}/_emulator/avatars/{login}",
            "description": None,
            "name": login,
            "html_url": f"{self.base}/{login}",
            "has_organization_projects": False,
            "has_repository_projects": False,
            "public_repos": public,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "type": "Organization",
            "total_private_repos": len(repos) - public,
            "owned_private_repos": len(repos) - public,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "archived_at": None,
        }

    def actor(self, login: str) -> dict[str, Any]:
        kind = "Bot" if login.endswith("[bot]") else "User"
        return self.owner(login, kind)

    # -- repositories ---------------------------------------------------------------
    def repository(self, repo: WorldRepo, full: bool = False) -> dict[str, Any]:
        api = f"{self.base}/repos/{repo.full_name}"
        head = repo.head_commit()
        pushed = epoch_iso(head.timestamp) if head else "2026-01-01T00:00:00Z"
        meta = repo.meta
        body: dict[str, Any] = {
            "id": repo.id,
            "node_id": node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.owner(repo.owner),
            "private": meta.private,
            "html_url": f"{self.base}/{repo.full_name}",
            "description": meta.description,
            "fork": meta.fork,
            "url": api,
        }
        body.update({key: api + suffix for key, suffix in _REPO_URL_TEMPLATES.items()})
        body.update(self._repository_details(repo, pushed))
        if full:
            body.update({"network_count": 0, "subscribers_count": 0})
            if repo.owner:
                body["organization"] = self.owner(repo.owner)
        return body

    def _repository_details(self, repo: WorldRepo, pushed: str) -> dict[str, Any]:
        """The fields of a repository after its URL templates."""
        meta = repo.meta
        return {
            "git_url": f"git://127.0.0.1/{repo.full_name}.git",
            "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
            "clone_url": f"{self.base}/{repo.full_name}.git",
            "svn_url": f"{self.base}/{repo.full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "size": 0,
            "default_branch": repo.default_branch,
            "open_issues_count": 0,
            "is_template": False,
            "topics": list(meta.topics),
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": meta.archived,
            "disabled": meta.disabled,
            "visibility": "private" if meta.private else "public",
            "pushed_at": pushed,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": pushed,
            "permissions": {
                "admin": False, "maintain": False, "push": True, "triage": True, "pull": True,
            },
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "license": None,
            "forks": 0,
            "open_issues": 0,
            "watchers": 0,
        }

    # -- contents -------------------------------------------------------------------
    def content_links(self, repo: WorldRepo, entry: FileEntry, ref: str) -> dict[str, Any]:
        api = f"{self.base}/repos/{repo.full_name}"
        kind = "trees" if entry.kind == "dir" else "blobs"
        web = "tree" if entry.kind == "dir" else "blob"
        url = f"{api}/contents/{entry.path}?ref={ref}"
        git_url = f"{api}/git/{kind}/{entry.sha}"
        html_url = f"{self.base}/{repo.full_name}/{web}/{ref}/{entry.path}"
        download = None
        if entry.kind == "file":
            download = f"{self.base}/_emulator/raw/{repo.full_name}/{ref}/{entry.path}"
        return {
            "name": entry.name,
            "path": entry.path,
            "sha": entry.sha,
            "size": entry.size,
            "url": url,
            "html_url": html_url,
            "git_url": git_url,
            "download_url": download,
            "type": entry.kind if entry.kind != "symlink" else "symlink",
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def content_file(
        self, repo: WorldRepo, entry: FileEntry, ref: str, data: bytes
    ) -> dict[str, Any]:
        body = self.content_links(repo, entry, ref)
        body["type"] = "file"
        if len(data) > RAW_CONTENT_LIMIT:
            body.update({"content": "", "encoding": "none"})
        else:
            encoded = base64.b64encode(data).decode()
            # GitHub wraps the base64 at 60 columns, each line ending in a newline.
            lines = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
            body.update({"content": "".join(line + "\n" for line in lines), "encoding": "base64"})
        return body

    # -- runs -----------------------------------------------------------------------
    def run(self, run: RunRecord, repo: WorldRepo | None,
            repo_json: dict[str, Any] | None = None) -> dict[str, Any]:
        api = f"{self.base}/repos/{run.repo}"
        run_url = f"{api}/actions/runs/{run.id}"
        if repo_json is None:
            repo_json = self.repository(repo) if repo else self._missing_repo(run.repo)
        suite_id = stable_id(f"suite:{run.id}:{run.run_attempt}")
        return {
            "id": run.id,
            "name": run.workflow_name,
            "node_id": node_id("WFR", run.id),
            "check_suite_id": suite_id,
            "check_suite_node_id": node_id("CS", suite_id),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": run.workflow_path,
            "display_title": run.display_title,
            "run_number": run.run_number,
            "run_attempt": run.run_attempt,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "url": run_url,
            "html_url": f"{self.base}/{run.repo}/actions/runs/{run.id}",
            "pull_requests": [],
            "created_at": self.ts(run.created_at),
            "updated_at": self.ts(run.updated_at),
            "run_started_at": self.ts(run.run_started_at or run.created_at),
            "actor": self.actor(run.actor),
            "triggering_actor": self.actor(run.actor),
            "referenced_workflows": [],
            "jobs_url": f"{run_url}/jobs",
            "logs_url": f"{run_url}/logs",
            "check_suite_url": f"{api}/check-suites/{suite_id}",
            "artifacts_url": f"{run_url}/artifacts",
            "cancel_url": f"{run_url}/cancel",
            "rerun_url": f"{run_url}/rerun",
            "previous_attempt_url": (
                f"{run_url}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None
            ),
            "workflow_url": f"{api}/actions/workflows/{run.workflow_id}",
            "head_commit": self._head_commit(run, repo),
            "repository": repo_json,
            "head_repository": repo_json,
            "head_repository_id": repo_json["id"],
        }

    def _head_commit(self, run: RunRecord, repo: WorldRepo | None) -> dict[str, Any] | None:
        commit = None
        if repo is not None and run.head_sha:
            try:
                commit = repo.head_commit(run.head_sha)
            except LookupError:
                commit = None
        if commit is None:
            return None
        person = {"name": commit.author_name, "email": commit.author_email}
        return {
            "id": commit.sha,
            "tree_id": commit.tree,
            "message": commit.message.rstrip("\n"),
            "timestamp": epoch_iso(commit.timestamp),
            "author": person,
            "committer": dict(person),
        }

    def _missing_repo(self, full_name: str) -> dict[str, Any]:
        """A repo deleted from the world after its run: keep the run renderable."""
        return self.repository(_GoneRepo(full_name))  # type: ignore[arg-type]

    def job(self, run: RunRecord, job: JobRecord) -> dict[str, Any]:
        api = f"{self.base}/repos/{run.repo}"
        return {
            "id": job.id,
            "run_id": run.id,
            "run_url": f"{api}/actions/runs/{run.id}",
            "run_attempt": run.run_attempt,
            "node_id": node_id("CR", job.id),
            "head_sha": run.head_sha,
            "url": f"{api}/actions/jobs/{job.id}",
            "html_url": f"{self.base}/{run.repo}/actions/runs/{run.id}/job/{job.id}",
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": self.ts(run.created_at),
            "started_at": self.ts(job.started_at or run.created_at),
            "completed_at": self.ts(job.completed_at),
            "name": job.name,
            "steps": [
                {
                    "name": step.name,
                    "status": step.status,
                    "conclusion": step.conclusion,
                    "number": step.number,
                    "started_at": self.ts(step.started_at),
                    "completed_at": self.ts(step.completed_at),
                }
                for step in job.steps
            ],
            "check_run_url": f"{api}/check-runs/{job.id}",
            "labels": ["ubuntu-latest"],
            "runner_id": 1 if job.started_at else None,
            "runner_name": "tako-emulator" if job.started_at else None,
            "runner_group_id": 1 if job.started_at else None,
            "runner_group_name": "emulator" if job.started_at else None,
            "workflow_name": run.workflow_name,
            "head_branch": run.head_branch,
        }

    def annotation(self, run: RunRecord, note: AnnotationRecord) -> dict[str, Any]:
        return {
            "path": note.path,
            "blob_href": f"{self.base}/{run.repo}/blob/{run.head_sha}/{note.path}",
            "start_line": note.line,
            "end_line": note.line,
            "start_column": None,
            "end_column": None,
            "annotation_level": note.level,
            "title": note.title or None,
            "message": note.message,
            "raw_details": None,
        }

    def workflow(self, repo: WorldRepo, path: str, workflow_id: int, name: str) -> dict[str, Any]:
        api = f"{self.base}/repos/{repo.full_name}"
        return {
            "id": workflow_id,
            "node_id": node_id("W", workflow_id),
            "name": name,
            "path": path,
            "state": "active",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "url": f"{api}/actions/workflows/{workflow_id}",
            "html_url": f"{self.base}/{repo.full_name}/blob/{repo.default_branch}/{path}",
            "badge_url": f"{self.base}/{repo.full_name}/workflows/{path}/badge.svg",
        }


class _GoneRepo:
    """The fields ``Renderer.repository`` reads, for a repo no longer in the world."""

    def __init__(self, full_name: str) -> None:
        self.owner, _, self.name = full_name.partition("/")
        self.full_name = full_name
        self.meta = RepoMeta()
        self.id = stable_id("repo:" + full_name)
        self.default_branch = "main"

    def head_commit(self, sha: str | None = None) -> None:
        return None


def error_body(message: str, doc: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "documentation_url": doc or DOCS}
    body.update(extra)
    return body
