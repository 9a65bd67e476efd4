"""Re-running failed jobs: the next attempt of the same run, the jobs that succeeded
kept (not run again), the failed ones and those that need them run again."""

from __future__ import annotations

from pathlib import Path

from tako_gha.emulator import Emulator
from tako_gha.emulator.reruns import jobs_to_keep
from tako_gha.emulator.testing import call
from tako_gha.emulator.worldgen import write_world

TOKEN = "t-admin"


def test_jobs_to_keep_follows_needs() -> None:
    results = {"a": "success", "b": "failure", "c": "success", "d": "skipped"}
    needs = {"a": [], "b": [], "c": ["b"], "d": ["a"]}
    assert jobs_to_keep(results, needs) == {"a", "d"}


def test_rerun_failed_jobs_runs_only_what_failed(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    workflow = f"""name: two
on:
  repository_dispatch:
    types: [go]
jobs:
  steady:
    runs-on: ubuntu-latest
    steps:
      - run: echo "$GITHUB_RUN_ATTEMPT" >> {marks}/steady
  flaky:
    runs-on: ubuntu-latest
    steps:
      - run: echo "$GITHUB_RUN_ATTEMPT" >> {marks}/flaky; test "$GITHUB_RUN_ATTEMPT" -gt 1
"""
    world = write_world(tmp_path / "world", {"acme/app": {".github/workflows/w.yml": workflow}},
                        {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN})
    with Emulator(world, port=0) as emu:
        assert call(emu.base_url, "POST", "/repos/acme/app/dispatches", TOKEN,
                    body={"event_type": "go"}).status == 204
        assert emu.wait_idle(30)
        (run,) = emu.runs.all_runs()
        assert (run.conclusion, run.run_attempt) == ("failure", 1)
        path = f"/repos/acme/app/actions/runs/{run.id}/rerun-failed-jobs"
        assert call(emu.base_url, "POST", path, TOKEN).status == 201
        assert emu.wait_idle(30)
        assert (run.conclusion, run.run_attempt) == ("success", 2)
        assert (marks / "steady").read_text().split() == ["1"]  # kept, not run again
        assert (marks / "flaky").read_text().split() == ["1", "2"]
        assert {j.name: j.conclusion for j in run.jobs} == {"steady": "success",
                                                            "flaky": "success"}
        again = call(emu.base_url, "POST", path, TOKEN)
        assert again.status == 403 and "no failed jobs" in again.json()["message"]
