"""Job logs as GitHub serves them: timestamped lines, grouped by step.

``JobLog`` is what the runner writes while a job runs (lines already masked: the
runner replaces secrets, the run token and ``::add-mask::`` values by ``***`` before
they get here). It renders:

- ``text()``: the whole job log, each line prefixed with its UTC timestamp in
  GitHub's form (``2026-01-02T03:04:05.1234567Z line``), as
  ``GET /repos/{o}/{r}/actions/jobs/{id}/logs`` downloads it;
- ``step_text(n)``: the lines of step ``n`` only (the run-logs zip has one file per step);
- ``plain()``: the lines without timestamps (tests, the run page's tail).

``run_zip`` builds the archive of ``GET …/runs/{id}/logs``: ``{i}_{job}.txt`` per job
plus ``{job}/{n}_{step}.txt`` per step, like GitHub's. ``LinkSigner`` makes the short-lived
download URLs both endpoints redirect to (GitHub's are signed and expire after a minute).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

LOG_LIMIT_CHARS = 1_000_000  # per job; the log exists for debugging, not for bulk data
LINK_SECONDS = 60  # GitHub's log download links expire after a minute
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


@dataclass(frozen=True)
class LogLine:
    at: datetime
    step: int  # step number (1-based); 0 = the job's own lines (set-up, annotations)
    text: str


def stamp(moment: datetime) -> str:
    """GitHub's log timestamp: ISO 8601, UTC, seven fractional digits."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


class JobLog:
    """The log of one job (thread-safe; capped at ``limit`` characters)."""

    def __init__(self, limit: int = LOG_LIMIT_CHARS,
                 mask: Callable[[str], str] | None = None) -> None:
        # applied again when the log is read: a value masked later in the job
        # (``::add-mask::``) is hidden in the lines written before it, too
        self._mask = mask or (lambda text: text)
        self._lock = threading.Lock()
        self._lines: list[LogLine] = []
        self._chars = 0
        self._limit = limit
        self.truncated = False

    def write(self, text: str, step: int = 0) -> None:
        now = datetime.now(timezone.utc)
        with self._lock:
            if self.truncated:
                return
            if self._chars + len(text) > self._limit:
                self._lines.append(LogLine(now, step, "… log truncated (the emulator keeps "
                                                      f"{self._limit:,} characters per job)"))
                self.truncated = True
                return
            self._lines.append(LogLine(now, step, text))
            self._chars += len(text) + 1

    def lines(self) -> list[LogLine]:
        with self._lock:
            lines = list(self._lines)
        return [LogLine(line.at, line.step, self._mask(line.text)) for line in lines]

    def plain(self) -> str:
        return "\n".join(line.text for line in self.lines())

    def text(self, skew: float = 0.0) -> str:
        """Every line, timestamped (``skew``: seconds the emulator's clock is off by)."""
        return _render(self.lines(), skew)

    def step_text(self, number: int, skew: float = 0.0) -> str:
        return _render((line for line in self.lines() if line.step == number), skew)

    def tail(self, count: int, step: int | None = None) -> list[str]:
        """The last ``count`` lines (of one step when ``step`` is given), no timestamps."""
        chosen = [line.text for line in self.lines() if step is None or line.step == step]
        return chosen[-count:] if count > 0 else []


def _render(lines: Iterable[LogLine], skew: float = 0.0) -> str:
    shift = timedelta(seconds=skew)
    out = [f"{stamp(line.at + shift)} {line.text}" for line in lines]
    return "\n".join(out) + ("\n" if out else "")


def safe_name(name: str) -> str:
    """A job or step name as a file name in the zip (GitHub drops the same characters)."""
    cleaned = _UNSAFE_NAME.sub("", name).strip().strip(".")
    return cleaned[:100] or "job"


@dataclass(frozen=True)
class JobLogFile:
    """What ``run_zip`` needs of one job: its name, its steps, its log."""

    name: str
    steps: list[tuple[int, str]]  # (number, name)
    log: JobLog | None


def run_zip(jobs: list[JobLogFile], skew: float = 0.0) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, job in enumerate(jobs):
            folder = safe_name(job.name)
            whole = job.log.text(skew) if job.log else ""
            archive.writestr(f"{index}_{folder}.txt", whole)
            for number, step_name in job.steps:
                body = job.log.step_text(number, skew) if job.log else ""
                archive.writestr(f"{folder}/{number}_{safe_name(step_name)}.txt", body)
    return buffer.getvalue()


class LinkSigner:
    """Signed, expiring paths for log downloads (no token needed to follow them)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def sign(self, path: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + LINK_SECONDS)
        return f"{path}?expires={expires}&sig={self._mac(path, expires)}"

    def check(self, path: str, expires: str | None, sig: str | None,
              now: float | None = None) -> bool:
        if not expires or not sig or not expires.isdigit():
            return False
        if int(expires) < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._mac(path, int(expires)), sig)

    def _mac(self, path: str, expires: int) -> str:
        return hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()
