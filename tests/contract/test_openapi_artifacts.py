"""The emulator's artifact endpoints (list a run's and a repository's artifacts, get one,
download its zip) validate against GitHub's OpenAPI description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_openapi import check

from tako_gha.emulator import Emulator
from tako_gha.emulator.artifacts import store_for, zip_files
from tako_gha.emulator.testing import call
from tako_gha.emulator.worldgen import write_world

pytestmark = pytest.mark.timeout(180)

WORKFLOW = """on: repository_dispatch
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


def test_artifact_endpoints_match_the_description(openapi: Any, tmp_path: Path) -> None:
    world = write_world(tmp_path / "world", {"acme/app": {".github/workflows/w.yml": WORKFLOW}})
    with Emulator(world) as emu:
        assert call(emu.base_url, "POST", "/repos/acme/app/dispatches", emu.admin_token,
                    {"event_type": "go"}).status == 204
        assert emu.wait_idle(30)
        run_id = call(emu.base_url, "GET", "/repos/acme/app/actions/runs",
                      emu.admin_token).json()["workflow_runs"][0]["id"]
        base = "/repos/acme/app/actions"
        check(openapi, emu, "GET", f"{base}/runs/{run_id}/artifacts", 200)  # none yet
        artifact = store_for(world).upload("acme/app", 1, run_id, "tako-report",
                                           zip_files({"report.json": b"{}"}),
                                           head_branch="main", head_sha="0" * 40)
        listed = check(openapi, emu, "GET",
                       f"{base}/runs/{run_id}/artifacts?name=tako-report&per_page=1", 200)
        assert listed.json()["artifacts"][0]["id"] == artifact.id
        check(openapi, emu, "GET", f"{base}/artifacts", 200)
        check(openapi, emu, "GET", f"{base}/artifacts/{artifact.id}", 200)
        check(openapi, emu, "GET", f"{base}/artifacts/{artifact.id}/zip", 302,
              follow_redirects=False)
        check(openapi, emu, "GET", f"{base}/artifacts/99999999", 404)
        check(openapi, emu, "GET", f"{base}/runs/99999999/artifacts", 404)
