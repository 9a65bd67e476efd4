"""``${{ }}`` expressions: a table of cases with GitHub's documented semantics."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tako_gha.emulator.expressions import (
    ExpressionError,
    Status,
    condition_expression,
    evaluate,
    evaluate_condition,
    interpolate,
    loose_equals,
    to_number,
    to_string,
)

CTX: dict[str, Any] = {
    "github": {
        "event": {
            "client_payload": {
                "tako": {"title": "tako [r1]", "depth": 2},
                "Mixed": "Case",
                "list": [1, "two", {"k": "v"}],
                "objs": [{"name": "a", "n": 1}, {"name": "b", "n": 2}],
                "empty": "",
                "zero": 0,
                "flag": False,
            },
        },
        "event_name": "repository_dispatch",
        "workflow": "Rebuild",
        "repository": "acme/app",
    },
    "env": {"MODE": "prod", "NUM": "42"},
    "secrets": {"TAKO_TOKEN": "t-1"},
    "steps": {"s1": {"outputs": {"v": "x"}, "outcome": "success"}},
    "inputs": {},
}

CASES: list[tuple[str, Any]] = [
    # literals
    ("null", None),
    ("true", True),
    ("FALSE", False),
    ("42", 42),
    ("-7", -7),
    ("3.5", 3.5),
    ("0xff", 255),
    ("1e3", 1000.0),
    ("'it''s'", "it's"),
    ("''", ""),
    # context access, case-insensitive, missing -> null
    ("github.workflow", "Rebuild"),
    ("GITHUB.Workflow", "Rebuild"),
    ("github.event.client_payload.tako.title", "tako [r1]"),
    ("github.event.client_payload.mixed", "Case"),
    ("github.event.client_payload.nope", None),
    ("github.event.client_payload.nope.deeper", None),
    ("github['event']['client_payload']['tako']['depth']", 2),
    ("github.event.client_payload.list[1]", "two"),
    ("github.event.client_payload.list[2].k", "v"),
    ("github.event.client_payload.list[9]", None),
    ("github.event.client_payload.objs.*.name", ["a", "b"]),
    ("steps.s1.outputs.v", "x"),
    ("secrets.TAKO_TOKEN", "t-1"),
    ("inputs.anything", None),
    # || and && return operand values
    ("github.event.client_payload.tako.title || github.workflow", "tako [r1]"),
    ("github.event.client_payload.nope || github.workflow", "Rebuild"),
    ("github.event.client_payload.empty || 'fallback'", "fallback"),
    ("github.event.client_payload.zero || 'z'", "z"),
    ("github.event.client_payload.flag || null", None),
    ("'a' && 'b'", "b"),
    ("'' && 'b'", ""),
    ("github.event.client_payload.tako && github.event.client_payload.tako.depth", 2),
    ("env.MODE == 'prod' && 'yes' || 'no'", "yes"),
    ("env.MODE == 'dev' && 'yes' || 'no'", "no"),
    # equality: case-insensitive strings, coercion to numbers across types
    ("'ABC' == 'abc'", True),
    ("'abc' != 'abd'", True),
    ("env.NUM == 42", True),
    ("'' == 0", True),
    ("null == 0", True),
    ("null == null", True),
    ("true == 1", True),
    ("'true' == true", False),  # 'true' -> NaN
    ("github.event == github.event", True),
    ("github.event.client_payload.list == 'x'", False),
    ("'0x10' == 16", True),
    # comparison
    ("1 < 2", True),
    ("'b' > 'A'", True),
    ("'10' >= 9", True),
    ("'abc' < 5", False),  # NaN compares false
    ("2 <= 2", True),
    # not and grouping
    ("!github.event.client_payload.nope", True),
    ("!(1 == 1)", False),
    ("!!'x'", True),
    ("(1 == 2) || (2 == 2)", True),
    # functions
    ("contains('Hello World', 'world')", True),
    ("contains(github.event.client_payload.list, 'TWO')", True),
    ("contains(github.event.client_payload.list, 1)", True),
    ("contains(github.event.client_payload.list, 3)", False),
    ("startsWith('refs/heads/main', 'REFS/')", True),
    ("endsWith('file.yml', '.YML')", True),
    ("endswith('file.yml', '.yaml')", False),
    ("format('{0}-{1}-{0}', 'a', 2)", "a-2-a"),
    ("format('{{literal}} {0}', true)", "{literal} true"),
    ("join(github.event.client_payload.objs.*.name)", "a,b"),
    ("join(github.event.client_payload.objs.*.name, ' + ')", "a + b"),
    ("join('solo', '-')", "solo"),
    ("toJSON(github.event.client_payload.tako)", '{\n  "title": "tako [r1]",\n  "depth": 2\n}'),
    ("fromJSON('{\"a\": [1, 2]}').a[1]", 2),
    ("fromJSON('true')", True),
    ("fromJSON(toJSON(github.event.client_payload.list))[2].k", "v"),
]


@pytest.mark.parametrize(("expr", "expected"), CASES)
def test_expression_table(expr: str, expected: Any) -> None:
    assert evaluate(expr, CTX) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "empty expression"),
        ("github.", "property name"),
        ("1 ==", "unexpected end of expression"),
        ("(1 == 1", "expected ')'"),
        ("'open", "unterminated string"),
        ("nosuch.x", "Unrecognized named-value: 'nosuch'"),
        ("frobnicate(1)", "Unrecognized function: 'frobnicate'"),
        ("contains('a')", "takes 2 argument(s), 1 given"),
        ("success(1)", "takes no arguments"),
        ("1 2", "unexpected 2"),
        ("a $ b", "unexpected symbol '$'"),
        ("format('{0} {1}', 'x')", "placeholder {1}"),
        ("format('{x}')", "invalid placeholder"),
        ("format('a}')", "unmatched"),
        ("fromJSON('{bad')", "not valid JSON"),
        ("(" * 60 + "1" + ")" * 60, "nested deeper"),
        ("'" + "x" * 21_000 + "'", "limit is 21000"),
    ],
)
def test_bad_expressions_raise_clear_errors(expr: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=None) as info:
        evaluate(expr, {"github": {}})
    assert message in str(info.value)


def test_error_names_position() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("github.x == nosuch", {"github": {}})
    assert "position 13" in str(info.value) and "github.x == nosuch" in str(info.value)


def test_short_circuit_skips_errors_on_the_untaken_side() -> None:
    assert evaluate("'x' || nosuch.y", CTX) == "x"
    assert evaluate("false && fromJSON('bad')", CTX) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("run ${{ github.workflow }}!", "run Rebuild!"),
        ("${{ github.event.client_payload.tako.title || github.workflow }}", "tako [r1]"),
        ("${{github.event.client_payload.nope}}", ""),
        ("a ${{ 1 }} b ${{ true }} c ${{ null }}", "a 1 b true c "),
        ("${{ '}}' }} ok", "}} ok"),
        ("${{ 2.50 }}", "2.5"),
        ("${{ 3.0 }}", "3"),
        ("obj ${{ github.event.client_payload.list[2] }}", 'obj {\n  "k": "v"\n}'),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, CTX) == expected


def test_interpolate_unclosed_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="without a closing"):
        interpolate("x ${{ github.workflow", CTX)


@pytest.mark.parametrize(
    ("cond", "status", "expected"),
    [
        (None, Status(), True),
        (None, Status(failed=True), False),
        (None, Status(cancelled=True), False),
        (True, Status(), True),
        (True, Status(failed=True), False),
        (False, Status(), False),
        ("always()", Status(failed=True, cancelled=True), True),
        ("failure()", Status(failed=True), True),
        ("failure()", Status(), False),
        ("cancelled()", Status(cancelled=True), True),
        ("success()", Status(blocked=True), False),
        ("failure()", Status(blocked=True), False),
        ("env.MODE == 'prod'", Status(), True),
        ("env.MODE == 'prod'", Status(failed=True), False),
        ("${{ env.MODE == 'prod' }}", Status(), True),
        ("${{ env.MODE == 'dev' }}", Status(), False),
        ("always() && env.MODE == 'dev'", Status(failed=True), False),
        ("${{ failure() || env.MODE == 'prod' }}", Status(failed=True), True),
        # text around ${{ }} makes a non-empty string: truthy, as GitHub warns
        ("${{ false }} extra", Status(), True),
        ("", Status(), True),
    ],
)
def test_conditions(cond: Any, status: Status, expected: bool) -> None:
    assert evaluate_condition(cond, CTX, status) is expected


def test_condition_expression_adds_implicit_success() -> None:
    assert condition_expression("a == b") == "success() && (a == b)"
    assert condition_expression("${{ Always() }}") == "Always()"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0.0), (True, 1.0), ("", 0.0), (" 12 ", 12.0), ("-1.5e1", -15.0),
     ("0x1F", 31.0), ([], math.nan), ("abc", math.nan)],
)
def test_to_number(value: Any, expected: float) -> None:
    got = to_number(value)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_to_string_and_equality_helpers() -> None:
    assert to_string(math.nan) == "NaN"
    assert to_string(math.inf) == "Infinity"
    assert to_string(False) == "false"
    assert loose_equals({"a": 1}, {"a": 1}) is False  # objects only equal themselves
    assert loose_equals(math.nan, math.nan) is False


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("github.event.client_payload.list['1']", None),  # arrays index by number only
        ("github.event.client_payload.list[0.5]", None),
        ("github.event.client_payload.tako[1]", None),  # objects: key "1"
        ("github.event.client_payload.tako.*", ["tako [r1]", 2]),
        ("github.event.client_payload.objs[*].n", [1, 2]),
        ("github.event.client_payload.objs.*.missing", []),
        ("github.workflow.*", []),
        ("github.workflow.length", None),
        ("fromJSON('{\"1\": \"one\"}')[1]", "one"),
    ],
)
def test_property_access_edges(expr: str, expected: Any) -> None:
    assert evaluate(expr, CTX) == expected
