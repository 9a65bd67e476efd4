"""Diagnostics: one problem found in a user's input, with where and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """A problem at ``file:line:col`` (1-based; 0 when unknown) with a one-line hint."""

    severity: Severity
    message: str
    file: str = ""
    line: int = 0
    col: int = 0
    hint: str = ""
    code: str = ""  # stable short id, e.g. "unknown-key", for tests and --format json

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line:
            parts.append(str(self.line))
            if self.col:
                parts.append(str(self.col))
        return ":".join(parts)

    def format(self) -> str:
        text = f"{self.location()}: {self.severity.value}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)
