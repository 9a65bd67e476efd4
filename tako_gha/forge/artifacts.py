"""Reading one file of a run's artifact (the report a child's fan-out leaves for the
root): the run's artifacts listed by name (one request), the artifact's zip through
the short-lived link GitHub answers with (one request; the link itself needs no
token), the file read from the zip within a size bound."""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING

import requests

from tako_gha.forge.base import CallKind, ForgeError

if TYPE_CHECKING:
    from tako_gha.forge.github import GitHubForge

MAX_ZIP_BYTES = 16 * 1024 * 1024


def read_member(forge: GitHubForge, repo: str, run_id: int, name: str, member: str,
                max_bytes: int) -> bytes | None:
    """``member`` of the run's artifact ``name``; None when the run has no such
    artifact (or it expired, or holds no such file). ForgeError when GitHub refuses."""
    owner = repo.split("/", 1)[0]
    listed = forge._request(CallKind.POLL, "GET",
                            f"/repos/{repo}/actions/runs/{int(run_id)}/artifacts",
                            owner=owner, params={"name": name, "per_page": 1})
    if listed.status == 404:
        return None
    if listed.status >= 300:
        raise forge._error(listed, f"list the artifacts of run {run_id} in {repo}", repo)
    data = listed.json()
    found = data.get("artifacts") if isinstance(data, dict) else None
    usable = [a for a in found or [] if isinstance(a, dict) and a.get("name") == name
              and not a.get("expired") and type(a.get("id")) is int]
    if not usable:
        return None
    artifact_id = usable[0]["id"]
    link = forge._request(CallKind.POLL, "GET",
                          f"/repos/{repo}/actions/artifacts/{artifact_id}/zip", owner=owner)
    if link.status in (404, 410):
        return None
    if link.status != 302 or not link.headers.get("location"):
        raise forge._error(link, f"download artifact {artifact_id} of {repo}", repo)
    blob = _download(link.headers["location"], forge._timeout, repo)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            info = archive.getinfo(member)
            if info.file_size > max_bytes:
                return None
            with archive.open(info) as handle:
                return handle.read(max_bytes + 1)[:max_bytes]
    except (KeyError, zipfile.BadZipFile, OSError, ValueError):
        return None


def _download(url: str, timeout: float, repo: str) -> bytes:
    """The zip behind the link (its storage needs no token, so none is sent)."""
    try:
        with requests.get(url, timeout=timeout, stream=True) as resp:
            if resp.status_code >= 300:
                raise ForgeError(f"could not download an artifact of {repo}: "
                                 f"HTTP {resp.status_code}")
            kept = bytearray()
            for chunk in resp.iter_content(64 * 1024):
                kept += chunk
                if len(kept) > MAX_ZIP_BYTES:
                    raise ForgeError(f"an artifact of {repo} is larger than "
                                     f"{MAX_ZIP_BYTES} bytes; not read")
    except requests.exceptions.RequestException as exc:
        raise ForgeError(f"could not download an artifact of {repo}: "
                         f"{type(exc).__name__}") from None
    return bytes(kept)
