"""One sender per root: an exclusive lock held by the process that dispatches for it.

The journal keeps one process's promise (never send twice) across its crashes; two
processes sending for the same root at once — two ``fan-out --resume ROOT`` started
together, or the printed resume started while the original still sends paced
batches — would each read a journal the other is still writing, and both send. So
the process that sends for a root takes an exclusive ``flock`` on a lock file beside
the root's journal, ``tako-journal-ROOT.lock`` (a child's fan-out inside a run:
``tako-journal-ROOT-PARENT.lock``, since the children of one root fan out in
parallel, each for its own dispatch), and keeps it for its whole life. The kernel
releases it when the process ends, however it ends (``kill -9`` included): there is
no stale lock to clean up by hand.

A second process asking for a held lock is refused at once (never waits): the file
holds the holder's PID, host and start time, written once the lock is taken, and the
refusal names them. ``status`` and ``wait`` only read GitHub and take no lock.

The lock file is its own file rather than the journal, because one journal file
(``--state``) may hold several roots, each with its own sender.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tako_gha.engine.journal import Journal


SETTLE, SETTLE_TRIES = 0.25, 5  # seconds, tries: see _try_lock


class LockHeld(Exception):
    """Another process sends for this root; ``str`` names it and what to do."""

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class LockError(Exception):
    """The lock file cannot be opened (not a regular file, no permission, …)."""


def lock_path(journal: Path, root: str, parent: str | None = None) -> Path:
    """The lock file of ``root`` (and, for a child's fan-out, its dispatch ``parent``)
    beside the journal ``journal``."""
    name = f"tako-journal-{root}" + (f"-{parent}" if parent else "") + ".lock"
    return journal.parent / name


class RootLock:
    """An acquired lock; ``release`` (or process exit) gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, path: Path, *, what: str) -> RootLock:
        """Take the lock at ``path`` or raise ``LockHeld`` (naming the holder) or
        ``LockError``. ``what`` says what is locked, for the messages ("root X")."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_NONBLOCK: a FIFO planted at the path must not make open() wait.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise LockError(f"cannot open the lock file {path}: {exc.strerror or exc}") \
                from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LockError(f"the lock file {path} is not a regular file")
            if not _try_lock(fd, path):
                holder = _holder(fd)
                raise LockHeld(f"another process is sending for {what}: {holder} holds "
                               f"{path}; nothing was dispatched", holder=holder)
            _write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None  # type: ignore[assignment]

    def __enter__(self) -> RootLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(fd: int, path: Path) -> bool:
    """The lock, or False when another holds it. A few tries over ``SETTLE`` seconds:
    a process that forks (a runner starting a step) shares its open lock with the
    child until the child execs, so a lock just released can look held for a moment;
    a real holder is still refused within a fraction of a second, never waited for."""
    for attempt in range(SETTLE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockError(f"cannot lock {path}: {exc.strerror or exc}") from None
        if attempt + 1 < SETTLE_TRIES:
            time.sleep(SETTLE / SETTLE_TRIES)
    return False


def _write_holder(fd: int) -> None:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"pid {os.getpid()} on host {socket.gethostname()} since {when}\n".encode()
    # Best effort: the lock is the flock, this text only names its holder.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it (or "another process" when it had
    not written yet: the holder writes right after taking it)."""
    try:
        raw = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        raw = ""
    return f"process {raw}" if raw.startswith("pid ") else "another process"


def is_held(path: Path) -> bool:
    """True when some live process holds the lock at ``path`` (the cleaner skips
    such journals)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def open_for_sending(path: Path, root: str, *, parent: str | None = None,
                     crash_before: tuple[int, int] | None = None,
                     clean_old: bool = False) -> Journal:
    """The journal a fan-out of ``root`` sends with, its lock held (released by
    ``Journal.close`` or the process's end). Raises ``LockHeld`` when another
    process sends for it, ``JournalError`` when no journal can be had.

    A lock that cannot be taken because its directory is read-only leaves an
    existing journal readable but read-only: a resume can follow what it records
    and sends nothing. ``clean_old``: remove finished journals in its directory
    older than ``journal.MAX_AGE`` (the default state directory, not a --state file's)."""
    from tako_gha.engine.journal import Journal, JournalError, clean

    what = f"root {root}" + (f" (dispatch {parent})" if parent else "")
    try:
        lock: RootLock | None = RootLock.acquire(lock_path(path, root, parent), what=what)
    except LockError as exc:
        if not path.is_file():
            raise JournalError(str(exc)) from None
        return Journal(path, crash_before=crash_before,
                       read_only_why=f"its lock cannot be taken ({exc})")
    try:
        journal = Journal.open(path, crash_before=crash_before)
    except BaseException:
        assert lock is not None
        lock.release()
        raise
    journal.lock = lock
    if clean_old:
        clean(path.parent, datetime.now(timezone.utc),
              in_use=lambda other: is_held(lock_path(path, other)))
    return journal
