"""What the emulator accepts from a request before it touches the world.

The emulator listens on loopback, which every user of the machine can reach, and its
world directory holds ``emulator.yml`` with tokens and secrets. So every owner, repo,
ref and path that arrives in a URL (already percent-decoded once, as HTTP does) is
checked here with GitHub's own rules, and every directory the world opens is checked
to resolve inside the world root (symlinks included). Bodies are parsed by one JSON
reader that bounds size, nesting and numbers, so a hostile body costs at most a
bounded amount of time and memory and always gets an answer.

A leaf module: no HTTP, no git, nothing of the emulator imported. Bodies are read by
tako's one JSON reader (``core.strictjson``) with GitHub's bounds, which are looser
than tako's payload bounds; the emulator answers as GitHub's API does: one
"Problems parsing JSON" for everything refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tako_gha.core import strictjson

# -- names, refs, paths -----------------------------------------------------------------
NAME_MAX = 100  # GitHub: repository names are at most 100 characters
_NAME = re.compile(rf"[A-Za-z0-9._-]{{1,{NAME_MAX}}}")

REF_MAX = 1024  # whole ref; git itself has no limit, file systems do (below)
REF_COMPONENT_MAX = 255  # a ref component is a file name: NAME_MAX of the file system
# git check-ref-format: no control characters, DEL, space, ~ ^ : ? * [ \ anywhere
_REF_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")

PATH_MAX = 4096


def valid_name(name: object) -> bool:
    """An owner or repository name as GitHub spells them: ``[A-Za-z0-9._-]``, at most
    100 characters, never ``.`` or ``..``."""
    return (isinstance(name, str) and _NAME.fullmatch(name) is not None
            and name not in (".", ".."))


def valid_ref(ref: object) -> bool:
    """A branch or ref name by ``git check-ref-format --allow-onelevel --branch``
    rules: no ``..``, no ``@{``, not ``@``; no control character, space, ``~ ^ : ? *
    [ \\``; no empty component (leading, trailing or double ``/``); no component that
    starts with ``.`` or ends with ``.lock``; does not end with ``.`` and does not start
    with ``-``. Components are bounded by what a file system can name."""
    if not isinstance(ref, str) or not ref or len(ref.encode("utf-8", "replace")) > REF_MAX:
        return False
    if ref == "@" or ".." in ref or "@{" in ref or ref.endswith(".") or ref.startswith("-"):
        return False
    if _REF_BAD_CHARS.search(ref):
        return False
    for part in ref.split("/"):
        if (not part or part.startswith(".") or part.endswith(".lock")
                or len(part.encode("utf-8", "replace")) > REF_COMPONENT_MAX):
            return False
    return True


def valid_sha(sha: object) -> bool:
    """A full object id (SHA-1, or SHA-256 for sha256 repositories), lower-case hex."""
    return isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha) is not None


def valid_id(text: object) -> bool:
    """A numeric id in a URL: ASCII digits only (``int()`` would also take "²",
    " 1\r\n" or "1_000"), at most 30 of them."""
    return isinstance(text, str) and re.fullmatch(r"[0-9]{1,30}", text) is not None


def valid_repo_path(path: object) -> bool:
    """A path inside a repository's tree, as the contents API takes it: relative (no
    leading ``/``), no ``.`` or ``..`` segment, no empty segment except one trailing
    ``/``, no NUL, at most 4096 characters. The empty path is the root."""
    if not isinstance(path, str) or len(path) > PATH_MAX or "\x00" in path:
        return False
    if path == "":
        return True
    if path.startswith("/"):
        return False
    parts = path.removesuffix("/").split("/")
    return all(part not in ("", ".", "..") for part in parts)


def inside(root: Path, candidate: Path) -> bool:
    """``candidate`` resolves (symlinks followed) to ``root`` or below it; ``root`` must
    already be resolved. Anything that cannot be resolved is outside."""
    try:
        real = Path(os.path.realpath(candidate))
    except (OSError, ValueError):
        return False
    return real == root or root in real.parents


# -- JSON bodies --------------------------------------------------------------------------
MAX_BODY_BYTES = 1024 * 1024  # no endpoint of the emulator takes more than this
MAX_JSON_DEPTH = 100  # what GitHub's JSON parser nests to (Ruby's default max_nesting)
MAX_NUMBER_CHARS = 100  # digits, sign, point and exponent of one number literal


class BadJSON(ValueError):
    """The body is not JSON the emulator accepts; the message says why."""


# GitHub's bounds, read by tako's one JSON reader (``core.strictjson``).
BODY_LIMITS = strictjson.Limits(max_depth=MAX_JSON_DEPTH, max_number_chars=MAX_NUMBER_CHARS,
                                max_bytes=MAX_BODY_BYTES)


def parse_json(body: bytes, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The body as JSON (RFC 8259: UTF-8, no ``NaN``/``Infinity``), refused with
    :class:`BadJSON` when larger than ``max_bytes``, nested deeper than 100, holding a
    number literal longer than 100 characters or a string with a lone surrogate."""
    if len(body) > max_bytes:
        raise BadJSON(f"the body is {len(body)} bytes (at most {max_bytes})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadJSON("the body is not UTF-8") from None
    try:
        return strictjson.read_json(text, BODY_LIMITS, locate=False)
    except strictjson.JsonInputError as error:
        raise BadJSON(_terse(error)) from None


def _terse(error: strictjson.JsonInputError) -> str:
    """The emulator's own short wording (no place: GitHub answers one message)."""
    if error.kind == "depth":
        return f"nested {error.size} deep (at most {MAX_JSON_DEPTH})"
    if error.kind == "infinite":
        return "a number out of range (it reads as infinity)"
    if error.kind == "surrogate":
        return "a string holds a lone surrogate"
    return error.reason
