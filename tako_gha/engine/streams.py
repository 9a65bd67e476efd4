"""Reading and writing the files people name (``--payload @FILE``, ``--tree-json``,
``--summary``, ``GITHUB_EVENT_PATH``, ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``)
without ever hanging, replacing what is not ours, or losing a write error.

- An input must be a regular file (a symlink to one is fine). A FIFO, a device, a
  socket or a directory is refused at once: it is opened with ``O_NONBLOCK`` (so a FIFO
  without a writer cannot make ``open`` wait) and checked with ``fstat`` before a byte
  is read. Standard input (``-``) is the one stream a user means; callers read it
  themselves.
- An output that is a regular file (or does not exist yet) may be replaced atomically
  (a temporary file renamed over it). Anything else, a symlink, a FIFO, a device, is
  written in place, never replaced: ``--tree-json /dev/full`` must not turn the device
  node into a JSON file, and a symlink must keep pointing where it did. A FIFO is opened
  with ``O_NONBLOCK`` too, so one nobody reads is refused at once rather than waited on.
- Every write goes through ``os.write`` in a loop, so a full disk (``ENOSPC``) or a
  device that refuses raises ``OSError`` to the caller, who names the path.

Errors are ``OSError`` with a ``strerror`` fit for a message
(``cannot write PATH: {strerror}``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from pathlib import Path

_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket")]


class NotRegularFile(OSError):
    """An input that is not a regular file; ``strerror`` says what it is."""


def kind_of(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | Path, cap: int) -> bytes:
    """At most ``cap`` bytes of the regular file ``path``, refused at once when it is
    anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket
            raise NotRegularFile(errno.ENXIO, f"{kind_of(os.stat(path).st_mode)}, not a "
                                 "regular file", str(path)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"{kind_of(mode)}, not a regular file",
                                 str(path))
        chunks: list[bytes] = []
        left = cap
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def is_replaceable(path: str | Path) -> bool:
    """May ``path`` be replaced by a rename: it is a regular file (not a symlink to
    one) or does not exist."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return True


def write_text(path: str | Path, text: str, *, atomic: bool = False) -> None:
    """``path`` holds ``text``: replaced in one step when ``atomic`` and the path is a
    regular file or new, written in place otherwise (truncated first when it is a file
    reached through a symlink)."""
    data = text.encode("utf-8")
    if atomic and is_replaceable(path):
        _replace(Path(path), data)
        return
    _write_in_place(path, data, os.O_TRUNC)


def append_text(path: str | Path, text: str) -> None:
    """``text`` added at the end of ``path`` (created when missing), in place."""
    _write_in_place(path, text.encode("utf-8"), os.O_APPEND)


def check_writable(path: str | Path) -> None:
    """Raise now what writing ``path`` later would raise at open: a directory, a parent
    directory that does not exist or refuses. Nothing is written: an existing file is
    opened for appending and closed, a new one created and removed. A FIFO or a device
    is left alone (its reader would take an open and close for the end of the data);
    writing it later says what went wrong."""
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    if mode is not None and not stat.S_ISREG(mode):
        return
    existed = os.path.lexists(path)
    fd = _open_for_writing(path, os.O_APPEND)
    os.close(fd)
    if not existed:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _open_for_writing(path: str | Path, extra: int) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC | extra
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        # ENXIO: a FIFO with no reader (waiting could be forever), or a socket.
        if exc.errno == errno.ENXIO:
            mode = os.stat(path).st_mode
            why = "nobody is reading it" if stat.S_ISFIFO(mode) else "not a file"
            raise OSError(errno.ENXIO, f"{kind_of(mode)}, {why}", str(path)) from None
        raise
    # Writes block as usual from here on (a slow reader of a FIFO is not an error).
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def _write_in_place(path: str | Path, data: bytes, extra: int) -> None:
    fd = _open_for_writing(path, extra)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _replace(target: Path, data: bytes) -> None:
    """A reader (or a process killed mid-write) sees the old file or the new one, never
    half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                               dir=target.parent if str(target.parent) else ".")
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
