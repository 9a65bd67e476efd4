"""The event a repository publishes and a cascade carries (docs/tako-yml.md, docs/protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """``{type, schema_version?, source: "owner/repo", payload: {...}}``."""

    type: str
    source: str
    payload: dict[str, Any] = field(default_factory=dict)
    schema_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "schema_version": self.schema_version,
            "source": self.source,
            "payload": self.payload,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            type=str(data["type"]),
            source=str(data.get("source", "")),
            payload=dict(data.get("payload") or {}),
            schema_version=data.get("schema_version"),
        )
