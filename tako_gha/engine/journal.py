"""The dispatch journal: what this machine sent, kept across crashes.

GitHub's dispatch API answers without a run id, and a receiver without the
``run-name`` tag starts a run nothing ties to its dispatch. So a fan-out that is
killed (``kill -9``, out of memory, a cancelled job) cannot tell from GitHub alone
what it had already sent. The journal can: one JSON object per line, appended to a
local file and synced to disk (``fsync``) before the step it records is taken.

Records (every one carries ``k``, ``root`` and ``c``, a CRC-32 of the rest of the
record, so a changed byte is seen rather than read as another fact):

- ``start``: a fan-out of ``root`` began (or was resumed) here: ``source``,
  ``event``, ``payload`` (a SHA-256 of the event payload) and ``deadline`` (its
  dispatches' deadline). A resume with another source, event or payload is refused.
- ``intent``: dispatch ``id`` to ``repo`` is about to be sent (written and synced
  *before* the POST), with ``watermark``: the highest run id this process had seen in
  ``repo`` before it (``null`` when it had seen none), and ``workflow`` (the file) when it
  is a workflow dispatch (exact mode).
- ``outcome``: GitHub's answer — ``result`` ``sent`` (accepted), ``lost`` (no answer
  or a 5xx: it may have been delivered), ``refused`` (4xx: not delivered), ``held``
  (rate limited before GitHub processed it: not delivered); optional ``detail`` and
  ``run`` (a run id the answer named). New optional fields may be added to any
  record: readers ignore what they do not know.
- ``run``: a run was matched to dispatch ``id`` (a hint for heuristic receivers on
  resume; not synced on its own, a later synced record carries it along).
- ``end``: the fan-out of ``root`` finished waiting with ``status``.
- ``torn``: the line numbered ``line`` was left unfinished by a write that never
  completed (a process killed inside ``write()``, a full disk); appended by the next
  writer before its own first record.

Reading it back, a dispatch is ``sent`` (accepted), ``unknown`` (an intent whose
answer was lost or never recorded: the process died mid-request) or ``not_sent``.
``--resume`` never sends a ``sent`` or ``unknown`` dispatch again. Nothing is
POSTed whose intent is not whole on disk: a short or failed write raises
``JournalError`` before the request. So an unfinished last line records a step that
was not taken, and is reported, not read. Any *other* unreadable line is damage: it
is reported with its number, and every target whose record it might be is treated
as possibly sent — never sent again blindly.

Only a regular file is a journal: a FIFO, a device or a directory at its path is
refused at once (``JournalError``), never opened in a way that could wait. A journal
that exists but cannot be written (a read-only mount, no permission) is opened
read-only: it can be read, nothing can be sent on it.

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
import errno
import hashlib
import json
import os
import re
import signal
import stat
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SENT, UNKNOWN, NOT_SENT = "sent", "unknown", "not_sent"
OUTCOMES = ("sent", "lost", "refused", "held")
CRASH_ENV = "TAKO_JOURNAL_CRASH"
# A journal whose every fan-out has finished is removed from the default state
# directory once it is this old (docs/protocol.md).
MAX_AGE = timedelta(days=14)
# Errors that make an existing journal read-only rather than unusable.
READ_ONLY_ERRORS = (errno.EROFS, errno.EACCES, errno.EPERM)
# Kinds of record that never decide whether something is sent again.
_HINT_KINDS = re.compile(r'"k":"(start|run|end|torn)"')
_ROOT_FIELD = re.compile(r'"root":"([0-9a-f]{12})"')
_ID_FIELD = re.compile(r'"id":"([0-9a-f]{12})"')


class JournalError(Exception):
    """The journal cannot be opened or written; ``str`` names the file and why."""


def payload_hash(payload: Any) -> str:
    """The start record's fingerprint of an event payload (key order does not count)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


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
    watermark: int | None = None  # highest run id seen in repo before the first send
    damaged_line: int | None = None  # set: no readable record, a damaged line may be one
    workflow: str | None = None  # sent by workflow dispatch (exact mode): its file
    answered_run: int | None = None  # the run GitHub's answer named (exact mode)

    @property
    def status(self) -> str:
        if self.outcome == "sent":
            return SENT
        if self.outcome in ("refused", "held"):
            return NOT_SENT
        return UNKNOWN  # lost, or no answer recorded


@dataclass(frozen=True)
class Damage:
    """An unreadable line that may hold a record of this root about a dispatch."""

    line: int
    ids: frozenset[str]  # dispatch ids still legible in it


