"""Workflow run artifacts, as GitHub has them (docs/emulator.md, Artifacts).

- A run uploads with ``actions/upload-artifact`` (a built-in of the emulator, which
  calls ``ArtifactStore.upload`` for the run doing it), or through the results
  service stand-in ``PUT /_results/runs/{run_id}/artifacts/{name}`` (a zip body) with
  the runtime token ``ArtifactStore.runtime_token`` gave that run: like the runner's
  ``ACTIONS_RUNTIME_TOKEN``, it uploads to its own run only (403 for any other).
- REST, with the OpenAPI shapes: list a run's artifacts
  (``GET /repos/{o}/{r}/actions/runs/{run_id}/artifacts``, ``name``, ``per_page``,
  ``page``, ``direction``), a repository's (``GET /repos/{o}/{r}/actions/artifacts``),
  get one (``…/actions/artifacts/{id}``) and download it (``…/{id}/zip``): a ``302`` to
  a signed URL that works once a minute long, without a token, as on GitHub; ``410``
  when the artifact has expired.
- Retention: ``retention-days`` (1 to 90, GitHub's default 90); past it an artifact is
  listed with ``expired: true`` and cannot be downloaded.

Artifacts live in memory, one store per world (the runner's built-in and the API
server share it through ``store_for``). Reading them is a read like any other (one
REST point); uploading through the results service costs the token nothing, as on
GitHub.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tako_gha.emulator import confine
from tako_gha.emulator.httpkit import ApiError, Request, Response, Router, not_found

if TYPE_CHECKING:
    from tako_gha.emulator.server import ApiApp

DOC = "https://docs.github.com/rest/actions/artifacts"
BLOB_PREFIX = "/_blobs/artifacts/"  # the signed download URLs
UPLOAD_PREFIX = "/_results/runs/"
DEFAULT_RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 90
SIGNED_URL_SECONDS = 60  # GitHub: the download URL expires after 1 minute
MAX_ARTIFACT_BYTES = 10 * 1024 * 1024  # the emulator's bound (GitHub's is far larger)
MAX_ARTIFACTS_PER_RUN = 500
# upload-artifact refuses these in a name (and an empty one)
_BAD_NAME = re.compile(r'["<>|*?\r\n\\/:]')


class ArtifactError(ValueError):
    """An upload GitHub would refuse; the message says why."""


@dataclass
class Artifact:
    id: int
    repo: str  # owner/name as the world spells it
    repo_id: int
    run_id: int
    head_branch: str | None
    head_sha: str | None
    name: str
    data: bytes  # the zip
    created_at: datetime
    expires_at: datetime
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = "sha256:" + hashlib.sha256(self.data).hexdigest()

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def zip_files(files: dict[str, bytes]) -> bytes:
    """An artifact's zip, as upload-artifact makes it (one entry per file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return buffer.getvalue()


class ArtifactStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._artifacts: dict[int, Artifact] = {}
        self._ids = 7_000_000  # distinct from run and job ids in the world
        self._runtime: dict[str, tuple[str, int]] = {}  # runtime token -> (repo, run id)
        self._secret = secrets.token_bytes(16)  # signs download URLs
        self.clock: Any = lambda: datetime.now(timezone.utc)

    # ------------------------------------------------------------ writing
    def runtime_token(self, repo: str, run_id: int) -> str:
        """The token a run uploads with (the runner's ACTIONS_RUNTIME_TOKEN)."""
        token = "rt_" + secrets.token_hex(16)
        with self._lock:
            self._runtime[token] = (repo, run_id)
        return token

    def run_of(self, token: str) -> tuple[str, int] | None:
        with self._lock:
            return self._runtime.get(token)

    def upload(self, repo: str, repo_id: int, run_id: int, name: str, data: bytes, *,
               head_branch: str | None = None, head_sha: str | None = None,
               retention_days: int | None = None, overwrite: bool = False) -> Artifact:
        """Store ``data`` (a zip) as the run's artifact ``name``. ArtifactError for a
        bad name or retention, a name the run already used (unless ``overwrite``), or
        too much data."""
        check_name(name)
        days = DEFAULT_RETENTION_DAYS if retention_days is None else retention_days
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise ArtifactError(f"retention-days must be between 1 and {MAX_RETENTION_DAYS}, "
                                f"not {days}")
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ArtifactError(f"artifact {name!r} is {len(data)} bytes; the emulator keeps "
                                f"at most {MAX_ARTIFACT_BYTES}")
        now = self.clock()
        with self._lock:
            mine = [a for a in self._artifacts.values() if a.run_id == run_id]
            same = [a for a in mine if a.name == name]
            if same and not overwrite:
                raise ArtifactError(
                    f"Failed to CreateArtifact: an artifact with this name already exists on "
                    f"the workflow run: {name}")
            if len(mine) - len(same) >= MAX_ARTIFACTS_PER_RUN:
                raise ArtifactError(f"a run keeps at most {MAX_ARTIFACTS_PER_RUN} artifacts")
            for old in same:
                del self._artifacts[old.id]
            self._ids += 1
            artifact = Artifact(self._ids, repo, repo_id, run_id, head_branch, head_sha, name,
                                data, now, now + timedelta(days=days))
            self._artifacts[artifact.id] = artifact
        return artifact

    # ------------------------------------------------------------ reading
    def get(self, artifact_id: int) -> Artifact | None:
        with self._lock:
            return self._artifacts.get(artifact_id)

    def of_run(self, repo: str, run_id: int) -> list[Artifact]:
        with self._lock:
            return [a for a in self._artifacts.values()
                    if a.run_id == run_id and a.repo.lower() == repo.lower()]

    def of_repo(self, repo: str) -> list[Artifact]:
        with self._lock:
            return [a for a in self._artifacts.values() if a.repo.lower() == repo.lower()]

    def sign(self, artifact_id: int, expires: int) -> str:
        message = f"{artifact_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def check_name(name: str) -> None:
    if not name or not name.strip():
        raise ArtifactError("Provided artifact name input during validation is empty")
    if _BAD_NAME.search(name) or len(name) > 256:
        raise ArtifactError(
            f"The artifact name is not valid: {name!r}. Contains one of the following "
            'characters: Double quote ", Colon :, Less than <, Greater than >, Vertical bar '
            "|, Asterisk *, Question mark ?, Carriage return \\r, Line feed \\n, Backslash "
            "\\, Forward slash /")


_STORES: dict[str, ArtifactStore] = {}
_STORES_LOCK = threading.Lock()


def store_for(world_root: Path | str | None) -> ArtifactStore:
    """The one store of a world (the API server and the runner's built-in share it)."""
    key = str(Path(world_root).resolve()) if world_root is not None else ""
    with _STORES_LOCK:
        found = _STORES.get(key)
        if found is None:
            found = _STORES[key] = ArtifactStore()
        return found


# ---------------------------------------------------------------- REST
def register(router: Router) -> None:
    base = "/repos/{owner}/{repo}/actions"
    router.add("GET", base + "/runs/{run_id}/artifacts", "artifacts", list_run_artifacts)
    router.add("GET", base + "/artifacts", "artifacts", list_repo_artifacts)
    router.add("GET", base + "/artifacts/{artifact_id}", "artifacts", get_artifact)
    router.add("GET", base + "/artifacts/{artifact_id}/{archive_format}", "artifacts",
               download_artifact)


def _store(app: ApiApp) -> ArtifactStore:
    return store_for(getattr(app.world, "root", None))


def render(app: ApiApp, artifact: Artifact) -> dict[str, Any]:
    from tako_gha.emulator.shapes import iso

    base = f"{app.base_url}/repos/{artifact.repo}/actions/artifacts/{artifact.id}"
    skew = app.faults.clock_skew
    return {
        "id": artifact.id,
        "node_id": "MDg6QXJ0aWZhY3Q" + str(artifact.id),
        "name": artifact.name,
        "size_in_bytes": len(artifact.data),
        "url": base,
        "archive_download_url": base + "/zip",
        "expired": artifact.expired(_store(app).clock()),
        "created_at": iso(artifact.created_at, skew),
        "expires_at": iso(artifact.expires_at, skew),
        "updated_at": iso(artifact.created_at, skew),
        "digest": artifact.digest,
        "workflow_run": {"id": artifact.run_id, "repository_id": artifact.repo_id,
                         "head_repository_id": artifact.repo_id,
                         "head_branch": artifact.head_branch or "",
                         "head_sha": artifact.head_sha or ""},
    }


def _listing(app: ApiApp, req: Request, found: list[Artifact]) -> Response:
    from tako_gha.emulator.rest import paginate

    name = req.arg("name")
    if name is not None:
        found = [a for a in found if a.name == name]
    newest_first = (req.arg("direction") or "desc").lower() != "asc"
    found.sort(key=lambda a: a.id, reverse=newest_first)
    page, headers = paginate(app, req, found)
    return Response(200, {"total_count": len(found),
                          "artifacts": [render(app, a) for a in page]}, headers)


