"""PyGithub 2.x, unchanged, against the emulator: the client the project ships with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from github import Auth, Github, GithubException, UnknownObjectException

from tako_gha.emulator import Emulator

pytestmark = pytest.mark.timeout(60)

LISTENER = """name: listener
run-name: ${{ github.event.client_payload.title || github.workflow }}
on:
  repository_dispatch:
    types: [library_built]
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - run: |
          grep -q '"version": "2.0.0"' "$GITHUB_EVENT_PATH" || { echo "wrong payload"; exit 1; }
"""


@pytest.fixture
def world(make_world: Callable[..., Path]) -> Path:
    repos: dict[str, dict[str, str]] = {
        f"acme/svc-{i:02d}": {"tako.yml": f"version: 1\n# {i}\n"} for i in range(35)
    }
    repos["acme/app"] = {"tako.yml": "version: 1\n", ".github/workflows/l.yml": LISTENER}
    return make_world(repos)


def test_pygithub_lists_reads_dispatches_and_follows_runs(
    world: Path, start_emulator: Callable[..., Emulator]
) -> None:
    emu = start_emulator(world)
    gh = Github(auth=Auth.Token(emu.admin_token), base_url=emu.base_url, per_page=10,
                seconds_between_requests=0, seconds_between_writes=0, retry=None)
    names = [r.full_name for r in gh.get_organization("acme").get_repos()]
    assert len(names) == 36 and names == sorted(names)  # 4 pages followed via Link

    repo = gh.get_repo("acme/svc-07")
    assert repo.get_contents("tako.yml").decoded_content == b"version: 1\n# 7\n"
    with pytest.raises(UnknownObjectException):
        repo.get_contents("missing.yml")

    app = gh.get_repo("acme/app")
    assert app.create_repository_dispatch(
        "library_built", {"title": "good", "version": "2.0.0"}) is True
    assert app.create_repository_dispatch(
        "library_built", {"title": "bad", "version": "1.0.0"}) is True
    assert emu.wait_idle(30)
    runs = list(app.get_workflow_runs(event="repository_dispatch"))
    assert [r.display_title for r in runs] == ["bad", "good"]
    outcome = {r.display_title: r.conclusion for r in runs}
    assert outcome == {"good": "success", "bad": "failure"}
    again = app.get_workflow_run(runs[0].id)
    assert again.status == "completed" and again.run_attempt == 1
    assert [j.name for j in again.jobs()] == ["check"]
    assert list(app.get_workflow_runs(status="in_progress")) == []
    workflow = app.get_workflow("l.yml")
    assert workflow.name == "listener" and workflow.path == ".github/workflows/l.yml"
    assert workflow.get_runs().totalCount == 2
    job = again.jobs()[0]
    assert app.get_workflow_run(again.id).jobs()[0].id == job.id
    remaining, limit = gh.rate_limiting
    assert limit == 5000 and remaining < limit

    # PyGithub answers False (not an exception) when a dispatch is refused
    assert app.create_repository_dispatch("x" * 101) is False
    assert emu.requests()[-1]["status"] == 422
    with pytest.raises(GithubException) as err:
        gh.get_repo("acme/ghost")
    assert err.value.status == 404
