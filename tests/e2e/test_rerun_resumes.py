"""A person re-runs the producer's failed job ("Re-run failed jobs"): through the
project's action.yml on the emulator, attempt 2 of the producer continues the same
cascade — the child that succeeded keeps its one run, the failed child's run is
re-run as its attempt 2 (same run id), and the cascade concludes success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cascade_world import TOKEN, receiver, start_cascade, sub, tako_yml, trigger, work_step

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import call

pytestmark = pytest.mark.e2e
FLAKY = {"name": "flaky", "run": 'echo "attempt $GITHUB_RUN_ATTEMPT"; '
                                 'test "$GITHUB_RUN_ATTEMPT" -gt 1'}


def _children(emu: Emulator, root: str) -> dict[str, list[Any]]:
    runs: dict[str, list[Any]] = {}
    for run in emu.runs.all_runs():
        if (run.client_payload or {}).get("tako", {}).get("root") == root:
            runs.setdefault(run.repo, []).append(run)
    return runs


def test_rerunning_the_producer_resumes_its_cascade(world: Any, out_dir: Path) -> None:
    repos = {
        "acme/core": {"tako.yml": tako_yml(produces=["built"]),
                      ".github/workflows/cascade.yml": trigger(out_dir, "built")},
        "acme/steady": {"tako.yml": tako_yml(subscriptions=[sub("acme/core", "built")]),
                        ".github/workflows/on-tako.yml": receiver(["built"], [work_step()])},
        "acme/flaky": {"tako.yml": tako_yml(subscriptions=[sub("acme/core", "built")]),
                       ".github/workflows/on-tako.yml": receiver(["built"], [FLAKY])},
    }
    emu = world(repos)
    first = start_cascade(emu, "acme/core", out_dir)
    producer = first.origin_run
    assert (producer.conclusion, producer.run_attempt) == ("failure", 1)
    assert (first.status, first.failed) == ("failure", 1)
    kids = _children(emu, first.root)
    flaky_id = kids["acme/flaky"][0].id
    assert {repo: len(runs) for repo, runs in kids.items()} == {"acme/steady": 1,
                                                                "acme/flaky": 1}

    reply = call(emu.base_url, "POST",
                 f"/repos/acme/core/actions/runs/{producer.id}/rerun-failed-jobs", TOKEN)
    assert reply.status == 201, reply.body
    assert emu.wait_idle(90)
    assert (producer.conclusion, producer.run_attempt) == ("success", 2)
    outputs = (out_dir / "outputs.txt").read_text().splitlines()
    assert outputs[0] == first.root and outputs[1] == "success"  # the same cascade
    kids = _children(emu, first.root)
    # Exactly one run per child: steady kept (attempt 1), flaky's run re-run in place.
    assert {repo: [(r.id, r.run_attempt, r.conclusion) for r in runs]
            for repo, runs in kids.items()} == {
        "acme/steady": [(kids["acme/steady"][0].id, 1, "success")],
        "acme/flaky": [(flaky_id, 2, "success")]}
    log = "\n".join(emu.runner.job_log(job.id) for job in producer.jobs)
    assert f"continuing cascade {first.root}" in log
    assert "re-running the failed jobs of acme/flaky" in log