@dataclass(frozen=True)
class Origin:
    """What the first start of a root was fanning out."""

    source: str
    event: str
    payload: str | None  # payload_hash; None in journals written before it was kept


@dataclass
class JournalState:
    """The records of one root, as read back."""

    root: str
    started_at: datetime | None = None  # the first ``start`` of this root
    entries: dict[str, Entry] = field(default_factory=dict)
    origin: Origin | None = None
    ended: str | None = None  # the status of the latest ``end`` record
    deadline: datetime | None = None  # the latest start's deadline
    unreadable: list[int] = field(default_factory=list)  # line numbers, any root
    damaged: list[Damage] = field(default_factory=list)  # those that may be this root's
    torn: list[int] = field(default_factory=list)  # unfinished writes (steps not taken)

    @property
    def skipped_lines(self) -> int:
        return len(self.unreadable) + len(self.torn)

    @property
    def known(self) -> bool:
        return self.started_at is not None or bool(self.entries)

    def damage_for(self, node_id: str, ours: set[str]) -> Damage | None:
        """The damaged line that may be a record of dispatch ``node_id`` (``ours``:
        every dispatch id of this fan-out): one naming it, or one naming none of
        ours (the damage may be in the id itself)."""
        for damage in self.damaged:
            if node_id in damage.ids or not damage.ids & ours:
                return damage
        return None


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


