"""Hostile values for the numeric settings read from the environment, each with its
expected answer: the number tako uses, or a fragment of the refusal (which always
starts with the setting's name). Data only: tests/core/test_settings.py runs them
through core.settings, the CLI and the action.

Before: ``TAKO_SIBLING_GRACE``/``TAKO_POLL_MIN_INTERVAL`` took ``nan`` and ``inf`` (a
succeeded child then exited 3), ``TAKO_MAX_CHILDREN=inf`` was an internal error.
"""

from __future__ import annotations

CASES: list[tuple[str, str, float | str]] = [
    # non-finite
    ("TAKO_SIBLING_GRACE", "nan", "expected a finite number"),
    ("TAKO_SIBLING_GRACE", "inf", "expected a finite number"),
    ("TAKO_SIBLING_GRACE", "-inf", "expected a finite number"),
    ("TAKO_POLL_MIN_INTERVAL", "NaN", "expected a finite number"),
    ("TAKO_POLL_MIN_INTERVAL", "Infinity", "expected a finite number"),
    ("TAKO_POLL_MAX_INTERVAL", "+inf", "expected a finite number"),
    ("TAKO_MAX_CHILDREN", "inf", "expected a finite number"),
    ("TAKO_MAX_CHILDREN", "nan", "expected a finite number"),
    ("TAKO_DISPATCHES_PER_MINUTE", "inf", "expected a finite number"),
    ("TAKO_DISPATCHES_PER_HOUR", "-nan", "expected a finite number"),
    ("TAKO_HOOK_PLAN_TIMEOUT", "inf", "expected a finite number"),
    # reads as infinity, or simply too large
    ("TAKO_SIBLING_GRACE", "1e999", "at most 86400 seconds"),
    ("TAKO_POLL_MIN_INTERVAL", "90000", "at most 86400 seconds"),
    ("TAKO_MAX_CHILDREN", "1e308", "at most 1e+06 children"),
    ("TAKO_MAX_CHILDREN", "9" * 30, "at most 1e+06 children"),
    ("TAKO_HOOK_PLAN_TIMEOUT", "3601", "at most 3600 seconds"),
    # not positive
    ("TAKO_SIBLING_GRACE", "0", "must be positive"),
    ("TAKO_SIBLING_GRACE", "-1", "must be positive"),
    ("TAKO_POLL_MIN_INTERVAL", "-0.0", "must be positive"),
    ("TAKO_MAX_CHILDREN", "0", "must be positive"),
    ("TAKO_DISPATCHES_PER_MINUTE", "-5", "must be positive"),
    # not decimal notation, or not whole
    ("TAKO_SIBLING_GRACE", "fast", "expected a number of seconds"),
    ("TAKO_SIBLING_GRACE", "1_000", "expected a number of seconds"),
    ("TAKO_SIBLING_GRACE", "\u0661", "expected a number of seconds"),  # Arabic-Indic 1
    ("TAKO_SIBLING_GRACE", "0x10", "expected a number of seconds"),
    ("TAKO_SIBLING_GRACE", "1e" + "9" * 5000, "expected a number of seconds"),
    ("TAKO_SIBLING_GRACE", "2s", "expected a number of seconds"),
    ("TAKO_MAX_CHILDREN", "2.5", "expected a whole number of children"),
    ("TAKO_DISPATCHES_PER_HOUR", "1e-3", "expected a whole number"),
    # taken
    ("TAKO_SIBLING_GRACE", "0.2", 0.2),
    ("TAKO_SIBLING_GRACE", " 3 ", 3.0),
    ("TAKO_POLL_MIN_INTERVAL", ".5", 0.5),
    ("TAKO_POLL_MAX_INTERVAL", "86400", 86400.0),
    ("TAKO_MAX_CHILDREN", "500", 500),
    ("TAKO_MAX_CHILDREN", "1e3", 1000),
    ("TAKO_DISPATCHES_PER_MINUTE", "100000", 100000),
    ("TAKO_DISPATCHES_PER_HOUR", "1000000", 1000000),
    ("TAKO_HOOK_PLAN_TIMEOUT", "2.5", 2.5),
]
