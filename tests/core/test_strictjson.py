"""The one payload reader (tako_gha.core.strictjson): standard JSON, bounded, located."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tako_gha.core.strictjson import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    JsonInputError,
    Limits,
    json_nesting,
    read_json,
    read_json_object,
)

DEFAULT = Limits()


def _refusal(text: str, limits: Limits = DEFAULT) -> JsonInputError:
    with pytest.raises(JsonInputError) as info:
        read_json_object(text, limits)
    return info.value


@pytest.mark.parametrize(("text", "line", "col", "path", "reason"), [
    ('{"a": NaN}', 1, 7, "$.a", "NaN is not JSON"),
    ('{"a": [1, Infinity]}', 1, 11, "$.a[1]", "Infinity is not JSON"),
    ('{"a":\n  {"b": [0, 1, -Infinity]}}', 2, 16, "$.a.b[2]", "-Infinity is not JSON"),
    ('{"x y": {"k": 1e999}}', 1, 15, '$["x y"].k', "1e999 is too large"),
    ('{"n": -1.5E+400}', 1, 7, "$.n", "reads as infinity"),
    ('{"n": ' + "7" * 5000 + "}", 1, 7, "$.n", "a number of 5,000 characters"),
    ('{"s": "\\ud800"}', 1, 7, "$.s", "lone UTF-16 surrogate"),
    ('{"s": "\\udc00\\ud800"}', 1, 7, "$.s", "lone UTF-16 surrogate"),
    ('{"a": 1,}', 1, 9, "", "not valid JSON"),
    ("[1]", 1, 1, "", "must be a JSON object, got an array"),
    ('"text"', 1, 1, "", "must be a JSON object, got a string"),
    ("", 1, 1, "", "not valid JSON: Expecting value"),
])
def test_each_refusal_says_where_and_why(text: str, line: int, col: int, path: str,
                                         reason: str) -> None:
    error = _refusal(text)
    assert (error.line, error.col) == (line, col)
    assert reason in error.reason
    assert error.path == path or (not path and error.path in ("", "$"))
    assert str(error).startswith(f"line {line} column {col}")


def test_nesting_is_bounded_before_python_recurses() -> None:
    """Before: 100,000 '[' made json.loads hit the recursion limit (internal error)."""
    error = _refusal("[" * 100_000)
    assert error.reason == f"nested deeper than {MAX_DEPTH} levels"
    assert (error.line, error.col) == (1, MAX_DEPTH + 1)
    assert "more" in error.path and len(error.path) < 60  # the path's ends, not 64 steps
    deepest = '{"a":' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert read_json_object(deepest)["a"] == [] or read_json_object(deepest)


def test_limits_are_exact() -> None:
    longest = "9" * MAX_NUMBER_CHARS
    assert read_json_object(f'{{"n": {longest}}}') == {"n": int(longest)}
    assert "characters" in _refusal(f'{{"n": {longest}9}}').reason
    assert read_json_object('{"n": 1.7976931348623157e308}')["n"] == 1.7976931348623157e308
    text = '{"s": "' + "x" * (MAX_BYTES - 10) + '"}'
    assert len(text.encode()) == MAX_BYTES - 1 and read_json_object(text)
    error = _refusal('{"s": "' + "x" * MAX_BYTES + '"}')
    assert "bytes of JSON; at most 1,048,576 are read" in error.reason
    assert (error.line, error.col) == (1, MAX_BYTES + 1)
    small = Limits(max_depth=2, max_number_chars=3, max_bytes=50)
    assert read_json_object('{"a": {"b": 123}}', small)
    assert "deeper than 2" in _refusal('{"a": {"b": [1]}}', small).reason
    assert "4 characters" in _refusal('{"a": 1234}', small).reason


def test_standard_json_is_read_as_json_reads_it() -> None:
    text = ('{"version": "2.1.0", "n": -0.5e-3, "big": 123456789012345678901234567890, '
            '"emoji": "\\ud83d\\ude00 ☃", "list": [true, false, null, {}, []], '
            '"esc": "a\\"b\\\\c\\/\\n", "\\u00e9": 1}')
    assert read_json_object(text) == json.loads(text)
    assert read_json("  [1, 2]\n") == [1, 2]


def test_text_that_is_not_unicode_is_located() -> None:
    """A command-line argument with bytes that are not UTF-8 arrives with surrogates."""
    error = _refusal('{"a":\n "x\udcff"}')
    assert (error.line, error.col) == (2, 4) and "not valid Unicode" in error.reason


# ------------------------------------------------------------------ properties
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**80, max_value=10**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["\ud800", "\udfff", "x\udc80y"]))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=30)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    children = value.values() if isinstance(value, dict) else value \
        if isinstance(value, list) else []
    return any(_non_finite(child) for child in children)


def _hostile_text(value: Any, depth: int, wrap: str) -> str:
    """A JSON-ish text: Python's json with NaN/Infinity allowed and lone surrogates
    escaped, nested ``depth`` more levels inside an object or an array."""
    body = json.dumps(value, allow_nan=True)
    opener, closer = ("[", "]") if wrap == "[" else ('{"k":', "}")
    return '{"p":' + opener * depth + body + closer * depth + "}"


def _check(text: str) -> None:
    started = time.thread_time()
    try:
        data = read_json_object(text)
    except JsonInputError as error:
        # Every refusal names a place: a line and column (1-based) in the text.
        assert error.line >= 1 and error.col >= 1, (text[:80], error)
        assert str(error).startswith(f"line {error.line} column {error.col}")
    else:
        # What is accepted is standard JSON that Python writes back identically.
        assert isinstance(data, dict)
        again = json.dumps(data, allow_nan=False)
        assert json.loads(again) == data
        again.encode("utf-8")
    assert time.thread_time() - started < 2.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_VALUES, st.integers(min_value=0, max_value=80), st.sampled_from(["[", "{"]))
def test_any_generated_payload_is_read_or_refused_with_a_place(value: Any, depth: int,
                                                              wrap: str) -> None:
    text = _hostile_text(value, depth, wrap)
    _check(text)
    if _non_finite(value) or 1 + depth + _depth(value) > MAX_DEPTH:
        with pytest.raises(JsonInputError):
            read_json_object(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*'{}[]:,"\\ \n0123456789.eE+-aeflnrstuINaf',
                                         "\ud800", "é", "\t", "\x00"]), max_size=200))
def test_any_text_is_read_or_refused_with_a_place(text: str) -> None:
    _check(text)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=MAX_DEPTH + 1, max_value=5000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_always_refused_at_the_bound(depth: int, opener: str) -> None:
    error = _refusal('{"x":' + opener * depth)
    assert error.reason == f"nested deeper than {MAX_DEPTH} levels"


def test_the_worst_inputs_are_quick() -> None:
    """Bounded time: a quarter of the size bound in the costliest shapes (every token
    through the slow path) reads in about 0.1 s on an idle machine; the bound is
    generous for a loaded one measured under coverage. The full 1 MiB takes about
    0.5 s."""
    size = MAX_BYTES // 4
    unit = '[[[[1, "x\\u00e9", 1e5]]]],'
    shapes = ['{"a": [' + unit * ((size - 20) // len(unit)) + "1]}",
              '{"a": [' + "1," * ((size - 20) // 2) + "1]}",
              '{"a": "' + "\\u00e9" * ((size - 20) // 6) + '"}']
    for text in shapes:
        assert len(text.encode()) <= size
        started = time.perf_counter()
        read_json_object(text)
        assert time.perf_counter() - started < 10.0
    assert math.isfinite(read_json_object('{"f": 1e308}')["f"])


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ("[]", 1), ('[{"a": [1]}]', 3), ('["[[[["]', 1), ('{"a\\"[[": []}', 2),
    ("[" * 500, 500), ('"unterminated [[[', 3),
])
def test_nesting_is_measured_outside_strings(text: str, depth: int) -> None:
    assert json_nesting(text) == depth