def _encode(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _checksum(record: dict[str, Any]) -> str:
    return format(zlib.crc32(_encode(record).encode()), "08x")


def _parse(line: str) -> dict[str, Any] | None:
    """A whole, intact record, or None. Records without ``c`` (journals written
    before it was kept) are taken as they read."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("k"), str):
        return None
    if "c" in record:
        claimed = record.pop("c")
        if claimed != _checksum(record):
            return None
    return record


def _kind(path: Path, mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(path: Path, mode: int) -> JournalError:
    return JournalError(f"the journal {path} is {_kind(path, mode)}, not a regular file; "
                        "a journal must be one")


def read_text(path: Path) -> str | None:
    """The journal's text; None when there is no file. Never waits on a FIFO."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped after the stat
            raise _not_regular(path, os.fstat(fd).st_mode)
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


def _lines(text: str) -> Iterator[tuple[int, str, dict[str, Any] | None, bool]]:
    """``(number, raw, record or None, is_last_unfinished)`` for every non-blank line."""
    lines = text.split("\n")
    last = len(lines)
    for number, raw in enumerate(lines, 1):
        if number == last and raw == "":
            break
        if raw.strip():
            yield number, raw, _parse(raw), number == last


def read(path: Path, root: str) -> JournalState:
    """The records of ``root`` in ``path`` (a missing file: nothing known)."""
    state = JournalState(root)
    text = read_text(path)
    if text is None:
        return state
    bad: list[tuple[int, str]] = []
    torn: set[int] = set()
    whole: list[tuple[int, str, dict[str, Any]]] = []
    for number, raw, record, unfinished in _lines(text):
        if unfinished:  # the writer died (or failed) inside this write
            torn.add(number)
        elif record is None:
            bad.append((number, raw))
        elif record["k"] == "torn":
            mark = record.get("line")
            torn.add(mark if isinstance(mark, int) else -1)
        else:
            whole.append((number, raw, record))
    roots = {str(record.get("root")) for _, _, record in whole}
    for number, raw, record in whole:
        if number in torn or record.get("root") != root:
            continue  # a torn line that happens to parse: its step was not taken
        try:
            _apply(state, record)
        except (ValueError, KeyError, TypeError):
            bad.append((number, raw))
    state.torn = sorted(n for n in torn if n > 0)
    for number, raw in sorted(bad):
        if number in torn:
            continue
        state.unreadable.append(number)
        if _HINT_KINDS.search(raw):
            continue  # intact kind: not a dispatch's record
        found = _ROOT_FIELD.search(raw)
        # Ours if it says so, or if the root it names is no root of the file's
        # readable records (the damage may be in the root itself).
        if found is None or found.group(1) == root or found.group(1) not in roots:
            state.damaged.append(Damage(number, frozenset(_ID_FIELD.findall(raw))))
    return state


def _apply(state: JournalState, record: dict[str, Any]) -> None:
    kind = record["k"]
    when = _when(record.get("at"))
    if kind == "start":
        if state.started_at is None and when is not None:
            state.started_at = when
        state.deadline = _when(record["deadline"]) if record.get("deadline") else None
        if state.origin is None:
            payload = record.get("payload")
            state.origin = Origin(str(record["source"]), str(record["event"]),
                                  str(payload) if payload is not None else None)
        return
    if kind == "end":
        state.ended = str(record["status"])
        return
    node_id = str(record["id"])
    entry = state.entries.get(node_id)
    if kind == "intent":
        if when is None:
            raise ValueError("intent without a time")
        if entry is None:
            mark = record.get("watermark")
            entry = state.entries[node_id] = Entry(
                str(record["repo"]), str(record["event"]), when, when,
                watermark=mark if isinstance(mark, int) and not isinstance(mark, bool)
                else None)
        entry.last_at, entry.sends, entry.outcome = when, entry.sends + 1, None
        workflow = record.get("workflow")
        entry.workflow = str(workflow) if workflow else None
    elif entry is None:
        return  # an answer or run whose intent was torn away: nothing was sent after it
    elif kind == "outcome" and record["result"] in OUTCOMES:
        entry.outcome = str(record["result"])
        run = record.get("run")
        if isinstance(run, int) and not isinstance(run, bool) and run > 0:
            entry.runs.add(run)
            entry.answered_run = run
    elif kind == "run":
        entry.runs.add(int(record["run"]))


class Journal:
    """An open journal file: append-only, one synced line per record. Opened
    read-only (``writable`` False, ``read_only_why`` says why) by ``open`` when the
    file exists but cannot be written: every record then raises ``JournalError``."""

    def __init__(self, path: Path, *, crash_before: tuple[int, int] | None = None,
                 read_only_why: str | None = None) -> None:
        self.path = path
        self.crash_before = crash_before
        self.writes = 0
        self.read_only_why = read_only_why
        self.repaired: int | None = None  # the unfinished last line found and marked
        self._fd: int | None = None
        self._unfinished = False  # a failed write may have left a partial line
        self.lock: Any = None  # engine.lock.RootLock held while sending; closed with us
        if read_only_why is not None:
            read_text(path)  # a regular file, readable: or JournalError now
            return
        self._fd = _open_append(path)
        self._repair_tail()

    @classmethod
    def open(cls, path: Path, *, crash_before: tuple[int, int] | None = None) -> Journal:
        """For writing; an existing journal that cannot be written is opened
        read-only instead (a resume can read it, and then refuses to send)."""
        try:
            return cls(path, crash_before=crash_before)
        except _ReadOnly as exc:
            return cls(path, crash_before=crash_before, read_only_why=str(exc))

    @property
    def writable(self) -> bool:
        return self.read_only_why is None

    def read(self, root: str) -> JournalState:
        return read(self.path, root)

    # ------------------------------------------------------------ records
    def start(self, root: str, *, source: str, event_type: str, at: datetime,
              resumed: bool, payload: str | None = None,
              deadline: datetime | None = None) -> None:
        """``payload``: ``payload_hash`` of the event payload."""
        record: dict[str, Any] = {"k": "start", "root": root, "source": source,
                                  "event": event_type, "at": at.isoformat(),
                                  "resumed": resumed}
        if payload is not None:
            record["payload"] = payload
        if deadline is not None:
            record["deadline"] = deadline.isoformat()
        self._write(record)

    def intent(self, root: str, node_id: str, repo: str, event_type: str,
               at: datetime, *, watermark: int | None = None,
               workflow: str | None = None) -> None:
        record: dict[str, Any] = {"k": "intent", "root": root, "id": node_id, "repo": repo,
                                  "event": event_type, "at": at.isoformat(),
                                  "watermark": watermark}
        if workflow:
            record["workflow"] = workflow  # a workflow dispatch (exact mode)
        self._write(record)

    def outcome(self, root: str, node_id: str, result: str, detail: str = "", *,
                run: int | None = None) -> None:
        """``run``: the run id GitHub's answer named, when it named one (a resume reads
        it by id)."""
        record: dict[str, Any] = {"k": "outcome", "root": root, "id": node_id,
                                  "result": result}
        if detail:
            record["detail"] = detail
        if run is not None:
            record["run"] = run
        self._write(record)

    def run(self, root: str, node_id: str, run_id: int) -> None:
        self._write({"k": "run", "root": root, "id": node_id, "run": run_id}, sync=False)

    def end(self, root: str, status: str, at: datetime) -> None:
        self._write({"k": "end", "root": root, "status": status, "at": at.isoformat()})

    def _write(self, record: dict[str, Any], *, sync: bool = True) -> None:
        if self._fd is None:
            why = self.read_only_why or "it is closed"
            raise JournalError(f"cannot write the journal {self.path}: {why}")
        self.writes += 1
        if self.crash_before is not None and self.writes == self.crash_before[0]:
            os.kill(os.getpid(), self.crash_before[1])
        if self._unfinished:
            self._repair_tail()
        data = (_encode({**record, "c": _checksum(record)}) + "\n").encode()
        self._append(data)
        if sync:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise JournalError(f"cannot sync the journal {self.path}: "
                                   f"{exc.strerror or exc}") from None

    def _append(self, data: bytes) -> None:
        """One whole line, or ``JournalError``: a short write is a failure (the
        record is not on disk, so its step must not be taken)."""
        assert self._fd is not None
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            self._unfinished = True
            raise JournalError(f"cannot write the journal {self.path}: "
                               f"{exc.strerror or exc}") from None
        if written != len(data):
            self._tear_off(written)
            raise JournalError(f"cannot write the journal {self.path}: a short write "
                               f"({written} of {len(data)} bytes; is the disk full?)")

    def _tear_off(self, written: int) -> None:
        """Take a partial line back off the end of the file when it is still the
        end (nobody appended after it); otherwise the next write marks it torn."""
        assert self._fd is not None
        self._unfinished = True
        with contextlib.suppress(OSError):
            end = os.lseek(self._fd, 0, os.SEEK_CUR)  # O_APPEND: the end of our bytes
            if written > 0 and os.fstat(self._fd).st_size == end:
                os.ftruncate(self._fd, end - written)
                self._unfinished = False

    def _repair_tail(self) -> None:
        """An unfinished last line (a writer died or failed inside its write) would
        swallow the next record: end it, and say which line it was."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        self._unfinished = False
        if size == 0:
            return
        text = read_text(self.path) or ""
        if text.endswith("\n"):
            return
        line = text.count("\n") + 1
        marker = {"k": "torn", "root": None, "line": line}
        self._append(("\n" + _encode({**marker, "c": _checksum(marker)}) + "\n").encode())
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot sync the journal {self.path}: "
                               f"{exc.strerror or exc}") from None
        self.repaired = line

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


class _ReadOnly(JournalError):
    """An existing journal that this process may not write."""


def _open_append(path: Path) -> int:
    """The journal's descriptor for appending, created (and its directory synced,
    so the new name survives a crash) when missing."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise JournalError(f"cannot open the journal {path}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    flags = os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC
    created: list[Path] = []
    try:
        if mode is None:
            created = _make_dirs(path.parent)
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
                created.append(path)
            except FileExistsError:
                fd = os.open(path, flags)
        else:
            fd = os.open(path, flags)
    except OSError as exc:
        why = f"cannot open the journal {path}: {exc.strerror or exc}"
        if mode is not None and exc.errno in READ_ONLY_ERRORS:
            raise _ReadOnly(why) from None
        raise JournalError(why) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        mode = os.fstat(fd).st_mode
        os.close(fd)
        raise _not_regular(path, mode)
    try:
        for made in created:
            sync_directory(made.parent)
    except OSError as exc:
        os.close(fd)
        raise JournalError(f"cannot sync the directory of the journal {path}: "
                           f"{exc.strerror or exc}") from None
    return fd


