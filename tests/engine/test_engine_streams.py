"""engine.streams: inputs must be regular files (refused at once otherwise), outputs
are replaced only when they are regular files, every write error reaches the caller.
The corpus of file kinds through the CLI and the action is tests/surfaces/
test_stream_corpus.py."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from tako_gha.engine import streams


def test_a_regular_file_is_read_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"x" * 10)
    assert streams.read_regular(path, 4) == b"xxxx"
    assert streams.read_regular(path, 100) == b"x" * 10
    link = tmp_path / "link"
    link.symlink_to(path)
    assert streams.read_regular(link, 100) == b"x" * 10  # a symlink to a file is a file


def test_a_fifo_is_refused_before_anything_waits(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(streams.NotRegularFile, match=r"a FIFO \(named pipe\), not a regular"):
        streams.read_regular(fifo, 100)
    assert time.monotonic() - started < 5
    with pytest.raises(OSError, match="nobody is reading it"):
        streams.write_text(fifo, "x", atomic=True)
    streams.check_writable(fifo)  # left alone: opening it is all a reader would get


def test_a_regular_output_is_replaced_whole_and_a_symlink_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "tree.json"
    target.write_text("old")
    inode = target.stat().st_ino
    streams.write_text(target, "new", atomic=True)
    assert target.read_text() == "new" and target.stat().st_ino != inode  # renamed over
    link = tmp_path / "link.json"
    link.symlink_to(target)
    streams.write_text(link, "through the link", atomic=True)
    assert link.is_symlink() and target.read_text() == "through the link"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_full_device_is_an_error_and_stays_a_device(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.symlink_to("/dev/full")
    for write in (lambda: streams.write_text(full, "x", atomic=True),
                  lambda: streams.append_text(full, "x")):
        with pytest.raises(OSError, match="No space left on device"):
            write()
    assert stat.S_ISCHR(os.stat(full).st_mode) and full.is_symlink()


def test_appending_adds_and_a_new_checked_path_is_not_left_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    streams.append_text(out, "a=1\n")
    streams.append_text(out, "b=2\n")
    assert out.read_text() == "a=1\nb=2\n"
    fresh = tmp_path / "fresh"
    streams.check_writable(fresh)
    assert not fresh.exists()
    with pytest.raises(IsADirectoryError):
        streams.check_writable(tmp_path)
    with pytest.raises(FileNotFoundError):
        streams.check_writable(tmp_path / "no-dir" / "x")
