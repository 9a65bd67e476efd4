"""A world for hostile requests: served from ``<parent>/world`` with a marker file and
a copy of the tokens next to it in ``<parent>``, so a test can prove nothing outside
the world is ever served, written or made a git repository.

``hostile_emulator(tmp_path_factory)`` yields a ``Hostile`` (one server per test
module: each case costs one request, not a server start). ``snapshot(parent)`` is
every path under ``parent`` with its kind, size and mtime.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import Reply, call
from tako_gha.emulator.worldgen import write_world

TOKEN = "t-hostile-admin"
SECRET = "s3cret-value-never-served"
MARKER = "MARKER-outside-the-world-7f3a"

WORLD_REPOS: dict[str, dict[str, str]] = {
    "acme/app": {"tako.yml": "version: 1\n", "docs/guide.md": "guide\n"},
    "acme/lib": {"README.md": "lib\n"},
}
SETTINGS: dict[str, Any] = {
    "tokens": {TOKEN: {"repos": ["*"]}},
    "secrets": {"TAKO_TOKEN": SECRET},
    "limits": {"enabled": False},  # statuses must not depend on how many cases ran
}


@dataclass
class Hostile:
    emu: Emulator
    parent: Path  # holds the marker and the world
    world: Path

    def get(self, path: str, token: str | None = TOKEN, method: str = "GET",
            **kwargs: Any) -> Reply:
        return call(self.emu.base_url, method, path, token=token, **kwargs)

    def raw(self, data: bytes) -> bytes:
        """Send ``data`` as is on a fresh connection; everything the server answers."""
        host, port = self.emu.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@contextmanager
def hostile_emulator(factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    parent = factory.mktemp("hostile-parent")
    (parent / "marker.txt").write_text(MARKER + "\n")
    (parent / "emulator.yml").write_text(f"secrets: {{X: {MARKER}}}\n")
    (parent / "plain").mkdir()  # a plain directory a traversal could try to git init
    (parent / "plain" / "marker.txt").write_text(MARKER + "\n")
    world = write_world(parent / "world", WORLD_REPOS, SETTINGS)
    # a symlink inside the world that leads out of it: never served, never git-inited
    os.symlink(parent / "plain", world / "acme" / "escape")
    os.symlink(parent, world / "outside")
    emu = Emulator(world, port=0, runner_capacity=1).start()
    try:
        yield Hostile(emu, parent, world)
    finally:
        emu.stop()


Snapshot = dict[str, tuple[str, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every path under ``root`` (symlinks not followed): kind, size, mtime in ns."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            out[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime_ns)
    return out


def assert_untouched(before: Snapshot, after: Snapshot) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    assert not added and not removed and not changed, (added[:10], removed[:10], changed[:10])
    gits = {p for p in after if Path(p).name == ".git"}
    assert gits == {f"world/{name}/.git" for name in WORLD_REPOS}, gits


def assert_confined(reply: Reply) -> None:
    """Whatever the status: no marker, no secret, no token, and an error is GitHub's
    JSON shape."""
    assert reply.status < 500, (reply.status, reply.body[:300])
    assert MARKER.encode() not in reply.body
    assert SECRET.encode() not in reply.body and TOKEN.encode() not in reply.body
    if reply.status >= 400 and reply.body and "html" not in reply.headers["content-type"]:
        body = reply.json()
        assert isinstance(body, dict)
        if "errors" not in body:
            assert isinstance(body.get("message"), str) and body["message"]
            assert body["documentation_url"].startswith("https://docs.github.com/")
