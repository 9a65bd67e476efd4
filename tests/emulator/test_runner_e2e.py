"""The runner behind the HTTP API: PyGithub (unchanged) dispatches, lists, polls,
cancels and reruns; steps see the event; annotations come back masked."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from github import Auth, Github

from tako_gha.emulator.testing import call

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

WORKFLOW = """name: build
run-name: ${{ github.event.client_payload.tako.title || github.workflow }}
on:
  repository_dispatch:
    types: [library_built]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: check the event
        env:
          WANT: ${{ github.event.client_payload.want }}
        run: |
          python3 - <<'EOF'
          import json, os
          event = json.load(open(os.environ["GITHUB_EVENT_PATH"]))
          assert event["action"] == "library_built", event
          assert event["repository"]["full_name"] == "acme/app", event
          assert event["client_payload"]["want"] == os.environ["WANT"]
          EOF
          echo "::add-mask::$WANT"
          echo "::warning title=seen::payload says $WANT"
          test "$WANT" = ok
      - name: call the API with the run token
        run: |
          python3 - <<'EOF'
          import os, urllib.request
          req = urllib.request.Request(os.environ["GITHUB_API_URL"] + "/repos/acme/app")
          req.add_header("Authorization", "token " + os.environ["GITHUB_TOKEN"])
          print("api said", urllib.request.urlopen(req).status)
          EOF
"""

SLEEPER = """name: sleeper
on: repository_dispatch
jobs:
  nap:
    steps:
      - run: sleep 30
"""


@pytest.fixture
def world(make_world: Callable[..., Path]) -> Path:
    return make_world(
        {
            "acme/app": {".github/workflows/build.yml": WORKFLOW, "README.md": "app\n"},
            "acme/slow": {".github/workflows/sleep.yml": SLEEPER},
        },
        settings={"secrets": {"TAKO_TOKEN": "t-admin"},
                  "tokens": {"t-admin": {"repos": ["*"]}}, "admin_token": "t-admin"},
    )


def gh(emu) -> Github:
    # PyGithub throttles itself by default (0.25 s per request, 1 s per write)
    return Github(auth=Auth.Token(emu.admin_token), base_url=emu.base_url, retry=None,
                  seconds_between_requests=None, seconds_between_writes=None)


def wait_for_run(repo, title: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in repo.get_workflow_runs(event="repository_dispatch"):
            if run.display_title == title:
                return run
        time.sleep(0.1)
    raise AssertionError(f"no run titled {title!r}")


def wait_completed(run, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.update()
        if run.status == "completed":
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run.id} still {run.status}")


def test_pygithub_dispatch_run_sees_payload_and_can_fail(world: Path, start_emulator) -> None:
    emu = start_emulator(world)
    repo = gh(emu).get_repo("acme/app")
    assert repo.create_repository_dispatch(
        "library_built", {"want": "ok", "tako": {"title": "good [1]"}})
    assert repo.create_repository_dispatch(
        "library_built", {"want": "bad", "tako": {"title": "bad [2]"}})
    assert repo.create_repository_dispatch("other_type", {"want": "ok"})
    good = wait_completed(wait_for_run(repo, "good [1]"))
    bad = wait_completed(wait_for_run(repo, "bad [2]"))
    assert good.conclusion == "success"
    assert bad.conclusion == "failure"
    assert good.event == "repository_dispatch" and good.head_branch == "main"
    assert emu.wait_idle(20)
    assert repo.get_workflow_runs().totalCount == 2  # other_type matched no workflow

    jobs = list(bad.jobs())
    assert [j.conclusion for j in jobs] == ["failure"]
    assert [s.conclusion for s in jobs[0].steps] == ["failure", "skipped"]
    notes = call(emu.base_url, "GET", f"/repos/acme/app/check-runs/{jobs[0].id}/annotations",
                 token=emu.admin_token).json()
    by_level = {n["annotation_level"]: n for n in notes}
    assert by_level["warning"]["message"] == "payload says ***"  # masked value
    assert by_level["warning"]["title"] == "seen"
    assert "exit code 1" in by_level["failure"]["message"]
    good_job = next(iter(good.jobs()))
    assert [s.conclusion for s in good_job.steps] == ["success", "success"]


def test_pygithub_cancel_stops_sleeping_run_and_rerun(world: Path, start_emulator) -> None:
    emu = start_emulator(world)
    repo = gh(emu).get_repo("acme/slow")
    assert repo.create_repository_dispatch("anything", {})
    deadline = time.monotonic() + 20
    run = None
    while time.monotonic() < deadline:
        runs = list(repo.get_workflow_runs(status="in_progress"))
        if runs:
            run = runs[0]
            break
        time.sleep(0.05)
    assert run is not None and run.display_title == "sleeper"
    started = time.monotonic()
    assert run.cancel() is True
    wait_completed(run, 10)
    assert time.monotonic() - started < 5
    assert run.conclusion == "cancelled"
    assert [j.conclusion for j in run.jobs()] == ["cancelled"]
    # a completed run cannot be cancelled again: 409 from the API
    reply = call(emu.base_url, "POST", f"/repos/acme/slow/actions/runs/{run.id}/cancel",
                 token=emu.admin_token)
    assert reply.status == 409
    assert run.rerun() is True
    run.update()
    assert run.run_attempt == 2 and run.status in ("queued", "in_progress")
    assert run.cancel() is True
    wait_completed(run, 10)
    assert run.conclusion == "cancelled"

