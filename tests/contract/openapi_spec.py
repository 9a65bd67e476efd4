"""Fetching GitHub's OpenAPI description (``@octokit/openapi``) into a local cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

PACKAGE = "@octokit/openapi@23.0.2"
MEMBER = "package/generated/api.github.com.json"
SPEC_NAME = "api.github.com-23.0.2.json"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tako-gha" / "openapi"


def fetch_spec() -> Path:
    return npm_member(PACKAGE, MEMBER, cache_dir() / SPEC_NAME, "GitHub's OpenAPI description")


def npm_member(package: str, member: str, target: Path, what: str) -> Path:
    """``member`` of the npm ``package`` tarball, cached at ``target`` (fetched once)."""
    if target.is_file() and target.stat().st_size > 1_000_000:
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: cannot fetch {what} ({package}); install "
                    "Node.js/npm to run the contract tests")
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [npm, "pack", package, "--silent", "--pack-destination", str(target.parent)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm pack {package} failed: {proc.stderr.strip()[-500:]}")
    tarball = target.parent / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        source = archive.extractfile(archive.getmember(member))
        assert source is not None
        partial = target.with_suffix(".part")
        with open(partial, "wb") as out:
            shutil.copyfileobj(source, out)
        partial.replace(target)  # atomic: a half-written file is never used
    tarball.unlink(missing_ok=True)
    return target
