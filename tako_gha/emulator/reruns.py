"""Re-running a finished run, as GitHub does: ``POST …/runs/{id}/rerun`` (every job)
and ``POST …/runs/{id}/rerun-failed-jobs`` (the jobs that did not succeed, and the
jobs that need them). Both start the next attempt of the *same* run id:
``run_attempt`` counts up, ``previous_attempt_url`` points at the last one, and the
run's status goes back to ``queued``. Jobs kept from the previous attempt keep their
result in the new one without running again (their outputs are not carried over).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tako_gha.emulator.httpkit import ApiError, Request, Response
from tako_gha.emulator.ratelimit import RATE_DOCS, SECONDARY_MESSAGE

if TYPE_CHECKING:
    from tako_gha.emulator.rest import ApiApp

DOC_RERUN_FAILED = ("https://docs.github.com/rest/actions/workflow-runs"
                    "#re-run-failed-jobs-from-a-workflow-run")
OK = ("success", "skipped", "neutral")


def jobs_to_keep(results: dict[str, str], needs: dict[str, list[str]]) -> set[str]:
    """The jobs a failed-jobs re-run keeps: those that succeeded and need no job
    that is run again."""
    again = {job for job, result in results.items() if result not in OK}
    changed = True
    while changed:
        changed = False
        for job, wanted in needs.items():
            if job not in again and again.intersection(wanted):
                again.add(job)
                changed = True
    return {job for job in results if job not in again}


def rerun_failed_jobs(app: ApiApp, req: Request) -> Response:
    from tako_gha.emulator.rest import _visible_run

    repo, run = _visible_run(app, req)
    if not app.can_dispatch(req, repo):
        raise ApiError(403, "Resource not accessible by personal access token",
                       DOC_RERUN_FAILED)
    if run.status != "completed":
        raise ApiError(403, "This workflow is already running", DOC_RERUN_FAILED)
    if run.conclusion in OK:
        # (the emulator's wording) nothing failed, so there is nothing to re-run
        raise ApiError(403, "This workflow run has no failed jobs to re-run",
                       DOC_RERUN_FAILED)
    retry = app.limiter.content_retry_after(req.rate_key)
    if retry is not None:
        raise ApiError(403, SECONDARY_MESSAGE, RATE_DOCS, headers={"retry-after": str(retry)})
    if not app.runner.rerun(run.id, failed_only=True):
        raise ApiError(403, "This workflow is already running", DOC_RERUN_FAILED)
    return Response(201, {})
