"""Log endpoints, as GitHub serves them:

- ``GET /repos/{o}/{r}/actions/jobs/{job_id}/logs`` answers ``302`` with a
  ``Location`` to a plain-text download of the job's log;
- ``GET /repos/{o}/{r}/actions/runs/{run_id}/logs`` answers ``302`` to a zip of every
  job's log (``{i}_{job}.txt``) and of every step (``{job}/{n}_{step}.txt``).

The downloads (``/_emulator/logs/jobs/{id}`` and ``/_emulator/logs/runs/{id}``) need
no token, like GitHub's signed storage links, and expire after a minute the same way:
the link carries ``expires`` and an HMAC ``sig``; a stale or altered link is ``403``.
Lines are masked by the runner (secrets, the run token, ``::add-mask::`` values) and
timestamped in GitHub's format (``emulator.logs``).
"""

from __future__ import annotations

import re
from typing import Any

from tako_gha.emulator.httpkit import ApiError, Request, Response, Router, not_found
from tako_gha.emulator.logs import JobLog, JobLogFile, LinkSigner, run_zip
from tako_gha.emulator.state import JobRecord, RunRecord

DOWNLOAD_PREFIX = "/_emulator/logs/"
SIGNER = LinkSigner()  # one key per emulator process
_EXPIRES = re.compile(r"[0-9]{1,20}")  # a Unix time
_SIG = re.compile(r"[0-9a-f]{64}")  # an HMAC-SHA256 in hex
_JOB_DOC = "https://docs.github.com/rest/actions/workflow-jobs#download-job-logs-for-a-workflow-run"
_RUN_DOC = "https://docs.github.com/rest/actions/workflow-runs#download-workflow-run-logs"


def register(router: Router) -> None:
    router.add("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs", "logs", job_logs)
    router.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/logs", "logs", run_logs)


def job_log_of(app: Any, job_id: int) -> JobLog | None:
    """The runner's log of a job (None: never ran, or a runner that keeps no logs)."""
    reader = getattr(app.runner, "job_log_record", None)
    return reader(job_id) if reader is not None else None


def _redirect(app: Any, path: str) -> Response:
    return Response(302, None, {"Location": app.base_url + SIGNER.sign(path)},
                    content_type="text/html; charset=utf-8")


def job_logs(app: Any, req: Request) -> Response:
    from tako_gha.emulator.rest import visible_repo

    repo = visible_repo(app, req)
    job, run = _job_and_run(app, req.params["job_id"])
    if job is None or run is None or run.repo.lower() != repo.full_name.lower() \
            or not app.run_visible(run):
        raise not_found(_JOB_DOC)
    return _redirect(app, f"{DOWNLOAD_PREFIX}jobs/{job.id}")


def run_logs(app: Any, req: Request) -> Response:
    from tako_gha.emulator.rest import visible_repo

    repo = visible_repo(app, req)
    run = _run(app, req.params["run_id"])
    if run is None or run.repo.lower() != repo.full_name.lower() or not app.run_visible(run):
        raise not_found(_RUN_DOC)
    return _redirect(app, f"{DOWNLOAD_PREFIX}runs/{run.id}")


def download(app: Any, req: Request) -> Response:
    """A log download link (admin surface: no token, but signed and short-lived)."""
    path = req.path
    expires, sig = req.arg("expires") or "", req.arg("sig") or ""
    # The shape a signed link has, before the signer reads it: str.isdigit takes "²"
    # (int() then fails), int() refuses 5,000 digits, compare_digest non-ASCII text.
    well_formed = _EXPIRES.fullmatch(expires) and _SIG.fullmatch(sig)
    if not well_formed or not SIGNER.check(path, expires, sig):
        raise ApiError(403, "This log link is not valid or has expired; ask the logs "
                            "endpoint for a new one")
    kind, _, number = path.removeprefix(DOWNLOAD_PREFIX).partition("/")
    skew = app.faults.clock_skew
    if kind == "jobs":
        job, _run_record = _job_and_run(app, number)
        if job is None:
            raise not_found()
        log = job_log_of(app, job.id)
        text = log.text(skew) if log is not None else ""
        return Response(200, text.encode("utf-8"), content_type="text/plain; charset=utf-8")
    if kind == "runs":
        run = _run(app, number)
        if run is None:
            raise not_found()
        with app.store.lock:
            jobs = [(j.id, j.name, [(s.number, s.name) for s in j.steps]) for j in run.jobs]
        files = [JobLogFile(name, steps, job_log_of(app, job_id))
                 for job_id, name, steps in jobs]
        return Response(200, run_zip(files, skew), content_type="application/zip",
                        headers={"Content-Disposition":
                                 f"attachment; filename=logs_{run.id}.zip"})
    raise not_found()


def _run(app: Any, number: str) -> RunRecord | None:
    try:
        return app.store.get(int(number))
    except ValueError:
        return None


def _job_and_run(app: Any, number: str) -> tuple[JobRecord | None, RunRecord | None]:
    try:
        job = app.store.find_job(int(number))
    except ValueError:
        return None, None
    return job, (app.store.get(job.run_id) if job is not None else None)
