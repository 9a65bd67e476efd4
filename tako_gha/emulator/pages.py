"""A minimal web page for each run, at the ``html_url`` the API gives it.

``GET /{owner}/{repo}/actions/runs/{run_id}`` shows the run (title, workflow, event,
status and conclusion) and every job: its steps with their conclusions and durations,
its annotations, its summary (Markdown) and its log (timestamped and masked, as the
logs endpoints serve it, read as GitHub's page reads it: see ``emulator.pagelog``).
``…/runs/{run_id}/job/{job_id}`` (a job's ``html_url``) shows that job only. Like the
log downloads, the pages need no token (the emulator listens on loopback only); a run
hidden by a ``run_delay`` fault is not found yet, like in the API.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import escape
from typing import Any

from tako_gha.emulator.httpkit import Request, Response
from tako_gha.emulator.logroutes import job_log_of
from tako_gha.emulator.pagelog import STYLE as LOG_STYLE
from tako_gha.emulator.pagelog import log_html, summary_html
from tako_gha.emulator.state import JobRecord, RunRecord

# ids are ASCII digits of a sane length: \d would take "²" and 5,000-digit numbers,
# which int() refuses (a 500)
_PAGE = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run>[0-9]{1,30})"
                   r"(?:/job/(?P<job>[0-9]{1,30}))?/?$")
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#1f2328}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:2em} table{border-collapse:collapse}
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left}
.success{color:#1a7f37} .failure,.timed_out{color:#cf222e} .cancelled,.skipped{color:#59636e}
"""


def is_page(path: str) -> bool:
    return _PAGE.match(path) is not None


def handle(app: Any, req: Request) -> Response:
    match = _PAGE.match(req.path)
    if match is None or req.method not in ("GET", "HEAD"):
        return _not_found()
    run = app.store.get(int(match["run"]))
    full_name = f"{match['owner']}/{match['repo']}"
    if run is None or run.repo.lower() != full_name.lower() or not app.run_visible(run):
        return _not_found()
    with app.store.lock:
        jobs = [j for j in run.jobs if match["job"] is None or j.id == int(match["job"])]
    if not jobs:
        return _not_found()
    # Markdown is rendered outside the store's lock: the API and the runner go on
    summary = getattr(app.runner, "job_summary", None)
    summaries = {j.id: summary_html(summary(j.id)) if summary is not None else ""
                 for j in jobs}
    with app.store.lock:
        body = _run_html(app, run, jobs, summaries)
    return Response(200, body.encode("utf-8"), content_type="text/html; charset=utf-8")


def _not_found() -> Response:
    return Response(404, b"<!doctype html><title>Not Found</title><h1>Not Found</h1>",
                    content_type="text/html; charset=utf-8")


def _state(status: str, conclusion: str | None) -> str:
    word = conclusion or status
    return f'<b class="{escape(word)}">{escape(word)}</b>'


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds():.1f}s"


def _run_html(app: Any, run: RunRecord, jobs: list[JobRecord],
              summaries: dict[int, str]) -> str:
    """The page (caller holds the store lock: records do not change under it)."""
    api = f"{app.base_url}/repos/{run.repo}/actions/runs/{run.id}"
    parts = [
        "<!doctype html><html><head><meta charset=\"utf-8\">",
        f"<title>{escape(run.display_title)} · {escape(run.repo)}</title>",
        f"<style>{_STYLE}{LOG_STYLE}</style></head><body>",
        f"<h1>{escape(run.display_title)}</h1>",
        f"<p>{escape(run.repo)} · {escape(run.workflow_name)} #{run.run_number}"
        f" (attempt {run.run_attempt}) · {escape(run.event)}"
        + (f" <code>{escape(run.event_type)}</code>" if run.event_type else "")
        + f" · {_state(run.status, run.conclusion)}"
        f" · created {escape(app.render.ts(run.created_at) or '')}</p>",
        f'<p><a href="{escape(api)}">API</a> · <a href="{escape(api)}/jobs">jobs</a></p>',
    ]
    for job in jobs:
        parts.extend(_job_html(app, run, job, summaries.get(job.id, "")))
    parts.append("</body></html>")
    return "\n".join(parts)


def _job_html(app: Any, run: RunRecord, job: JobRecord, summary: str) -> list[str]:
    link = f"{app.base_url}/{run.repo}/actions/runs/{run.id}/job/{job.id}"
    out = [f'<h2 id="job-{job.id}"><a href="{escape(link)}">{escape(job.name)}</a> '
           f"{_state(job.status, job.conclusion)}</h2>",
           "<table><tr><th>#</th><th>Step</th><th>Result</th><th>Took</th></tr>"]
    for step in job.steps:
        out.append(f"<tr><td>{step.number}</td><td>{escape(step.name)}</td>"
                   f"<td>{_state(step.status, step.conclusion)}</td>"
                   f"<td>{_duration(step.started_at, step.completed_at)}</td></tr>")
    out.append("</table>")
    if job.annotations:
        out.append("<h3>Annotations</h3><ul>")
        for note in job.annotations:
            title = f"{escape(note.title)}: " if note.title else ""
            out.append(f'<li><span class="{escape(note.level)}">{escape(note.level)}</span> '
                       f"{title}{escape(note.message)}</li>")
        out.append("</ul>")
    if summary:
        out.append(f'<h3>Summary</h3><div class="summary">{summary}</div>')
    log = job_log_of(app, job.id)
    out.append("<h3>Log</h3>")
    out.append(log_html(log.lines() if log is not None else [], app.faults.clock_skew))
    return out
