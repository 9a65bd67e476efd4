"""Run artifacts (emulator.artifacts): upload to one's own run only, the REST list, get
and zip download (302 to a signed URL), retention; and one secondary-limit ledger per
token, shared by every client and process that uses it."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.artifacts import ArtifactError, store_for, zip_files
from tako_gha.emulator.testing import call

pytestmark = pytest.mark.timeout(60)

WORKFLOW = """on: repository_dispatch
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


@pytest.fixture
def world_emu(make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
              ) -> tuple[Emulator, Path, list[int]]:
    world = make_world({"acme/a": {".github/workflows/w.yml": WORKFLOW},
                        "acme/b": {"f": "1"}})
    emu = start_emulator(world)
    for _ in range(2):
        assert call(emu.base_url, "POST", "/repos/acme/a/dispatches", emu.admin_token,
                    {"event_type": "go"}).status == 204
    assert emu.wait_idle(30)
    runs = call(emu.base_url, "GET", "/repos/acme/a/actions/runs", emu.admin_token).json()
    return emu, world, sorted(r["id"] for r in runs["workflow_runs"])


def _upload(emu: Emulator, run_id: int, name: str, token: str, data: bytes,
            query: str = "") -> int:
    return call(emu.base_url, "PUT", f"/_results/runs/{run_id}/artifacts/{name}{query}",
                raw=data, headers={"Authorization": f"Bearer {token}"}).status


def test_a_run_uploads_to_its_own_run_only(world_emu: tuple[Emulator, Path, list[int]]
                                           ) -> None:
    emu, world, (first, second) = world_emu
    store = store_for(world)
    token = store.runtime_token("acme/a", first)
    data = zip_files({"report.json": b'{"runs": []}'})
    assert _upload(emu, first, "tako-report", token, data) == 201
    assert _upload(emu, second, "tako-report", token, data) == 403  # another run
    assert _upload(emu, first, "tako-report", "rt_nope", data) == 401
    assert _upload(emu, first, "tako-report", token, data) == 409  # the name is taken
    assert _upload(emu, first, "tako-report", token, data, "?overwrite=true") == 201
    assert _upload(emu, first, "bad:name", token, data) == 400
    listed = call(emu.base_url, "GET", f"/repos/acme/a/actions/runs/{first}/artifacts",
                  emu.admin_token).json()
    assert listed["total_count"] == 1 and listed["artifacts"][0]["name"] == "tako-report"
    assert call(emu.base_url, "GET", f"/repos/acme/a/actions/runs/{second}/artifacts",
                emu.admin_token).json() == {"total_count": 0, "artifacts": []}


def test_list_get_and_download_through_a_signed_url(
        world_emu: tuple[Emulator, Path, list[int]]) -> None:
    emu, world, (first, second) = world_emu
    store = store_for(world)
    store.upload("acme/a", 1, first, "one", zip_files({"a.txt": b"A"}))
    store.upload("acme/a", 1, second, "two", zip_files({"b.txt": b"B"}))
    base = "/repos/acme/a/actions"
    both = call(emu.base_url, "GET", f"{base}/artifacts", emu.admin_token).json()
    assert [a["name"] for a in both["artifacts"]] == ["two", "one"]  # newest first
    named = call(emu.base_url, "GET", f"{base}/artifacts?name=one", emu.admin_token).json()
    assert named["total_count"] == 1
    one = named["artifacts"][0]
    got = call(emu.base_url, "GET", f"{base}/artifacts/{one['id']}", emu.admin_token).json()
    assert got == one and got["workflow_run"]["id"] == first and not got["expired"]
    # another repository does not show it
    assert call(emu.base_url, "GET", f"/repos/acme/b/actions/artifacts/{one['id']}",
                emu.admin_token).status == 404
    moved = call(emu.base_url, "GET", f"{base}/artifacts/{one['id']}/zip", emu.admin_token,
                 follow_redirects=False)
    assert moved.status == 302
    location = moved.headers["location"]
    blob = call(emu.base_url, "GET", location.removeprefix(emu.base_url))  # no token
    assert blob.status == 200
    assert zipfile.ZipFile(io.BytesIO(blob.body)).read("a.txt") == b"A"
    forged = location.replace("sig=", "sig=0")
    assert call(emu.base_url, "GET", forged.removeprefix(emu.base_url)).status == 403
    assert call(emu.base_url, "GET", f"{base}/artifacts/{one['id']}/zip").status == 401


def test_retention_expires_an_artifact(world_emu: tuple[Emulator, Path, list[int]]) -> None:
    emu, world, (first, _) = world_emu
    store = store_for(world)
    artifact = store.upload("acme/a", 1, first, "short", zip_files({"x": b"1"}),
                            retention_days=1)
    path = f"/repos/acme/a/actions/artifacts/{artifact.id}"
    assert call(emu.base_url, "GET", path + "/zip", emu.admin_token,
                follow_redirects=False).status == 302
    now = store.clock()
    store.clock = lambda: now + timedelta(days=1, seconds=1)
    try:
        assert call(emu.base_url, "GET", path, emu.admin_token).json()["expired"] is True
        assert call(emu.base_url, "GET", path + "/zip", emu.admin_token).status == 410
    finally:
        store.clock = lambda: now
    with pytest.raises(ArtifactError, match="retention-days"):
        store.upload("acme/a", 1, first, "long", b"", retention_days=91)


