"""Hostile inputs, data-driven: CEL filters (with payloads), tako.yml texts, ranges.

Each corpus file under tests/core/hostile/ lists cases with what must happen. Whatever a
case does, it must finish quickly, never raise anything but the documented error, and
say where and why. Property tests (hypothesis) then throw generated input at the same
entry points: no traceback, bounded time, diagnostics with a location.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from tako_gha.core.filters import FilterError, compile_filter

CORPUS = Path(__file__).parent / "hostile"
SECONDS = 1.0  # generous: a loaded 2-core machine; a case takes milliseconds


def _corpus(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))["cases"]


def _case_id(case: dict[str, Any]) -> str:
    source = case.get("source", case.get("text", case.get("range", "")))
    text = source if isinstance(source, str) else repr(source)
    return text[:60]


# --------------------------------------------------------------------------- CEL


def _deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        node = {"a": node}
    return node


PAYLOADS: dict[str, Any] = {
    "none": lambda: {},
    "list300": lambda: {"l": list(range(300))},
    "list1k": lambda: {"l": list(range(1000))},
    "list5k": lambda: {"l": list(range(5000)), "s": "x" * 1000},
    "list100k": lambda: {"l": list(range(100_000))},
    "strings": lambda: {"s": "a" * 50_000, "t": "ab" * 1000, "parts": ["p"] * 2000,
                        "bad_re": "("},
    "strings_list": lambda: {"l": list(range(2000)), "s": "x" * 40_000},
    "nested": lambda: {"n": [[i] * 10 for i in range(100)]},
    "bigmap": lambda: {"keys": {f"k{i}": i for i in range(2000)}},
    "numbers": lambda: {"big": 2**63 - 1, "f": 1e308, "version": "2.1.0",
                        "huge_version": "1." + "9" * 30},
    "mixed": lambda: {"mixed": [1, "a", None, -1, 2.5, [1], {"k": 1}]},
    "deep": lambda: {"deep": _deep(300)},
}


@functools.cache
def _event(name: str) -> Any:
    """Converted once, as activation_for does once per event."""
    payload = PAYLOADS[name]()
    return celpy.json_to_cel({"type": "built", "source": "my-org/lib", "schema_version": "1.0.0",
                              "payload": payload})


def _source(spec: str | dict[str, Any]) -> str:
    if isinstance(spec, str):
        return spec
    times = spec["times"]
    if "list_of" in spec:
        body = "[" + ", ".join([spec["list_of"]] * times) + "]"
    else:
        body = spec["repeat"] * times + spec.get("then", "") + spec.get("close", "") * times
    return spec.get("prefix", "") + body + spec.get("suffix", "")


_REFUSAL_LIMITS = {"max_length", "max_depth", "max_ast_nodes"}
# What each kind of compile-time refusal says (a word of its message).
_REFUSAL_WORDS = {
    "syntax": ("does not parse", "is empty", "ends too early"),
    "name": ("unknown", "not a value", "takes", "argument", "not supported", "variable"),
    "type": ("not bool",),
    "regex": ("invalid regular expression",),
    "range": ("semver.satisfies",),
}

CEL_CASES = _corpus("cel.yml")


def test_cel_corpus_is_big_enough() -> None:
    assert len(CEL_CASES) >= 100


@pytest.mark.parametrize("case", CEL_CASES, ids=[_case_id(c) for c in CEL_CASES])
def test_hostile_filter(case: dict[str, Any]) -> None:
    source = _source(case["source"])
    expect = case["expect"]
    started = time.monotonic()
    if "refused" in expect:
        with pytest.raises(FilterError) as info:
            compile_filter(source)
        assert time.monotonic() - started < SECONDS
        kind = expect["refused"]
        if kind in _REFUSAL_LIMITS:
            assert info.value.limit == kind and kind in str(info.value)
        else:
            assert info.value.limit is None
            assert any(w in info.value.message for w in _REFUSAL_WORDS[kind]), info.value
        assert len(str(info.value)) < 800
        return
    compiled = compile_filter(source)
    # the payload is converted once per event (activation_for), not per evaluation
    activation = {"event": _event(case.get("payload", "none")), "subscriber": "my-org/app"}
    started = time.monotonic()
    outcome = compiled.evaluate(activation, memo=False)
    elapsed = time.monotonic() - started
    # Under heavy load the wall-clock backstop may stop a run before its step budget.
    if outcome.limit == "max_eval_seconds":
        assert expect.get("stopped") == "max_eval_steps", outcome.reason
    elif "stopped" in expect:
        assert outcome.error and outcome.limit == expect["stopped"], outcome.reason
        assert expect["stopped"] in outcome.reason
    elif "error" in expect:
        assert outcome.error and outcome.limit is None, outcome.reason
        assert expect["error"] in outcome.reason
    else:
        assert not outcome.error, outcome.reason
        assert outcome.matched is expect["value"]
    assert elapsed < SECONDS
    assert len(outcome.reason) < 600 + len(source)
