"""The last lines a failing step printed, read from a job log as GitHub serves it.

A job log is one line per output line, each prefixed with its UTC timestamp
(``2026-01-02T03:04:05.1234567Z text``). Each step's part starts with a header group
(``##[group]Run <command>`` … ``##[endgroup]``), and a failed ``run`` step's part ends
with the runner's ``##[error]Process completed with exit code N.``. The failing step's
output is what lies between the two: found from that error line (the last one within
the step's ``started_at``…``completed_at``, which the jobs API gives to the second),
else from the lines stamped in that window, else from the end of the log. The
runner's markers and its generic error line (already the annotation) are left out.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

TAIL_LINES = 5
LINE_CHARS = 300  # a minified bundle on one line should not become the whole reason
_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z ?(.*)$")
_EXIT = re.compile(r"^##\[error\]Process completed with exit code \d+\.?\s*$")
_NOISE = re.compile(r"^##\[(group|endgroup)\]")
_STEP_HEADER = "##[group]Run "


def parse_time(text: str | None) -> datetime | None:
    """An API timestamp (``2026-01-02T03:04:05Z``), None when absent or malformed."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None


def step_tail(log: str, started: datetime | None, completed: datetime | None,
              count: int = TAIL_LINES) -> list[str]:
    """The last ``count`` meaningful lines of the step that ran from ``started`` to
    ``completed`` (see the module docstring for how its part of the log is found)."""
    if count <= 0:
        return []
    lines = [_parse(raw) for raw in log.splitlines()]
    inside = _window(lines, started, completed)
    errors = [i for i, (_, text) in enumerate(lines) if _EXIT.match(text)]
    chosen_error = ([i for i in errors if inside[i]] or errors)[-1:] if errors else []
    if chosen_error:
        part = _step_part([text for _, text in lines[:chosen_error[0]]])
    elif any(inside):
        part = [text for (_, text), keep in zip(lines, inside, strict=True) if keep]
    else:
        part = [text for _, text in lines]
    kept = [_clip(text) for text in part if _keep(text)]
    return kept[-count:]


def _parse(raw: str) -> tuple[datetime | None, str]:
    found = _STAMPED.match(raw)
    if found is None:
        return None, raw.rstrip()
    try:
        at = datetime.fromisoformat(found.group(1)).replace(tzinfo=timezone.utc)
    except ValueError:
        at = None
    return at, found.group(2).rstrip()


def _window(lines: list[tuple[datetime | None, str]], started: datetime | None,
            completed: datetime | None) -> list[bool]:
    if started is None or completed is None:
        return [False] * len(lines)
    low = started.replace(microsecond=0)
    high = completed.replace(microsecond=0) + timedelta(seconds=1)
    return [at is not None and low <= at < high for at, _ in lines]


def _step_part(before: list[str]) -> list[str]:
    """The lines of the step whose part ends where ``before`` ends: back to its
    ``##[group]Run`` header, without the header group itself."""
    start = max((i for i, text in enumerate(before) if text.startswith(_STEP_HEADER)),
                default=-1)
    part = before[start + 1:]
    if start >= 0:  # the header group (the command, its shell and env) is not output
        end = next((i for i, text in enumerate(part) if text.startswith("##[endgroup]")),
                   None)
        part = part[end + 1:] if end is not None else part
    return part


def _keep(text: str) -> bool:
    return bool(text.strip()) and _NOISE.match(text) is None and _EXIT.match(text) is None


def _clip(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"
