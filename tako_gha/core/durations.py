"""Durations as users write them: ``90``, ``90s``, ``2m``, ``1h30m``, ``1d``."""

from __future__ import annotations

import math
import re

# Longer than any GitHub Actions run may live (35 days) by far, and small enough for
# datetime arithmetic: a wait beyond it is a typo, not a plan.
MAX_SECONDS = 366 * 86400
EXAMPLES = "examples: 90, 90s, 2m, 1h30m"
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Return seconds. A bare number means seconds. Raises DurationError with a hint."""
    raw = text.strip().lower()
    if not raw:
        raise DurationError(f"empty duration ({EXAMPLES})")
    try:
        value = float(raw)
    except ValueError:
        value = _parse_units(raw, text)
    if math.isnan(value):
        raise _unreadable(text)
    if value < 0:
        raise DurationError(f"duration {text!r} is negative")
    if value > MAX_SECONDS:
        raise DurationError(f"duration {text!r} is longer than a year (366d)")
    return value


def _parse_units(raw: str, original: str) -> float:
    total, pos = 0.0, 0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or pos == 0:
        raise _unreadable(original)
    return total


def _unreadable(text: str) -> DurationError:
    return DurationError(f"cannot read duration {text!r} ({EXAMPLES})")


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