def list_run_artifacts(app: ApiApp, req: Request) -> Response:
    from tako_gha.emulator.rest import visible_repo

    repo = visible_repo(app, req)
    run_id = int(req.params["run_id"])
    run = app.store.get(run_id)
    if run is None or run.repo.lower() != repo.full_name.lower():
        raise not_found(DOC)
    return _listing(app, req, _store(app).of_run(repo.full_name, run_id))


def list_repo_artifacts(app: ApiApp, req: Request) -> Response:
    from tako_gha.emulator.rest import visible_repo

    repo = visible_repo(app, req)
    return _listing(app, req, _store(app).of_repo(repo.full_name))


def _artifact(app: ApiApp, req: Request) -> Artifact:
    from tako_gha.emulator.rest import visible_repo

    repo = visible_repo(app, req)
    raw = req.params["artifact_id"]
    if not confine.valid_id(raw):
        raise not_found(DOC)
    artifact = _store(app).get(int(raw))
    if artifact is None or artifact.repo.lower() != repo.full_name.lower():
        raise not_found(DOC)
    return artifact


def get_artifact(app: ApiApp, req: Request) -> Response:
    return Response(200, render(app, _artifact(app, req)))


def download_artifact(app: ApiApp, req: Request) -> Response:
    if req.params["archive_format"] != "zip":
        raise not_found(DOC)
    artifact = _artifact(app, req)
    store = _store(app)
    if artifact.expired(store.clock()):
        raise ApiError(410, "Artifact has expired", DOC)
    expires = int(time.time()) + SIGNED_URL_SECONDS
    query = urlencode({"expires": expires, "sig": store.sign(artifact.id, expires)})
    location = f"{app.base_url}{BLOB_PREFIX}{artifact.id}?{query}"
    return Response(302, None, {"Location": location})


# ---------------------------------------------------------------- outside the API
def is_blob(path: str) -> bool:
    return path.startswith(BLOB_PREFIX)


def serve_blob(app: ApiApp, req: Request) -> Response:
    """A signed download URL: no token, valid until ``expires`` (a refusal after, as
    GitHub's storage answers an expired link)."""
    store = _store(app)
    try:
        artifact_id = int(req.path[len(BLOB_PREFIX):])
        expires = int(req.arg("expires") or "")
    except ValueError:
        raise not_found() from None
    sig = req.arg("sig") or ""
    # compare_digest refuses non-ASCII text (a TypeError, so a 500): such a sig is wrong.
    if not sig.isascii() or not hmac.compare_digest(store.sign(artifact_id, expires), sig):
        raise ApiError(403, "Server failed to authenticate the request.")
    if time.time() > expires:
        raise ApiError(403, "Signed URL has expired.")
    artifact = store.get(artifact_id)
    if artifact is None or artifact.expired(store.clock()):
        raise ApiError(410, "Artifact has expired", DOC)
    return Response(200, artifact.data, content_type="application/zip")


def is_upload(path: str) -> bool:
    return path.startswith(UPLOAD_PREFIX)


_UPLOAD = re.compile(r"^/_results/runs/(?P<run>\d{1,18})/artifacts/(?P<name>[^/]+)$")


def handle_upload(app: ApiApp, req: Request) -> Response:
    """``PUT /_results/runs/{run_id}/artifacts/{name}`` with a zip body and the run's
    runtime token: the results service upload-artifact talks to. A token of another
    run (or none) is refused: a run uploads to its own run only."""
    match = _UPLOAD.match(req.path)
    if req.method != "PUT" or match is None:
        raise not_found()
    header = req.headers.get("authorization", "")
    store = _store(app)
    owner = store.run_of(header.partition(" ")[2].strip())
    if owner is None:
        raise ApiError(401, "Bad credentials")
    repo, run_id = owner
    if run_id != int(match["run"]):
        raise ApiError(403, "The runtime token may upload artifacts to its own run only")
    world_repo = app.world.repo(repo)
    run = app.store.get(run_id)
    retention = req.arg("retention_days")
    try:
        artifact = store.upload(
            repo, world_repo.id if world_repo is not None else 0, run_id, match["name"],
            req.body, head_branch=getattr(run, "head_branch", None),
            head_sha=getattr(run, "head_sha", None),
            retention_days=int(retention) if retention and retention.isdigit() else None,
            overwrite=(req.arg("overwrite") or "").lower() == "true")
    except ArtifactError as exc:
        raise ApiError(409 if "already exists" in str(exc) else 400, str(exc)) from None
    return Response(201, {"id": artifact.id, "size": len(artifact.data)})
