"""The forge's workflow dispatch against the emulator: the run id from the answer, the
GHES fallback learnt once per host, refusals named, never retried, and run states read
by the answer's URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.forge import exact
from tako_gha.forge.base import (
    AmbiguousDispatchError,
    NotDispatchableError,
    UnexpectedInputsError,
    ValidationError,
)
from tako_gha.forge.github import GitHubForge

pytestmark = pytest.mark.timeout(60)

RELEASE = """name: release
on:
  workflow_dispatch:
    inputs:
      version: {required: true}
      tako: {}
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""
LEGACY = """name: legacy
on:
  repository_dispatch:
    types: [built]
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


@pytest.fixture(autouse=True)
def _fresh_hosts() -> Iterator[None]:
    exact.forget_hosts()
    yield
    exact.forget_hosts()


def _emulator(tmp_path: Path, settings: dict | None = None) -> Emulator:
    world = write_world(tmp_path / "world", {
        "acme/app": {".github/workflows/release.yml": RELEASE,
                     ".github/workflows/legacy.yml": LEGACY}}, settings)
    return Emulator(world)


def test_the_answer_names_the_run(tmp_path: Path) -> None:
    with _emulator(tmp_path) as emu:
        forge = GitHubForge(emu.base_url, token=emu.admin_token)
        answer = forge.dispatch_workflow("acme/app", "release.yml", "main",
                                         {"version": "1.2.0"})
        assert answer.run_id is not None and answer.note is None
        run = forge.get_run("acme/app", answer.run_id)
        assert run.event == "workflow_dispatch" and run.html_url == answer.html_url
        assert answer.run_url.endswith(f"/repos/acme/app/actions/runs/{answer.run_id}")
        states = forge.run_states_by_url([answer.html_url])
        assert states[answer.html_url].run_id == answer.run_id
        assert states[answer.html_url].node_id == run.node_id
        assert forge.run_states_by_url([f"{emu.base_url}/acme/app/actions/runs/999999"]) == {}
        assert emu.wait_idle(30)


def test_ghes_refusal_is_learnt_once_per_host(tmp_path: Path) -> None:
    with _emulator(tmp_path, {"features": {"return_run_details": False}}) as emu:
        forge = GitHubForge(emu.base_url, token=emu.admin_token)
        first = forge.dispatch_workflow("acme/app", "release.yml", "main", {"version": "1"})
        assert first.run_id is None
        assert first.note and "does not return run details" in first.note
        other = forge.worker()  # another forge of the same process, same host
        second = other.dispatch_workflow("acme/app", "release.yml", "main", {"version": "2"})
        assert second.run_id is None and second.note is None
        statuses = [entry["status"] for entry in emu.requests()
                    if entry["path"].endswith("/dispatches")]
        assert statuses == [422, 204, 204]  # one refusal, then never asked again
        assert emu.wait_idle(30)
        assert len(emu.runs.all_runs()) == 2


def test_refusals_are_named(tmp_path: Path) -> None:
    with _emulator(tmp_path) as emu:
        forge = GitHubForge(emu.base_url, token=emu.admin_token)
        with pytest.raises(NotDispatchableError, match="does not listen on workflow_dispatch"):
            forge.dispatch_workflow("acme/app", "legacy.yml", "main", {})
        with pytest.raises(UnexpectedInputsError) as caught:
            forge.dispatch_workflow("acme/app", "release.yml", "main",
                                    {"version": "1", "nope": "x"})
        assert caught.value.names == ("nope",)
        with pytest.raises(ValidationError, match="GitHub allows 25"):
            forge.dispatch_workflow("acme/app", "release.yml", "main",
                                    {str(i): "x" for i in range(26)})
        assert emu.runs.all_runs() == []


def test_a_lost_answer_is_never_sent_again(tmp_path: Path) -> None:
    with _emulator(tmp_path) as emu:
        emu.set_faults({"dispatch": {"fail_after_create": {"status": 502, "next": 1}}})
        forge = GitHubForge(emu.base_url, token=emu.admin_token)
        with pytest.raises(AmbiguousDispatchError):
            forge.dispatch_workflow("acme/app", "release.yml", "main", {"version": "1"})
        posts = [e for e in emu.requests() if e["path"].endswith("/dispatches")]
        assert len(posts) == 1  # a 5xx to a dispatch is the caller's to resolve
        assert emu.wait_idle(30)
        assert len(emu.runs.all_runs()) == 1


def test_workflow_files_are_read_in_one_query(tmp_path: Path) -> None:
    with _emulator(tmp_path) as emu:
        forge = GitHubForge(emu.base_url, token=emu.admin_token)
        items = [("acme/app", "main", ".github/workflows/release.yml"),
                 ("acme/app", "main", ".github/workflows/legacy.yml"),
                 ("acme/app", "main", ".github/workflows/ghost.yml"),
                 ("acme/nope", "main", ".github/workflows/release.yml")]
        texts = forge.read_files(items)
        assert texts[items[0]] == RELEASE and texts[items[1]] == LEGACY
        assert texts[items[2]] is None and texts[items[3]] is None
        assert [e["path"] for e in emu.requests()] == ["/graphql"]


def test_a_204_to_a_request_for_run_details_is_learnt_the_same_way() -> None:
    """An older server that ignores `return_run_details` answers 204 and names no run:
    the dispatch counts as sent (no second POST), the host is learnt once (said once),
    and the next dispatch there goes without the property."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    bodies: list[dict] = []

    class Ignoring(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ignoring)
    server.daemon_threads, server.block_on_close = True, False  # never wait on a client
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        forge = GitHubForge(base, token="t", write_interval=0.0)
        first = forge.dispatch_workflow("acme/app", "release.yml", "main", {"version": "1"})
        assert first.run_id is None
        assert first.note and "answered a workflow dispatch with HTTP 204" in first.note
        second = forge.worker().dispatch_workflow("acme/app", "release.yml", "main",
                                                  {"version": "2"})
        assert second.run_id is None and second.note is None
        assert [b.get("return_run_details") for b in bodies] == [True, None]
        assert [b["inputs"]["version"] for b in bodies] == ["1", "2"]
    finally:
        server.shutdown()
        server.server_close()
