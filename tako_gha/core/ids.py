"""Cascade identities and the run-title tag that correlates runs (docs/protocol.md).

A *root id* names one whole cascade. A *dispatch id* names one edge of it and is
deterministic from (root, parent, target repo, event type), so a retried or resumed
fan-out recomputes the same id and recognises what it already sent.

Receivers set ``run-name: ${{ github.event.client_payload.tako.title || github.workflow }}``
(``RUN_NAME_LINE``: the one place this is written; lint, the examples and the emulator's
world builder use it);
the title ends with a compact tag ``[tako:ROOT:PARENT:ID]`` (PARENT is ``-`` for the
origin's own dispatches) so any process can rebuild the tree from run titles alone.
A fan-out adds the root's deadline as a fifth field, ``[tako:ROOT:PARENT:ID:DEADLINE]``
(Unix seconds, 8 hex digits), so a process that rebuilds the tree knows when the
cascade's time ran out (a run cancelled then timed out); tags without it still read.

Only the tag the engine wrote counts: it is the title's last token, after one space,
in the exact grammar above. Anything else in a title that looks like a tag (an event
type is chosen by people) is never read as one; ``tag_shape_in`` lets the engine
refuse such an event type before anything is sent.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

ID_LEN = 12
_ID = rf"[0-9a-f]{{{ID_LEN}}}"
TAG_RE = re.compile(rf"\[tako:(?P<root>{_ID}):(?P<parent>{_ID}|-):(?P<id>{_ID})"
                    r"(?::(?P<deadline>[0-9a-f]{8}))?\]")
# The engine's tag: the very end of the title, after one space (fixed position).
_END_TAG_RE = re.compile(rf" {TAG_RE.pattern}\Z")
# Anything a reader could take for a tag, however malformed: "[tako:" in any case.
_TAG_SHAPE_RE = re.compile(r"\[\s*tako\s*:", re.IGNORECASE)
# Where a receiver finds the title, and the run-name line that puts it on its runs.
TITLE_EXPR = "github.event.client_payload.tako.title"
RUN_NAME_LINE = "run-name: ${{ " + TITLE_EXPR + " || github.workflow }}"
# Titles are shown in GitHub's UI; keep the human part short so the tag survives.
MAX_TITLE_LEN = 200


def new_root_id() -> str:
    return secrets.token_hex(ID_LEN // 2)


def is_id(text: str) -> bool:
    return bool(re.fullmatch(_ID, text or ""))


def dispatch_id(root: str, parent: str | None, target_repo: str, event_type: str) -> str:
    """Deterministic id of the edge parent → target for ``event_type`` inside ``root``."""
    key = "\x1f".join((root, parent or "-", target_repo.lower(), event_type))
    return hashlib.sha256(key.encode()).hexdigest()[:ID_LEN]


@dataclass(frozen=True)
class TitleTag:
    root: str
    parent: str | None
    id: str
    deadline: int | None = None  # the root's deadline, Unix seconds

    def render(self) -> str:
        when = f":{self.deadline:08x}" if self.deadline is not None else ""
        return f"[tako:{self.root}:{self.parent or '-'}:{self.id}{when}]"


def make_title(event_type: str, source: str, tag: TitleTag) -> str:
    """A run title: readable prefix, then the tag (always intact at the end)."""
    suffix = " " + tag.render()
    prefix = f"{event_type} from {source}"
    room = MAX_TITLE_LEN - len(suffix)
    if len(prefix) > room:
        prefix = prefix[: max(0, room - 1)] + "…"
    return prefix + suffix


def tag_shape_in(text: str) -> str | None:
    """The tag-like part of ``text`` (``"[tako:"`` in any case or spacing), or None:
    text that goes into a title must not carry one, or the title would name two
    cascades."""
    match = _TAG_SHAPE_RE.search(text or "")
    return match.group(0) if match else None


def split_title(title: str | None) -> tuple[str, TitleTag | None]:
    """``(head, tag)`` of a run title: the tag only when the title ends with one the
    engine wrote (``" [tako:ROOT:PARENT:ID]"``), else ``(title, None)``."""
    text = title or ""
    match = _END_TAG_RE.search(text)
    if match is None:
        return text, None
    parent, deadline = match.group("parent"), match.group("deadline")
    tag = TitleTag(match.group("root"), None if parent == "-" else parent, match.group("id"),
                   int(deadline, 16) if deadline else None)
    return text[: match.start()], tag


def parse_title(title: str | None) -> TitleTag | None:
    """The tag at the end of a run's ``display_title`` (or ``name``), or None if it
    carries none there (a tag-like string anywhere else is not a tag)."""
    return split_title(title)[1]

