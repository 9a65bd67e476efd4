"""``actions/upload-artifact`` as a built-in of the emulator (any ref).

Inputs as the real action reads them: ``name`` (default ``artifact``), ``path`` (files
or directories, one a line, relative to the workspace; glob patterns are not
supported), ``if-no-files-found`` (``warn`` by default, ``error``, ``ignore``),
``retention-days`` (1 to 90; default 90), ``overwrite`` (default false). The files (in
the workspace or the runner's temp) are zipped, named relative to the paths' least
common ancestor as the real action names them, and stored as an artifact of the run doing
the step — its own run, as the real action's runtime token allows — readable through
the REST artifact endpoints (``emulator.artifacts``). Outputs ``artifact-id``,
``artifact-url`` and ``artifact-digest``. A path outside those two, or more data
than the emulator keeps, fails the step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tako_gha.emulator.artifacts import MAX_ARTIFACT_BYTES, ArtifactError, store_for, zip_files
from tako_gha.emulator.composite import ActionIO, Result

MAX_FILES = 10_000


def upload_artifact(io: ActionIO, inputs: dict[str, str], contexts: dict[str, Any]) -> Result:
    github = contexts.get("github") or {}
    name = inputs.get("name", "").strip() or "artifact"
    lines = [ln.strip() for ln in inputs.get("path", "").splitlines() if ln.strip()]
    if not lines:
        io.annotate("failure", "Input required and not supplied: path")
        return "failure", "", {}
    files, problem = _collect([io.workspace, io.temp], io.workspace, lines)
    if problem:
        io.annotate("failure", f"actions/upload-artifact: {problem}")
        return "failure", "", {}
    if not files:
        return _no_files(io, inputs, lines)
    try:
        retention = _retention(inputs.get("retention-days", ""))
        view = io.world.repo(io.repo)
        artifact = store_for(getattr(io.world, "root", None)).upload(
            io.repo, int(getattr(view, "id", 0) or 0), int(github.get("run_id") or 0), name,
            zip_files(files), head_branch=str(github.get("ref_name") or "") or None,
            head_sha=io.sha, retention_days=retention,
            overwrite=inputs.get("overwrite", "").strip().lower() == "true")
    except (ArtifactError, ValueError) as exc:
        io.annotate("failure", f"actions/upload-artifact: {exc}")
        return "failure", "", {}
    io.log(f"Artifact {name} uploaded: {len(files)} file(s), {len(artifact.data)} bytes, "
           f"id {artifact.id}")
    server = str(github.get("server_url") or "")
    url = f"{server}/{io.repo}/actions/runs/{artifact.run_id}/artifacts/{artifact.id}"
    return "success", "", {"artifact-id": str(artifact.id), "artifact-url": url,
                           "artifact-digest": artifact.digest.removeprefix("sha256:")}


def _collect(roots: list[Path], base: Path, lines: list[str]
             ) -> tuple[dict[str, bytes], str]:
    """The files named by ``lines`` (relative to ``base``; directories walked), keyed
    as upload-artifact keys them: relative to the paths' least common ancestor. Only
    files under ``roots`` (the workspace, the runner's temp) are taken; a problem
    (outside them, too much) instead."""
    allowed = [r.resolve() for r in roots]
    targets: list[Path] = []
    for line in lines:
        if any(ch in line for ch in "*?["):
            return {}, f"glob patterns in 'path' are not supported by the emulator: {line!r}"
        target = (base / line).resolve()
        if not any(target.is_relative_to(r) for r in allowed):
            return {}, f"path {line!r} is outside the workspace and the runner's temp"
        targets.append(target)
    existing = [t for t in targets if t.exists()]
    if not existing:
        return {}, ""
    anchors = [t if t.is_dir() else t.parent for t in existing]
    common = Path(os.path.commonpath([str(a) for a in anchors]))
    files: dict[str, bytes] = {}
    size = 0
    for target in existing:
        for path in sorted(target.rglob("*")) if target.is_dir() else [target]:
            real = path.resolve()
            if not any(real.is_relative_to(r) for r in allowed):
                return {}, f"{path} links outside the workspace"
            if not real.is_file():
                continue
            size += real.stat().st_size
            if size > MAX_ARTIFACT_BYTES or len(files) >= MAX_FILES:
                return {}, (f"more than {MAX_ARTIFACT_BYTES} bytes or {MAX_FILES} files; "
                            "the emulator keeps no more in one artifact")
            files[path.relative_to(common).as_posix()] = real.read_bytes()
    return files, ""


def _no_files(io: ActionIO, inputs: dict[str, str], lines: list[str]) -> Result:
    mode = inputs.get("if-no-files-found", "").strip().lower() or "warn"
    text = f"No files were found with the provided path: {' '.join(lines)}. No artifacts " \
           "will be uploaded."
    if mode == "error":
        io.annotate("failure", text)
        return "failure", "", {}
    if mode == "warn":
        io.annotate("warning", text)
    else:
        io.log(text)
    return "success", "", {}


def _retention(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"retention-days must be a whole number of days, not {raw!r}")
    return int(raw)
