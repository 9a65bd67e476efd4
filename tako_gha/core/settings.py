"""The numeric settings read from the environment (``TAKO_POLL_MIN_INTERVAL``,
``TAKO_MAX_CHILDREN``, …): one table of what each is and the range it must be in, and
one reader the CLI, the action and the hook share.

Python's ``float()`` takes ``nan``, ``inf``, ``1_000`` and digits of any script, and
``int(float("inf"))`` raises ``OverflowError``: a setting read that way slept NaN
seconds (a finished child then "timed out") or stopped the action with an internal
error. Here a value is ASCII decimal notation only, finite, and within its range, or
``SettingError`` names the setting and says why. Pure: text in, number out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NumberSetting:
    whole: bool  # an int (counts) or a float (seconds)
    high: float  # the largest value taken; every setting is more than zero
    what: str  # what the number counts, for the message
    option: str = ""  # the fan-out option (FanOutOptions field) it tunes, if any


DAY = 86_400.0
SETTINGS: dict[str, NumberSetting] = {
    "TAKO_POLL_MIN_INTERVAL": NumberSetting(False, DAY, "seconds", "poll_min_interval"),
    "TAKO_POLL_MAX_INTERVAL": NumberSetting(False, DAY, "seconds", "poll_max_interval"),
    "TAKO_SIBLING_GRACE": NumberSetting(False, DAY, "seconds", "sibling_grace"),
    "TAKO_HOOK_PLAN_TIMEOUT": NumberSetting(False, 3600.0, "seconds"),
    "TAKO_MAX_CHILDREN": NumberSetting(True, 1_000_000, "children", "max_children"),
    "TAKO_DISPATCHES_PER_MINUTE": NumberSetting(True, 1_000_000, "dispatches",
                                                "dispatches_per_minute"),
    "TAKO_DISPATCHES_PER_HOUR": NumberSetting(True, 60_000_000, "dispatches",
                                              "dispatches_per_hour"),
}
# The settings that tune a fan-out: environment variable -> its option.
OPTION_SETTINGS: dict[str, str] = {name: spec.option for name, spec in SETTINGS.items()
                                   if spec.option}

# Decimal notation, bounded in length (no "1_000", no "١", no 5,000-digit exponents).
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})"
                     r"(?:[eE][+-]?[0-9]{1,3})?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


class SettingError(ValueError):
    """A setting's value tako will not use; the message starts with its name."""


def read_number(name: str, raw: str) -> int | float:
    """The value of setting ``name`` (a key of ``SETTINGS``) written as ``raw``."""
    spec = SETTINGS[name]
    text = raw.strip()
    if _NON_FINITE.fullmatch(text):
        raise SettingError(f"{name}: expected a finite number of {spec.what}, got {raw!r}")
    if not _NUMBER.fullmatch(text):
        raise SettingError(f"{name}: expected a number of {spec.what}, got {raw!r}")
    value = float(text)
    if not math.isfinite(value) or value > spec.high:  # "1e999" reads as infinity
        raise SettingError(f"{name}: at most {spec.high:g} {spec.what}, got {raw!r}")
    if value <= 0:
        raise SettingError(f"{name}: must be positive, got {raw!r}")
    if not spec.whole:
        return value
    if not value.is_integer():
        raise SettingError(f"{name}: expected a whole number of {spec.what}, got {raw!r}")
    return int(value)
