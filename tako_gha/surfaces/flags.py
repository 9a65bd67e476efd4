"""Flag values every command reads the same way: ``--payload`` and durations.

One reader per kind of value, so ``plan`` and ``fan-out`` accept the same text and
refuse it with the same words (the action entry reads its inputs in ``action``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tako_gha.core.durations import EXAMPLES, DurationError, parse_duration
from tako_gha.surfaces.errors import UserError

PAYLOAD_EXAMPLE = """--payload '{"version": "2.1.0"}'"""


def read_payload(raw: str | None) -> dict[str, Any]:
    """``--payload`` as JSON text, ``@FILE`` or ``@-`` (stdin); must be an object."""
    if raw is None:
        return {}
    where, text = "--payload", raw
    if raw.startswith("@"):
        where = f"--payload {raw}"
        text = _read_payload_file(raw[1:], where)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}",
                        hint=f"pass a JSON object, e.g. {PAYLOAD_EXAMPLE} "
                             "or --payload @payload.json") from None
    if not isinstance(data, dict):
        raise UserError(f"{where} must be a JSON object, got {type(data).__name__}",
                        hint=f"wrap it, e.g. {PAYLOAD_EXAMPLE}")
    return data


def _read_payload_file(name: str, where: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{where}: cannot read the file: {exc.strerror or exc}",
                        hint="give @PATH of a readable JSON file") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{where}: the file is not UTF-8 text (byte {exc.start})",
                        hint="give @PATH of a JSON file saved as UTF-8") from None


def read_duration(value: str, flag: str) -> float:
    """A duration flag in seconds: more than zero, at most a year (core.durations)."""
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        # Some messages already carry the examples; say them once.
        hint = "" if EXAMPLES in str(exc) else EXAMPLES
        raise UserError(f"{flag}: {exc}", hint=hint) from None
    if seconds <= 0:
        raise UserError(f"{flag}: must be more than zero, got {value!r}",
                        hint=EXAMPLES)
    return seconds
