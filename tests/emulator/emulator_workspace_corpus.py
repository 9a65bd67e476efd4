"""Hostile worlds for the emulator's own workspace, each case with the answer GitHub's
checkout (and so the emulator) gives. Three classes:

- ``TREE_CASES``: git trees whose entry names or links would write outside the run's
  workspace (``/abs/path``, ``../../x``, ``.git``, links out, a repeated name that
  would lead a write through a link). A refused tree fails the job at its checkout, or
  the ``actions/checkout`` step that asked for it (not the run); ``CONTROL`` trees are
  checked out. ``{outside}`` in a name or link is the directory the test watches.
- ``GITDIR_CASES``: repositories whose ``.git`` is a file, a link or a linked
  worktree, or whose objects (``objects/info/alternates``), lead out of the world: not
  served (404); pointers that stay in the world are served (200).
- ``SECRET_CASES``: multi-line secrets; every trimmed line must be ``***`` in the log
  download, the logs zip, the run page, the annotations API (message, title, file) and
  the step summary.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Union

# -- trees ----------------------------------------------------------------------------------

FILE, EXEC, LINK, DIR = "100644", "100755", "120000", "40000"
# (mode, name, content): a file's or link's bytes, or a directory's entries
Entry = tuple[str, str, Union[bytes, "tuple[Entry, ...]"]]


@dataclass(frozen=True)
class TreeCase:
    id: str
    entries: tuple[Entry, ...]
    refused: str | None  # what the refusal says (None: the tree is checked out)


TREE_CASES = [
    TreeCase("absolute-name", ((FILE, "{outside}/abs-escape", b"x"),),
             "a path separator or NUL in the name"),
    TreeCase("parent-name", ((FILE, "../../escape", b"x"),),
             "a path separator or NUL in the name"),
    TreeCase("dotdot-dir", ((DIR, "..", ((FILE, "escape", b"x"),)),), "a reserved name"),
    TreeCase("dot-dir", ((DIR, ".", ((FILE, "escape", b"x"),)),), "a reserved name"),
    TreeCase("git-dir", ((DIR, ".git", ((FILE, "config", b"[core]\n"),)),),
             "a reserved name"),
    TreeCase("git-dir-upper", ((DIR, ".GIT", ((FILE, "hooks", b"x"),)),), "a reserved name"),
    TreeCase("backslash-name", ((FILE, "..\\..\\escape", b"x"),),
             "a path separator or NUL in the name"),
    TreeCase("nested-parent-name", ((DIR, "docs", ((FILE, "../../../escape", b"x"),)),),
             "'docs/../../../escape'"),
    TreeCase("absolute-link", ((LINK, "etc", b"/etc"),), "'etc' leads outside"),
    TreeCase("absolute-link-to-outside", ((LINK, "out", b"{outside}"),), "'out' leads outside"),
    TreeCase("parent-link", ((LINK, "up", b"../../.."),), "'up' leads outside"),
    TreeCase("nested-parent-link", ((DIR, "a", ((LINK, "up", b"../../../x"),)),),
             "'a/up' leads outside"),
    # each link alone stays inside lexically; through the first, the second leads out
    TreeCase("chained-links", ((DIR, "a", ((DIR, "b", ((LINK, "x", b"../.."),)),)),
                               (LINK, "z", b"a/b/x/../../..")), "'z' leads outside"),
    # a repeated name: the directory (or file) would be written through the link
    TreeCase("repeated-link-then-dir", ((LINK, "d", b"{outside}"),
                                        (DIR, "d", ((FILE, "planted", b"x"),))),
             "'d': the name is repeated"),
    TreeCase("repeated-link-then-file", ((LINK, "f", b"{outside}/planted"),
                                         (FILE, "f", b"x")), "'f': the name is repeated"),
    TreeCase("control-links-inside", ((FILE, "README.md", b"hi\n"),
                                      (LINK, "readme", b"README.md"),
                                      (DIR, "docs", ((LINK, "up", b"../README.md"),)),
                                      (EXEC, "run.sh", b"#!/bin/sh\necho ok\n")), None),
]


def write_tree_commit(repo_dir: Path, entries: tuple[Entry, ...], outside: Path,
                      workflow: bytes) -> str:
    """Commit a tree of exactly ``entries`` (written with ``--literally``: git's own
    checks would refuse these names) plus ``.github/workflows/w.yml`` on ``main``."""
    flows = ((DIR, ".github", ((DIR, "workflows", ((FILE, "w.yml", workflow),)),)),)
    tree = _tree(repo_dir, (*flows, *entries), str(outside))
    commit = _git(repo_dir, ["commit-tree", tree, "-m", "hostile"], b"")
    _git(repo_dir, ["update-ref", "refs/heads/main", commit], b"")
    return commit


def _tree(repo_dir: Path, entries: tuple[Entry, ...], outside: str) -> str:
    raw = b""
    for mode, name, content in entries:
        if mode == DIR:
            assert isinstance(content, tuple)
            sha = _tree(repo_dir, content, outside)
        else:
            assert isinstance(content, bytes)
            sha = _git(repo_dir, ["hash-object", "-w", "--stdin"],
                       content.replace(b"{outside}", outside.encode()))
        raw += f"{mode} {name.replace('{outside}', outside)}".encode() + b"\0"
        raw += bytes.fromhex(sha)
    return _git(repo_dir, ["hash-object", "-w", "-t", "tree", "--literally", "--stdin"], raw)


def _git(repo_dir: Path, args: list[str], data: bytes) -> str:
    done = subprocess.run(["git", "-C", str(repo_dir), *args], input=data,
                          capture_output=True, check=True)
    return done.stdout.decode().strip()


# -- .git pointers --------------------------------------------------------------------------

@dataclass(frozen=True)
class GitDirCase:
    id: str
    kind: str  # gitfile-abs | gitfile-rel | gitlink | commondir | alternates
    inside: bool  # the pointer leads to a repository inside the world
    status: int  # GET /repos/acme/<id>


GITDIR_CASES = [
    GitDirCase("gitfile-abs-out", "gitfile-abs", inside=False, status=404),
    GitDirCase("gitfile-rel-out", "gitfile-rel", inside=False, status=404),
    GitDirCase("gitlink-out", "gitlink", inside=False, status=404),
    GitDirCase("commondir-out", "commondir", inside=False, status=404),
    # a bare repository of the world whose objects/info/alternates names a store outside
    # it: its branch names a commit found only there
    GitDirCase("alternates-out", "alternates", inside=False, status=404),
    GitDirCase("alternates-in", "alternates", inside=True, status=200),
    GitDirCase("gitfile-abs-in", "gitfile-abs", inside=True, status=200),
    GitDirCase("gitfile-rel-in", "gitfile-rel", inside=True, status=200),
]


# -- multi-line secrets ---------------------------------------------------------------------

@dataclass(frozen=True)
class SecretCase:
    id: str
    value: str

    @property
    def lines(self) -> list[str]:
        """What must never be seen: every trimmed, non-empty line."""
        return [p.strip() for p in self.value.replace("\r", "\n").split("\n") if p.strip()]


SECRET_CASES = [
    SecretCase("pem", "-----BEGIN KEY-----\nMIIBpem1line\nMIIBpem2line\n-----END KEY-----\n"),
    SecretCase("crlf", "crlf-first-part\r\ncrlf-second-part"),
    SecretCase("cr-only", "cr-first-part\rcr-second-part"),
    SecretCase("indented", "  indented-one  \n\tindented-two\t"),
    SecretCase("blank-lines", "\n\nblank-between-one\n\n\nblank-between-two\n\n"),
    SecretCase("json", '{"user": "jsonuser-x1",\n  "password": "jsonpass-y2"}'),
]
