"""The dispatch body (docs/protocol.md) and GitHub's limits on it, checked before sending.

GitHub answers an oversize or over-wide ``client_payload`` with a bare 422; tako
refuses it earlier with a message naming the limit and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tako_gha.core.events import Event

MAX_EVENT_TYPE_LEN = 100
MAX_TOP_LEVEL_KEYS = 10
MAX_PAYLOAD_BYTES = 64 * 1024  # "must be less than 64KB"


class PayloadError(ValueError):
    """A dispatch GitHub would refuse; ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class TakoMeta:
    """The ``tako`` block: this dispatch's place in the tree."""

    root: str
    parent: str | None
    id: str
    depth: int
    chain: tuple[str, ...]
    deadline: datetime | None
    title: str
    budget: dict[str, float] | None = None  # the child's part of the token's budgets
    slot: list[float] | None = None  # the child's arc of its parent's write period

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"budget": self.budget} if self.budget is not None else {}
        if self.slot is not None:
            extra["slot"] = self.slot
        return {
            "root": self.root,
            "parent": self.parent,
            "id": self.id,
            "depth": self.depth,
            "chain": list(self.chain),
            "deadline": format_rfc3339(self.deadline) if self.deadline else None,
            "title": self.title,
            **extra,
        }


def build_client_payload(event: Event, inputs: dict[str, Any], meta: TakoMeta) -> dict[str, Any]:
    return {"event": event.to_json(), "inputs": dict(inputs), "tako": meta.to_json()}


def payload_size(payload: dict[str, Any]) -> int:
    """Bytes of the JSON GitHub receives. Measured the way HTTP clients usually
    serialise (ASCII-escaped, default separators): the larger, safer reading."""
    return len(json.dumps(payload).encode("utf-8"))


def check_dispatch(event_type: str, payload: dict[str, Any]) -> None:
    """Raise PayloadError if GitHub would refuse this dispatch (422)."""
    if not event_type:
        raise PayloadError("event type is empty", "pass --event TYPE")
    if len(event_type) > MAX_EVENT_TYPE_LEN:
        raise PayloadError(
            f"event type is {len(event_type)} characters; GitHub allows at most "
            f"{MAX_EVENT_TYPE_LEN}",
            "use a shorter event type",
        )
    if len(payload) > MAX_TOP_LEVEL_KEYS:
        raise PayloadError(
            f"client_payload has {len(payload)} top-level keys; GitHub allows at most "
            f"{MAX_TOP_LEVEL_KEYS}",
            "nest the extra keys under one key",
        )
    size = payload_size(payload)
    if size >= MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"client_payload is {size} bytes of JSON; GitHub requires less than "
            f"{MAX_PAYLOAD_BYTES} (64 KB)",
            "send a smaller event payload: put large data in an artifact or release "
            "and pass its URL",
        )


def format_rfc3339(moment: datetime) -> str:
    """UTC, second precision, ``Z`` suffix: ``2026-11-25T10:40:00Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset); naive values mean UTC."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
