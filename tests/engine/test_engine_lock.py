"""One sender per root: the lock refuses a second process at once, names the holder,
and is released by the kernel when its holder dies, however it dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tako_gha.engine.lock import LockError, LockHeld, RootLock, is_held, lock_path

ROOT = "0123456789ab"


def test_a_second_holder_is_refused_at_once_and_told_who_holds_it(tmp_path: Path) -> None:
    path = lock_path(tmp_path / f"tako-journal-{ROOT}.jsonl", ROOT)
    assert path == tmp_path / f"tako-journal-{ROOT}.lock"
    first = RootLock.acquire(path, what=f"root {ROOT}")
    started = time.monotonic()
    with pytest.raises(LockHeld) as info:
        RootLock.acquire(path, what=f"root {ROOT}")
    assert time.monotonic() - started < 1.0  # refused, not waited for
    message = str(info.value)
    assert f"another process is sending for root {ROOT}" in message
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in message
    assert is_held(path)
    first.release()
    assert not is_held(path)
    with RootLock.acquire(path, what="root"):
        pass


def test_children_of_one_root_lock_apart(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    a = lock_path(journal, ROOT, "a" * 12)
    b = lock_path(journal, ROOT, "b" * 12)
    assert a != b != lock_path(journal, ROOT)
    with RootLock.acquire(a, what="a"), RootLock.acquire(b, what="b"):
        pass


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    code = ("import sys, time; from pathlib import Path; "
            "from tako_gha.engine.lock import RootLock; "
            f"RootLock.acquire(Path({str(path)!r}), what='x'); print('held', flush=True); "
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"pid {holder.pid} on host"):
            RootLock.acquire(path, what="x")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    RootLock.acquire(path, what="x").release()


def test_a_fifo_at_the_lock_path_is_refused_not_waited_on(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    os.mkfifo(path)
    with pytest.raises(LockError, match="not a regular file"):
        RootLock.acquire(path, what="x")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LockError, match="cannot open the lock file"):
        RootLock.acquire(blocker / "x.lock", what="x")