SPEND = """
import sys
from tako_gha.emulator.testing import call
url, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(sum(call(url, "GET", "/repos/acme/b", token).status == 200 for _ in range(n)))
"""


def test_one_secondary_limit_ledger_per_token_across_processes(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    world = make_world({"acme/b": {"f": "1"}},
                       settings={"limits": {"rest_points_per_minute": 10}})
    emu = start_emulator(world)
    # another process spends 6 of the token's 10 points a minute ...
    other = subprocess.run([sys.executable, "-c", SPEND, emu.base_url, "t-shared", "6"],
                           capture_output=True, text=True, timeout=30, check=True)
    assert other.stdout.strip() == "6"
    # ... so this one gets only the 4 left, then GitHub's secondary-limit refusal
    statuses = [call(emu.base_url, "GET", "/repos/acme/b", "t-shared").status
                for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 403]
    # another token has its own minute
    assert call(emu.base_url, "GET", "/repos/acme/b", "t-other").status == 200
    # the stats say it per token, over both processes
    shared = "tok-" + hashlib.sha256(b"t-shared").hexdigest()[:10]
    tokens = call(emu.base_url, "GET", "/_emulator/stats").json()["tokens"]
    assert tokens[shared] == {"requests": 11, "refusals": 1, "peak_rest": 10,
                              "peak_graphql": 0}


UPLOADER = """on: repository_dispatch
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          mkdir -p out && echo '{"runs": [1]}' > out/report.json
      - id: up
        uses: actions/upload-artifact@v4
        with:
          name: tako-report
          path: out
          retention-days: 3
      - run: test -n "${{ steps.up.outputs.artifact-id }}"
      - uses: actions/upload-artifact@v4
        with:
          name: escape
          path: ../../etc/hostname
"""


def test_the_upload_artifact_builtin_stores_the_runs_own_artifact(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    world = make_world({"acme/u": {".github/workflows/u.yml": UPLOADER}})
    emu = start_emulator(world)
    assert call(emu.base_url, "POST", "/repos/acme/u/dispatches", emu.admin_token,
                {"event_type": "go"}).status == 204
    assert emu.wait_idle(30)
    run = call(emu.base_url, "GET", "/repos/acme/u/actions/runs",
               emu.admin_token).json()["workflow_runs"][0]
    assert run["conclusion"] == "failure"  # the last step: a path outside the workspace
    listed = call(emu.base_url, "GET", f"/repos/acme/u/actions/runs/{run['id']}/artifacts",
                  emu.admin_token).json()
    assert [a["name"] for a in listed["artifacts"]] == ["tako-report"]
    artifact = store_for(world).get(listed["artifacts"][0]["id"])
    assert artifact is not None and artifact.run_id == run["id"]
    assert (artifact.expires_at - artifact.created_at).days == 3
    assert zipfile.ZipFile(io.BytesIO(artifact.data)).read("report.json") == \
        b'{"runs": [1]}\n'


def test_a_harness_finishes_held_runs_with_their_report(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    import base64
    import time

    world = make_world({"acme/mid": {".github/workflows/w.yml": WORKFLOW}},
                       settings={"runner": {"simulate": {"duration": "0.1s", "queued": "0.1s",
                                                         "hold": ["acme/mid"]}}})
    emu = start_emulator(world)
    assert call(emu.base_url, "POST", "/repos/acme/mid/dispatches", emu.admin_token,
                {"event_type": "go", "client_payload": {"k": 1}}).status == 204
    held: list = []
    for _ in range(100):
        held = call(emu.base_url, "GET", "/_emulator/held").json()
        if held:
            break
        time.sleep(0.05)
    assert [(h["repo"], h["client_payload"]) for h in held] == [("acme/mid", {"k": 1})]
    time.sleep(0.3)  # past its duration: still in progress, held
    run_id = held[0]["id"]
    path = f"/repos/acme/mid/actions/runs/{run_id}"
    assert call(emu.base_url, "GET", path, emu.admin_token).json()["status"] == "in_progress"
    data = base64.b64encode(zip_files({"tako-report.json": b"{}"})).decode()
    done = call(emu.base_url, "POST", f"/_emulator/held/{run_id}",
                body={"conclusion": "success", "artifacts": {"tako-report-x": data}})
    assert done.status == 200
    run = call(emu.base_url, "GET", path, emu.admin_token).json()
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    listed = call(emu.base_url, "GET", path + "/artifacts", emu.admin_token).json()
    assert [a["name"] for a in listed["artifacts"]] == ["tako-report-x"]
    assert call(emu.base_url, "POST", f"/_emulator/held/{run_id}",
                body={"conclusion": "success"}).status == 404  # not held any more
