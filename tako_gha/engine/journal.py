"""The dispatch journal: what this machine sent, kept across crashes.

GitHub's dispatch API answers without a run id, and a receiver without the
``run-name`` tag starts a run nothing ties to its dispatch. So a fan-out that is
killed (``kill -9``, out of memory, a cancelled job) cannot tell from GitHub alone
what it had already sent. The journal can: one JSON object per line, appended to a
local file and synced to disk (``fsync``) before the step it records is taken.

- ``start``: a fan-out of ``root`` began (or was resumed) here.
- ``intent``: dispatch ``id`` to ``repo`` is about to be sent (written and synced
  *before* the POST).
- ``outcome``: GitHub's answer — ``sent`` (accepted), ``lost`` (no answer or a 5xx:
  it may have been delivered), ``refused`` (4xx: not delivered), ``held`` (rate
  limited before GitHub processed it: not delivered).
- ``run``: a run was matched to dispatch ``id`` (a hint for heuristic receivers on
  resume; not synced on its own, a later synced record carries it along).

Reading it back, a dispatch is ``sent`` (accepted), ``unknown`` (an intent whose
answer was lost or never recorded: the process died mid-request) or ``not_sent``.
``--resume`` never sends a ``sent`` or ``unknown`` dispatch again. A torn last line
(the process died inside a write) is skipped: its step had not been taken yet.

``SignalGuard`` keeps SIGINT and SIGTERM from landing between an intent and its
outcome: the surfaces install its handler, and a signal arriving while a dispatch
is on its way is acted on once the outcome is recorded. Only ``kill -9`` (or a lost
machine) can leave an ``unknown`` dispatch behind.

Test seam: ``crash_before`` (the surfaces read ``TAKO_JOURNAL_CRASH=N[:SIGNAL]``)
makes the process send itself SIGNAL (default SIGKILL) just before its N-th record
— a deterministic crash point for the crash-matrix tests. Never set in production.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SENT, UNKNOWN, NOT_SENT = "sent", "unknown", "not_sent"
OUTCOMES = ("sent", "lost", "refused", "held")
CRASH_ENV = "TAKO_JOURNAL_CRASH"


class JournalError(Exception):
    """The journal cannot be opened or written; ``str`` names the file and why."""


@dataclass
class Entry:
    """What the journal says about one dispatch id."""

    repo: str
    event_type: str
    first_at: datetime  # the first intent (the forge's clock)
    last_at: datetime  # the latest intent
    sends: int = 0  # intents recorded
    outcome: str | None = None  # of the latest intent; None: died before the answer
    runs: set[int] = field(default_factory=set)

    @property
    def status(self) -> str:
        if self.outcome == "sent":
            return SENT
        if self.outcome in ("refused", "held"):
            return NOT_SENT
        return UNKNOWN  # lost, or no answer recorded


@dataclass
class JournalState:
    """The records of one root, as read back."""

    root: str
    started_at: datetime | None = None  # the first ``start`` of this root
    entries: dict[str, Entry] = field(default_factory=dict)
    skipped_lines: int = 0  # unreadable (a torn last write)

    @property
    def known(self) -> bool:
        return self.started_at is not None or bool(self.entries)


def default_path(root: str, env: Mapping[str, str]) -> Path:
    """Where a root's journal lives when no ``--state`` is given: ``TAKO_STATE_DIR``,
    else the job's ``RUNNER_TEMP`` (inside Actions), else the user's state directory."""
    base = env.get("TAKO_STATE_DIR") or env.get("RUNNER_TEMP")
    if base:
        folder = Path(base)
    else:
        state = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or "~").expanduser()
                                                 / ".local" / "state")
        folder = Path(state) / "tako-gha"
    return folder / f"tako-journal-{root}.jsonl"


def crash_point(env: Mapping[str, str]) -> tuple[int, int] | None:
    """``(N, signal)`` from ``TAKO_JOURNAL_CRASH=N[:SIGKILL|SIGTERM|SIGINT]``."""
    raw = env.get(CRASH_ENV, "").strip()
    if not raw:
        return None
    count, _, name = raw.partition(":")
    try:
        number = int(count)
        sig = signal.Signals[(name or "SIGKILL").upper()]
    except (ValueError, KeyError):
        raise JournalError(f"{CRASH_ENV}={raw!r}: expected N or N:SIGKILL|SIGTERM|SIGINT") \
            from None
    return number, int(sig)


def _when(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def read(path: Path, root: str) -> JournalState:
    """The records of ``root`` in ``path`` (a missing file: nothing known)."""
    state = JournalState(root)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return state
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if record.get("root") == root:
                _apply(state, record)
        except (ValueError, AttributeError, KeyError, TypeError):
            state.skipped_lines += 1
    return state


def _apply(state: JournalState, record: dict[str, Any]) -> None:
    kind = record["k"]
    when = _when(record.get("at"))
    if kind == "start":
        if state.started_at is None and when is not None:
            state.started_at = when
        return
    node_id = str(record["id"])
    entry = state.entries.get(node_id)
    if kind == "intent":
        if when is None:
            raise ValueError("intent without a time")
        if entry is None:
            entry = state.entries[node_id] = Entry(str(record["repo"]), str(record["event"]),
                                                   when, when)
        entry.last_at, entry.sends, entry.outcome = when, entry.sends + 1, None
    elif entry is None:
        return  # an answer or run whose intent was torn away: nothing was sent after it
    elif kind == "outcome" and record["result"] in OUTCOMES:
        entry.outcome = str(record["result"])
    elif kind == "run":
        entry.runs.add(int(record["run"]))


class Journal:
    """An open journal file: append-only, one synced line per record."""

    def __init__(self, path: Path, *, crash_before: tuple[int, int] | None = None) -> None:
        self.path = path
        self.crash_before = crash_before
        self.writes = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the journal {path}: {exc.strerror or exc}") \
                from None

    def read(self, root: str) -> JournalState:
        return read(self.path, root)

    # ------------------------------------------------------------ records
    def start(self, root: str, *, source: str, event_type: str, at: datetime,
              resumed: bool) -> None:
        self._write({"k": "start", "root": root, "source": source, "event": event_type,
                     "at": at.isoformat(), "resumed": resumed})

    def intent(self, root: str, node_id: str, repo: str, event_type: str,
               at: datetime) -> None:
        self._write({"k": "intent", "root": root, "id": node_id, "repo": repo,
                     "event": event_type, "at": at.isoformat()})

    def outcome(self, root: str, node_id: str, result: str, detail: str = "") -> None:
        record = {"k": "outcome", "root": root, "id": node_id, "result": result}
        if detail:
            record["detail"] = detail
        self._write(record)

    def run(self, root: str, node_id: str, run_id: int) -> None:
        self._write({"k": "run", "root": root, "id": node_id, "run": run_id}, sync=False)

    def _write(self, record: dict[str, Any], *, sync: bool = True) -> None:
        if self._fd is None:
            raise JournalError(f"the journal {self.path} is closed")
        self.writes += 1
        if self.crash_before is not None and self.writes == self.crash_before[0]:
            os.kill(os.getpid(), self.crash_before[1])
        data = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        try:
            # One write() of one line on an O_APPEND file: whole, or (killed inside it)
            # a torn last line that ``read`` skips.
            os.write(self._fd, data)
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: "
                               f"{exc.strerror or exc}") from None

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where it is safe (never between a dispatch's intent
    and its outcome). ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """Defers SIGINT/SIGTERM while a dispatch is on its way (see the module doc)."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None

    def handler(self, signum: int, frame: object) -> None:
        if self.depth:
            self.pending = signum
            return
        raise Interrupted(signum)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending is not None:
            signum, self.pending = self.pending, None
            raise Interrupted(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[SignalGuard]:
        """Route SIGINT and SIGTERM here while the block runs (main thread only:
        elsewhere Python keeps its own handling)."""
        previous: dict[int, Any] = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self.handler)
        except ValueError:  # not the main thread
            pass
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