def _make_dirs(folder: Path) -> list[Path]:
    """``mkdir -p``; the directories it created, outermost first."""
    missing: list[Path] = []
    at = folder
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    folder.mkdir(parents=True, exist_ok=True)
    return list(reversed(missing))


def sync_directory(folder: Path) -> None:
    """fsync a directory: a file created in it keeps its name after a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clean(folder: Path, now: datetime, *, max_age: timedelta = MAX_AGE,
          in_use: Any = None) -> list[Path]:
    """Remove the journals in ``folder`` (``tako-journal-*.jsonl``) whose every root
    that started also ended (an ``end`` record) and that were last written more than
    ``max_age`` before ``now``; ``in_use(root)`` True keeps one. A journal with an
    unfinished fan-out is kept whatever its age: a resume may still need it."""
    removed: list[Path] = []
    try:
        candidates = sorted(folder.glob("tako-journal-*.jsonl"))
    except OSError:
        return removed
    for path in candidates:
        try:
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            if datetime.fromtimestamp(info.st_mtime, timezone.utc) > now - max_age:
                continue
            text = read_text(path) or ""
        except (OSError, JournalError):
            continue
        # Each root's last start or end: a start after the last end (a resume that
        # was stopped) keeps the journal.
        last: dict[str, str] = {}
        for _, _, record, _ in _lines(text):
            if record is not None and record["k"] in ("start", "end"):
                last[str(record.get("root"))] = record["k"]
        if not last or any(kind != "end" for kind in last.values()):
            continue
        if in_use is not None and any(in_use(root) for root in last):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


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
