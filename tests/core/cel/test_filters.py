"""CEL filters (docs/filters.md): functions, errors, caching, limits, and the seed filters."""

from __future__ import annotations

import time
from typing import Any

import celpy
import pytest
import semver
from celpy import celtypes
from hypothesis import given
from hypothesis import strategies as st

from tako_gha.core.cel import (
    DEFAULT_LIMITS,
    FUNCTIONS,
    CompiledFilter,
    FilterError,
    FilterLimits,
    FilterOutcome,
    activation_for,
    compile_filter,
)
from tako_gha.core.cel import budget as budget_module
from tako_gha.core.cel import compiled as filters_module
from tako_gha.core.events import Event

SEED_SERVICES = "'user-service' in event.payload.services.split(',').map(s, s.trim().lower())"
SEED_MAJOR = "semver.major(event.payload.version) >= 2"
SEED_STATUS = 'event.payload.build_status == "success"'


def make_event(**payload: Any) -> Event:
    base: dict[str, Any] = {
        "version": "2.1.0",
        "services": "billing, User-Service ,search",
        "build_status": "success",
    }
    base.update(payload)
    return Event(
        type="library_built", source="my-org/core-lib", payload=base, schema_version="1.2.0"
    )


def run(source: str, subscriber: str = "my-org/app", **payload: Any) -> FilterOutcome:
    return compile_filter(source).evaluate(activation_for(make_event(**payload), subscriber))


# --- the seed filters, exactly as users write them -----------------------------------


def test_seed_filters_match() -> None:
    for source in (SEED_SERVICES, SEED_MAJOR, SEED_STATUS):
        outcome = run(source)
        assert outcome == FilterOutcome(True), source


@pytest.mark.parametrize(
    ("source", "payload"),
    [
        (SEED_SERVICES, {"services": "billing,search"}),
        (SEED_SERVICES, {"services": "user-service-v2"}),
        (SEED_MAJOR, {"version": "1.9.9"}),
        (SEED_MAJOR, {"version": "v1.0"}),
        (SEED_STATUS, {"build_status": "failure"}),
    ],
)
def test_seed_filters_do_not_match_with_reason(source: str, payload: dict[str, Any]) -> None:
    outcome = run(source, **payload)
    assert not outcome.matched and not outcome.error
    assert outcome.reason == f"filter is false: {source}"


def test_seed_major_accepts_partial_and_prerelease_versions() -> None:
    assert run(SEED_MAJOR, version="2").matched
    assert run(SEED_MAJOR, version="3.0.0-rc.1").matched
    assert run(SEED_MAJOR, version=2).matched  # a JSON number is a bare major version


# --- functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "semver.major('2.1.3') == 2",
        "semver.minor('2.1.3') == 1",
        "semver.patch('2.1.3') == 3",
        "semver.patch('v4') == 0",
        "semver.compare('1.2.3', '1.10.0') == -1",
        "semver.compare('2.0.0', '2.0.0+build') == 0",
        "semver.compare('2.0.0', '2.0.0-rc.1') == 1",
        "semver.satisfies('1.4.0', '^1.2')",
        "!semver.satisfies('2.0.0-rc.1', '^1.2')",
        "semver.satisfies(event.payload.version, '[2.0.0...3.0.0)')",
        "semver.satisfies(event.payload.version, event.payload.range)",
        "'a, b ,c'.split(',') == ['a', ' b ', 'c']",
        "'a,b,c'.split(',', 2) == ['a', 'b,c']",
        "'a,b'.split(',', 0) == []",
        "'abc'.split('') == ['a', 'b', 'c']",
        "'abc'.split('', 2) == ['a', 'bc']",
        "'  x \\t'.trim() == 'x'",
        "'MiXeD'.lower() == 'mixed' && 'MiXeD'.upper() == 'MIXED'",
        "'Straße'.upperAscii() == 'STRAßE' && 'ÀB'.lowerAscii() == 'Àb'",
        "'a-b-c'.replace('-', '+') == 'a+b+c'",
        "'a-b-c'.replace('-', '+', 1) == 'a+b-c'",
        "['a', 'b'].join() == 'ab' && ['a', 'b'].join('/') == 'a/b'",
        "'hello'.substring(1, 3) == 'el' && 'hello'.substring(2) == 'llo'",
        "'héllo'.charAt(1) == 'é' && 'hello'.charAt(5) == ''",
        "'hello'.indexOf('l') == 2 && 'hello'.indexOf('l', 3) == 3 && 'a'.indexOf('z') == -1",
        "'hello'.lastIndexOf('l') == 3",
        "event.payload.version.substring(0, event.payload.version.indexOf('.')) == '2'",
        "'user-service'.contains('serv')",
        "'user-service'.startsWith('user') && 'user-service'.endsWith('service')",
        "'release-2.1'.matches('^release-[0-9]+\\\\.[0-9]+$')",
        "matches('abc', 'b') && contains('abc', 'c') && startsWith('abc', 'a')",
        "size('abc') == 3 && 'abc'.size() == 3 && size([1, 2]) == 2",
        "subscriber == 'my-org/app' && subscriber.startsWith('my-org/')",
        "event.type == 'library_built' && event.source == 'my-org/core-lib'",
        "event.schema_version == '1.2.0'",
        "has(event.payload.version) && !has(event.payload.nothing)",
        "event.payload.tags.exists(t, t == 'lts') && event.payload.tags.all(t, t.size() > 1)",
        "event.payload.tags.filter(t, t.startsWith('l')).size() == 1",
        "event.payload.tags.exists_one(t, t == 'lts')",
        "event.payload.count + 1 == 4 && event.payload.ratio > 0.4",
        "event.payload.count * 2 == 6 && 'a' + 'b' == 'ab' && [1] + [2] == [1, 2]",
        "event.payload.nested.deep.flag",
        "event.payload['build_status'] == 'success'",
        "type(event.payload.count) == int",
        "dyn(true)",
        "true ? true : false",
        "(event.payload.count > 1) == true",
    ],
)
def test_functions_and_standard_cel(source: str) -> None:
    outcome = run(
        source,
        range="^2",
        tags=["lts", "stable"],
        count=3,
        ratio=0.5,
        nested={"deep": {"flag": True}},
    )
    assert outcome == FilterOutcome(True), outcome.reason


def test_functions_table_documents_every_extra() -> None:
    text = " ".join(FUNCTIONS)
    for name in (
        "semver.major",
        "semver.minor",
        "semver.patch",
        "semver.compare",
        "semver.satisfies",
        "split",
        "trim",
        "lower",
        "upper",
        "replace",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
    ):
        assert name in text


# --- run-time failures: not matched, with a reason naming the filter ------------------


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("event.payload.missing == 'x'", "no field 'missing'"),
        (
            "true && event.payload.missing == 'x'",
            "no field 'missing' (use has(...) to test for optional fields) (at column 9)",
        ),
        ("event.payload.obj['k'] == 1", "no key 'k'"),
        ("event.payload.missing.exists(x, x == 1)", "no field 'missing'"),
        ("event.payload.tags[5] == 'x'", "list index out of range"),
        ("event.payload.count + 'a' == 'b'", "no operator '+' applied to '(int, string)'"),
        ("event.payload.count.trim() == ''", "trim expects a string, got int"),
        ("semver.major(event.payload.bad) == 1", "semver.major: 'not-a-version' is not a semantic"),
        ("semver.major(event.payload.ratio) == 1", "expects a version string, got double"),
        ("semver.compare(event.payload.bad, '1.0.0') == 0", "semver.compare: 'not-a-version'"),
        ("semver.satisfies('1.0.0', event.payload.bad)", "semver.satisfies: 'not-a-version'"),
        ("semver.satisfies('1.0.0', event.payload.count)", "expects a range string, got int"),
        ("'a'.split(event.payload.count) == []", "split expects a string separator, got int"),
        ("'a'.split(',', 'x') == []", "split expects an int limit, got string"),
        ("'hello'.substring(3, 1) == ''", "substring: end 1 is before start 3"),
        ("'hello'.substring(9) == ''", "substring: index 9 is out of range for a string of 5"),
        ("'hello'.charAt(-1) == ''", "charAt: index -1 is out of range"),
        ("'hello'.indexOf('l', 'x') == 1", "indexOf expects an int, got string"),
        ("'a'.split(',', true) == []", "split expects an int limit, got bool"),
        ("semver.major(true) == 1", "semver.major expects a version string, got bool"),
        ("'a'.replace('a', 'b', 'x') == ''", "replace expects an int limit, got string"),
        ("event.payload.count.join() == ''", "join expects a list of strings, got int"),
        ("[1, 2].join() == ''", "join expects a list of strings, got int"),
        ("int('x') == 1", "bad value: invalid literal for int() with base 10: 'x'"),
        ("1 / event.payload.zero == 1", "divide by zero"),
        ("[1] * 3 == [1, 1, 1]", "no operator '*'"),
        (
            "event.payload.bad.matches(event.payload.bad + '(')",
            "invalid regular expression: missing )",
        ),
        ("event.payload.count.matches('a')", "matches expects strings, got int and string"),
        ("event.payload.count > 'a'", "no operator '>'"),
        ("event.payload.version", "the filter returned string, not bool"),
        ("event.payload.count", "the filter returned int, not bool"),
        ("event.payload.tags", "the filter returned list, not bool"),
        ("event.payload.obj", "the filter returned map, not bool"),
        ("event.payload.nothing_here_is_null", "no field"),
        ("event.payload.null_value", "the filter returned null, not bool"),
    ],
)
def test_runtime_failures_do_not_match_and_say_why(source: str, words: str) -> None:
    outcome = run(
        source,
        bad="not-a-version",
        tags=["a"],
        count=3,
        ratio=0.5,
        obj={},
        zero=0,
        null_value=None,
    )
    assert not outcome.matched
    assert outcome.error
    assert outcome.reason.startswith(f"filter {source!r} failed: ")
    assert words in outcome.reason


def test_errors_in_a_short_circuited_branch_do_not_matter() -> None:
    assert run("true || event.payload.missing == 1").matched
    assert not run("false && event.payload.missing == 1").error
    assert run("has(event.payload.missing) && event.payload.missing == 1").reason.startswith(
        "filter is false"
    )


def test_plain_json_activation_is_accepted() -> None:
    f = compile_filter("event.payload.n > 1 && subscriber == 'o/r'")
    assert f.evaluate({"event": {"payload": {"n": 2}}, "subscriber": "o/r"}).matched
    assert f.evaluate({"event": {"payload": {"n": 0}}, "subscriber": "o/r"}).matched is False


def test_activation_for_exposes_event_and_subscriber() -> None:
    event = make_event()
    activation = activation_for(event, "my-org/app")
    assert set(activation) == {"event", "subscriber"}
    assert activation["event"]["payload"]["version"] == "2.1.0"
    assert isinstance(activation["subscriber"], celtypes.StringType)
    # converted once per Event object, shared by every subscriber's activation
    assert activation_for(event, "my-org/other")["event"] is activation["event"]
    assert activation_for(make_event(), "my-org/app")["event"] is not activation["event"]
    no_version = Event(type="t", source="o/r", payload={})
    assert (
        compile_filter("event.schema_version == null")
        .evaluate(activation_for(no_version, "o/r"))
        .matched
    )


def test_result_is_memoised_per_event_unless_subscriber_is_used() -> None:
    f = compile_filter("event.payload.n > 1")
    event = {"payload": {"n": 2}}
    first = f.evaluate({"event": event, "subscriber": "a/b"})
    again = f.evaluate({"event": event, "subscriber": "c/d"})
    assert again == first and again.steps == 0 < first.steps  # remembered: nothing spent
    assert f.evaluate({"event": event, "subscriber": "c/d"}) is again
    fresh = f.evaluate({"event": event, "subscriber": "c/d"}, memo=False)
    assert fresh == first and fresh is not first
    g = compile_filter("event.payload.n > 1 && subscriber == 'a/b'")
    assert g.evaluate({"event": event, "subscriber": "a/b"}).matched
    assert not g.evaluate({"event": event, "subscriber": "c/d"}).matched
    # a macro variable called "subscriber" is not the subscriber
    h = compile_filter("['x'].exists(subscriber, subscriber == 'x')")
    assert h.evaluate({"event": event, "subscriber": "a/b"}).matched


# --- compile-time errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "words", "column"),
    [
        ("event.payload.version ==", "ends too early", 23),
        ("1 +* 2", "unexpected '*'", 4),
        ("'unterminated", "unexpected character", 1),
        ("event..x == 1", "unexpected '.'", 7),
        ("evnt.payload.x == 1", "unknown name 'evnt'", 1),
        ("semver == 1", "semver is not a value", 1),
        ("semver.mjr('1') == 1", "unknown function semver.mjr", 8),
        ("semver.major('1', '2') == 1", "semver.major takes 1 argument(s), got 2", 1),
        ("semver.compare('1') == 1", "semver.compare takes 2 argument(s), got 1", 1),
        ("semver.satisfies('1.0.0', '^^1')", "semver.satisfies:", 27),
        ('semver.satisfies(\'1.0.0\', """1.2.3.4""")', "more than three numbers", 27),
        ("event.type.matches('(')", "invalid regular expression '(': missing )", 1),
        ("matches(event.type, 'a{2000}')", "invalid regular expression 'a{2000}'", 1),
        ("foo(1)", "unknown function foo()", 1),
        ("'a'.trim(1) == 'a'", ".trim() takes 0 argument(s), got 1", 5),
        ("'a'.split() == []", ".split() takes 1 to 2 argument(s), got 0", 5),
        ("'a'.replace('a') == ''", ".replace() takes 2 to 3 argument(s), got 1", 5),
        ("'a'.matches('a', 'b')", ".matches() takes 1 argument(s), got 2", 5),
        ("trim('a') == 'a'", "unknown function trim()", 1),
        ("event.payload.x.reduce(a, b, 0, a + b) == 1", "unknown method .reduce()", 17),
        ("[1].map(1, 2) == []", "first argument of map() must be a variable name", 1),
        ("[1].all(x) == []", "all() takes a variable and an expression", 1),
        ("Foo{a: 1} == 1", "message construction", 1),
        (".event == 1", "leading-dot", 1),
        ("1", "the filter returns int, not bool", 0),
        ("'success'", "returns string, not bool", 0),
        ("event.payload.count + 1", "returns int, not bool", 0),
        ("-event.payload.count", "returns a number, not bool", 0),
        ("-1", "returns int, not bool", 0),
        ("semver.major(event.payload.version)", "returns int, not bool", 0),
        ("event.payload.services.split(',')", "returns list, not bool", 0),
        ("event.payload.a.trim()", "returns string, not bool", 0),
        ("true ? 1 : 2", "returns int, not bool", 0),
        ("[true]", "returns list", 0),
        ("{'a': true}", "returns map", 0),
        ("null", "returns null", 0),
        ("(1.5)", "returns double", 0),
        ("dyn(1)", "returns int", 0),
        ("string(true)", "returns string", 0),
        ("", "empty", 0),
        ("   ", "empty", 0),
    ],
)
def test_compile_errors_are_readable(source: str, words: str, column: int) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(source)
    assert words in str(info.value)
    assert info.value.limit is None
    assert info.value.column == column
    assert isinstance(info.value, ValueError)


def test_compile_error_position_on_later_lines() -> None:
    with pytest.raises(FilterError) as info:
        compile_filter("true &&\n  bar(2)")
    assert (info.value.line, info.value.column) == (2, 3)
    assert "(line 2, column 3)" in str(info.value)
    assert info.value.hint


def test_non_string_filter_is_refused() -> None:
    with pytest.raises(FilterError, match="must be a CEL expression string, not bool"):
        compile_filter(True)  # type: ignore[arg-type]


def test_statically_unknown_types_are_checked_at_run_time() -> None:
    # ``x ? a : b`` with different branch types, a field, an index: only run time knows
    for source in ("true ? 1 == 1 : 2", "event.payload.flag", "[true][0]"):
        compile_filter(source)


# --- caching ---------------------------------------------------------------------------


def test_compile_once_per_source_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []
    real_parse = filters_module._parse

    def counting_parse(source: str) -> Any:
        parses.append(source)
        return real_parse(source)

    monkeypatch.setattr(filters_module, "_parse", counting_parse)
    filters_module._compile_cached.cache_clear()
    source = "event.payload.version.startsWith('7.')"
    first = compile_filter(source)
    assert compile_filter(source) is first
    assert compile_filter(source, DEFAULT_LIMITS) is first
    assert compile_filter(source, limits=FilterLimits()) is first
    assert parses == [source]
    other = compile_filter(source, FilterLimits(max_eval_seconds=0.5))
    assert other is not first and other.source == first.source
    assert parses == [source, source]
    assert isinstance(first, CompiledFilter) and repr(first) == f"CompiledFilter({source!r})"


def test_compiled_filter_evaluates_many_times() -> None:
    f = compile_filter(SEED_MAJOR)
    versions = {"1.0.0": False, "2.0.0": True, "10.3.1": True, "0.9.0": False}
    for version, expected in versions.items():
        assert f.evaluate(activation_for(make_event(version=version), "o/r")).matched is expected


# --- limits: refused or stopped within one CPU second, the limit named ----------------


def _refused(source: str, limit: str, limits: FilterLimits = DEFAULT_LIMITS) -> None:
    started = time.thread_time()
    with pytest.raises(FilterError) as info:
        compile_filter(source, limits)
    assert time.thread_time() - started < 1.0
    assert info.value.limit == limit
    assert limit in str(info.value)


def _stopped(
    source: str, limit: str, payload: dict[str, Any], limits: FilterLimits = DEFAULT_LIMITS
) -> FilterOutcome:
    f = compile_filter(source, limits)
    # converted beforehand, as activation_for does once per event: the limits govern
    # the evaluation itself
    activation = {"event": celpy.json_to_cel({"payload": payload}), "subscriber": "o/r"}
    started = time.thread_time()
    outcome = f.evaluate(activation)
    assert time.thread_time() - started < 1.0
    assert not outcome.matched and outcome.error
    assert outcome.limit == limit
    assert limit in outcome.reason
    return outcome


def test_limit_max_length() -> None:
    _refused("true && " * 300 + "true", "max_length")


def test_limit_max_depth_parentheses() -> None:
    _refused("(" * 60 + "true" + ")" * 60, "max_depth")


def test_limit_max_depth_macros() -> None:
    source = "".join(f"[1].all(x{i}, " for i in range(55)) + "true" + ")" * 55
    _refused(source, "max_depth")


def test_long_and_or_chains_are_flat_not_deep() -> None:
    # 240 conditions: nested 240 deep as parsed, balanced before the depth check
    chain = " && ".join(["true"] * 240)
    assert len(chain) < DEFAULT_LIMITS.max_length
    assert compile_filter(chain).evaluate({"event": {}}).matched
    repos = " || ".join(f"subscriber == 'my-org/r{i}'" for i in range(60))
    f = compile_filter(repos)
    assert f.evaluate({"event": {}, "subscriber": "my-org/r59"}).matched
    assert not f.evaluate({"event": {}, "subscriber": "my-org/r60"}).matched


_bool_exprs = st.recursive(
    st.sampled_from(["true", "false"]),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" && ", " || "]), inner).map("".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"!{e}"),
    ),
    max_leaves=25,
)


@given(st.lists(_bool_exprs, min_size=1, max_size=8), st.lists(st.sampled_from(["&&", "||"])))
def test_logic_agrees_with_python(parts: list[str], ops: list[str]) -> None:
    source = parts[0]
    for part, op in zip(parts[1:], ops, strict=False):
        source += f" {op} {part}"
    python = source.replace("&&", " and ").replace("||", " or ").replace("!", " not ")
    python = python.replace("true", "True").replace("false", "False")
    expected = eval(python)  # only true, false, and, or, not and parentheses
    limits = FilterLimits(max_depth=200)
    assert compile_filter(source, limits).evaluate({"event": {}}).matched is expected


def test_and_or_short_circuit_skips_the_expensive_side() -> None:
    expensive = (
        "event.payload.items.all(x, event.payload.items.all(y, "
        "event.payload.items.all(z, x + y + z >= 0)))"
    )
    activation = {"event": celpy.json_to_cel({"payload": {"items": list(range(1000))}})}
    started = time.monotonic()
    # the expensive side, run, would be stopped at max_eval_steps: an error
    false_and = compile_filter(f"false && {expensive}").evaluate(activation)
    assert not false_and.matched and not false_and.error
    assert compile_filter(f"true || {expensive}").evaluate(activation).matched
    assert not compile_filter(f"1 == 2 && ({expensive})").evaluate(activation).error
    assert time.monotonic() - started < 1.0  # generous: a loaded machine


def test_exists_and_all_stop_at_the_deciding_element() -> None:
    # Run in full, each of these needs ~5 x 14,000 steps, over the 15,000-step budget;
    # deciding at the first element, they finish. (A worst case more than
    # OVER_BUDGET_FACTOR x the budget is stopped before it starts: see below.)
    expensive = "event.payload.items.exists(y, y < 0)"
    activation = {"event": celpy.json_to_cel({"payload": {"items": list(range(1000))}})}
    first_hit = f"[0, 1, 2, 3, 4].exists(x, x == 0 || {expensive})"
    assert compile_filter(first_hit).evaluate(activation).matched
    first_miss = f"[0, 1, 2, 3, 4].all(x, x != 0 && {expensive})"
    assert not compile_filter(first_miss).evaluate(activation).matched
    last_hit = f"[1, 2, 3, 4, 0].exists(x, x == 0 || {expensive})"
    steady = FilterLimits(max_eval_seconds=30)  # the step budget, not the clock (load)
    assert compile_filter(last_hit, steady).evaluate(activation).limit == "max_eval_steps"


def test_a_hopeless_macro_is_stopped_before_it_starts() -> None:
    # The issue's shape: nested comprehensions over a payload list. Its worst case,
    # estimated from the list's actual length, is ~1,000x the budget: no step is run.
    source = "event.payload.items.exists(x, event.payload.items.exists(y, x + y < 0))"
    outcome = _stopped(source, "max_eval_steps", {"items": list(range(1000))})
    assert "stopped before it started" in outcome.reason
    assert "exists() over 1,000 items" in outcome.reason


def test_errors_follow_cel_commutative_logic() -> None:
    # an error on one side does not matter when the other side decides
    assert not run("event.payload.missing == 1 && false").error
    assert run("event.payload.missing == 1 || true").matched
    assert run("['a', 1].exists(x, x == 1)").matched  # 'a' == 1 is an error, 1 == 1 decides
    assert not run("['a', 1].all(x, x == 'b')").matched
    undecided = run("event.payload.missing == 1 && true")
    assert undecided.error and "no field 'missing'" in undecided.reason
    assert "no operator '&&' for int and int" in run("(1 && 2) == 1").reason
    assert run("[0, 1].exists(x, x)").error  # not bools, nothing decides


def test_limit_max_ast_nodes() -> None:
    source = "[" + ",".join(["!!1"] * 300) + "].size() > 0"
    assert len(source) < DEFAULT_LIMITS.max_length
    _refused(source, "max_ast_nodes")


def test_depth_just_under_the_limit_still_evaluates() -> None:
    nested = "(" * 45 + "true" + ")" * 45
    assert compile_filter(nested).evaluate({"event": {}}).matched
    macros = "".join(f"[1].all(x{i}, " for i in range(24)) + "true" + ")" * 24
    assert compile_filter(macros).evaluate({"event": {}}).matched


def test_limit_max_eval_steps_nested_macros_over_payload_lists() -> None:
    items = list(range(1000))
    source = (
        "event.payload.items.map(x, event.payload.items.map(y, "
        "event.payload.items.map(z, x + y + z))).size() > 0"
    )
    outcome = _stopped(source, "max_eval_steps", {"items": items})
    assert "over the max_eval_steps limit of 15,000" in outcome.reason or (
        "more than the" in outcome.reason
    )


def test_limit_max_eval_steps_nested_literal_lists() -> None:
    numbers = ",".join(str(i) for i in range(120))
    source = f"[{numbers}].all(x, [{numbers}].all(y, [{numbers}].all(z, x + y + z >= 0)))"
    assert len(source) < DEFAULT_LIMITS.max_length
    _stopped(source, "max_eval_steps", {})


def test_limit_max_eval_steps_exists_cannot_swallow_it() -> None:
    source = (
        "event.payload.items.exists(x, event.payload.items.exists(y, "
        "event.payload.items.exists(z, x + y + z < 0)))"
    )
    _stopped(source, "max_eval_steps", {"items": list(range(1000))})


def test_limit_max_eval_seconds_stops_what_the_steps_would_not() -> None:
    # The clock is a backstop: with a step budget too large to stop this filter in time,
    # the clock (CPU time) stops it, and says it is tako-gha's fault, not a verdict.
    source = (
        "event.payload.items.all(x, event.payload.items.all(y, "
        "event.payload.items.all(z, x + y + z >= 0)))"
    )
    limits = FilterLimits(max_eval_steps=10**12, max_eval_seconds=0.05)
    f = compile_filter(source, limits)
    activation = {"event": celpy.json_to_cel({"payload": {"items": list(range(1000))}})}
    started = time.monotonic()
    outcome = f.evaluate(activation)
    assert time.monotonic() - started < 2.0  # 10**9 elements would take hours
    assert outcome.error and outcome.limit == "max_eval_seconds"
    assert "max_eval_seconds backstop of 0.05 s of CPU time" in outcome.reason
    assert outcome.tool_error and "not the filter's verdict" in outcome.reason
    assert outcome.steps < 10**7
    # no verdict, so nothing to remember: the next call evaluates again
    assert f.evaluate(activation).steps > 0


def test_the_backstop_clock_is_cpu_time_not_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # A thread that keeps losing the CPU to other processes (simulated by sleeping)
    # spends wall-clock time but no CPU time: the backstop does not fire.
    real_check = budget_module._Budget.check
    calls = [0]

    def descheduled(self: Any) -> None:
        calls[0] += 1
        if calls[0] % 100 == 0:
            time.sleep(0.012)
        real_check(self)

    monkeypatch.setattr(budget_module._Budget, "check", descheduled)
    # ~0.1 s of CPU (three times that under a coverage tracer): well inside 0.5 s
    limits = FilterLimits(max_eval_seconds=0.5)
    f = compile_filter("event.payload.items.all(x, x >= 0 && x < 10000)", limits)
    activation = {"event": celpy.json_to_cel({"payload": {"items": list(range(1000))}})}
    started = time.monotonic()
    outcome = f.evaluate(activation, memo=False)
    assert time.monotonic() - started > 1.0  # twice the backstop, in wall-clock time
    assert outcome.matched, outcome.reason


def test_each_evaluation_gets_its_own_time_budget() -> None:
    f = compile_filter("event.payload.items.all(x, x >= 0)", FilterLimits(max_eval_seconds=0.5))
    for _ in range(3):
        assert f.evaluate({"event": {"payload": {"items": list(range(200))}}}).matched


def test_limit_max_value_size_string_concatenation() -> None:
    big = "x" * 60_000
    source = "event.payload.items.map(i, event.payload.big + event.payload.big).size() > 0"
    outcome = _stopped(source, "max_value_size", {"items": [1, 2], "big": big})
    assert "120,000" in outcome.reason


def test_limit_max_value_size_replace_and_join() -> None:
    text = "a" * 2_000
    _stopped("event.payload.s.replace('a', event.payload.s) == ''", "max_value_size", {"s": text})
    _stopped(
        "event.payload.parts.join(event.payload.s) == ''",
        "max_value_size",
        {"s": text, "parts": ["p"] * 100},
    )
    _stopped(
        "event.payload.l + event.payload.l == []",
        "max_value_size",
        {"l": [0] * 600},
        FilterLimits(max_value_size=1_000),
    )


def test_regex_is_linear_time() -> None:
    # A classic catastrophic-backtracking pattern: RE2 answers at once.
    source = "event.payload.s.matches('^(a+)+$')"
    started = time.monotonic()
    outcome = compile_filter(source).evaluate({"event": {"payload": {"s": "a" * 50_000 + "!"}}})
    assert time.monotonic() - started < 1.0
    assert outcome.matched is False and not outcome.error


def test_limit_max_match_work_payload_pattern_over_payload_text() -> None:
    # RE2 is linear in the text, but a pattern taken from the payload can be huge too:
    # a 50,000-character pattern over 50,000 characters ran 6 s inside one C call,
    # out of reach of the per-node clock. The cost is refused before the search.
    outcome = _stopped(
        "event.payload.s.matches(event.payload.s)", "max_match_work", {"s": "9" * 50_000}
    )
    assert "over the max_match_work limit of 10,000,000" in outcome.reason
    # An ordinary pattern over a long text is well within the limit.
    assert run("event.payload.s.matches('^9+$')", s="9" * 500_000).matched
    # ... and the cap is a limit like the others: configurable.
    _stopped("event.payload.s.matches('^9+$')", "max_match_work", {"s": "9" * 100},
             FilterLimits(max_match_work=100))


def test_string_repetition_is_not_a_thing() -> None:
    outcome = run("'ab' * 1000000000 == ''")
    assert outcome.error and "no operator '*'" in outcome.reason


def test_limits_are_configurable_and_hashable() -> None:
    tight = FilterLimits(max_length=10, max_ast_nodes=3, max_depth=2, max_eval_seconds=0.1)
    assert hash(tight) == hash(FilterLimits(10, 3, 2, 0.1))
    _refused("1 == 1 && 2 == 2", "max_length", tight)
    _refused("[1,2,3]==[]", "max_ast_nodes", FilterLimits(max_ast_nodes=3))
    _refused("!(!true)", "max_depth", FilterLimits(max_depth=2))
    assert DEFAULT_LIMITS.max_length == 2000
    # The clock is a far backstop (CPU seconds), the step budget decides: see
    # test_step_budget_is_deterministic.
    assert DEFAULT_LIMITS.max_eval_seconds >= 5.0


def test_python_recursion_is_caught_when_limits_are_raised() -> None:
    # With the depth cap lifted, a very deep expression exhausts Python's stack: the
    # evaluation still ends with a reason naming the limit to lower, not a crash.
    huge = FilterLimits(max_length=10_000, max_ast_nodes=100_000, max_depth=100_000)
    f = compile_filter("(" * 1200 + "true" + ")" * 1200, huge)
    outcome = f.evaluate({"event": {}})
    assert not outcome.matched and outcome.limit == "max_depth"


def test_values_celpy_cannot_take_are_a_reason_not_a_crash() -> None:
    outcome = compile_filter("true").evaluate({"event": {"payload": {"s": {1, 2}}}})
    assert outcome.error and "cannot be given to CEL" in outcome.reason


def test_unexpected_internal_errors_are_a_reason_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(self: object, context: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(filters_module._BoundedEvaluator, "evaluate", boom)
    outcome = compile_filter("1 == 1").evaluate({"event": {"x": 1}})
    assert outcome.error and "internal error: RuntimeError: boom" in outcome.reason
    assert outcome.tool_error  # no verdict: tako-gha failed, not the filter


def _documented_filters() -> list[str]:
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[3] / "docs" / "filters.md").read_text(encoding="utf-8")
    found: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "filters":
                    found.extend(value)
                else:
                    collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        collect(yaml.safe_load(block))
    return found


def test_every_filter_in_the_docs_compiles_and_runs() -> None:
    documented = _documented_filters()
    assert len(documented) >= 8
    event = Event(
        type="library_built",
        source="my-org/core-lib",
        payload={
            "version": "2.1.0",
            "build_status": "success",
            "services": "User-Service, search",
            "channel": "stable",
            "ref": "refs/tags/v2.1.0",
        },
    )
    for source in documented:
        outcome = compile_filter(source).evaluate(activation_for(event, "my-org/user-service"))
        assert outcome.matched, outcome.reason


def test_docs_claims_about_versions_hold() -> None:
    assert not run("'10.0.0' > '9.0.0'").matched
    assert run("semver.compare('10.0.0', '9.0.0') == 1").matched
    assert run("'api' in event.payload.services", services=["api", "web"]).matched


def test_an_event_celpy_cannot_take_fails_every_filter_with_the_reason() -> None:
    payload: dict[str, Any] = {}
    cursor = payload
    for _ in range(5_000):
        cursor["a"] = {}
        cursor = cursor["a"]
    event = Event(type="t", source="o/r", payload=payload)
    activation = activation_for(event, "o/r")  # does not raise
    outcome = compile_filter("true").evaluate(activation)
    assert outcome.error and "the payload is nested too deeply" in outcome.reason
    raw = compile_filter("event.type == 't'").evaluate({"event": event.to_json()})
    assert raw.error and "nested too deeply" in raw.reason


def test_literal_regex_and_raw_strings() -> None:
    assert run("'a1'.matches(r'\\d')").matched
    assert run('\'abc\'.matches("""^a.c$""")').matched


def test_celpy_is_not_patched() -> None:
    # celpy is used through its public classes only: importing filters leaves every
    # name of celpy's evaluator module as celpy defined it.
    import typing

    import celpy.evaluation as evaluation

    for name in ("Tuple", "List", "Iterable", "Callable", "Dict", "Optional", "Union",
                 "Mapping", "Sequence"):
        if hasattr(evaluation, name):
            assert getattr(evaluation, name) is getattr(typing, name)
    assert evaluation.cast is typing.cast


_versions = st.builds(
    semver.Version,
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.one_of(st.none(), st.sampled_from(["alpha", "alpha.1", "beta.2", "rc.1", "0"])),
)


@given(_versions, _versions)
def test_semver_functions_agree_with_the_semver_package(
    a: semver.Version, b: semver.Version
) -> None:
    activation = {"event": {"payload": {"a": str(a), "b": str(b)}}}
    # semantics, not speed: a roomy clock (a loaded machine under coverage can stall
    # any evaluation past 0.25 s of wall clock)
    roomy = FilterLimits(max_eval_seconds=30)
    compare = compile_filter(
        f"semver.compare(event.payload.a, event.payload.b) == {a.compare(b)}", roomy
    )
    assert compare.evaluate(activation, memo=False).matched
    parts = compile_filter(
        f"semver.major(event.payload.a) == {a.major} && semver.minor(event.payload.a) == "
        f"{a.minor} && semver.patch(event.payload.a) == {a.patch}", roomy
    )
    assert parts.evaluate(activation, memo=False).matched
    inside = compile_filter("semver.satisfies(event.payload.a, '>=' + event.payload.b)", roomy)
    assert inside.evaluate(activation, memo=False).matched is (a.compare(b) >= 0)


# --- bounded by construction (issue: hostile filters stalled a fan-out) ---------------


# The step budget decides; the 0.25 s clock is a backstop a loaded machine (and
# tracemalloc) could reach first, so these runs give it room and time themselves.
STEADY = FilterLimits(max_eval_seconds=10)


def _timed(source: str, payload: dict[str, Any], limits: FilterLimits = STEADY
           ) -> tuple[FilterOutcome, float, int]:
    """Evaluate once; the outcome, CPU seconds of this thread (a loaded machine does
    not count) and peak bytes allocated."""
    import tracemalloc

    f = compile_filter(source, limits)
    activation = {"event": celpy.json_to_cel({"payload": payload}), "subscriber": "o/r"}
    tracemalloc.start()
    started = time.thread_time()
    try:
        outcome = f.evaluate(activation, memo=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return outcome, time.thread_time() - started, peak


def test_the_issues_filter_is_refused_when_compiled() -> None:
    # `exists(t, 'a')` passed lint, then took 34-41 s and 4.8 GB per evaluation.
    with pytest.raises(FilterError) as info:
        compile_filter("event.payload.targets.exists(t, 'a')")
    assert "the condition of exists() is string, not bool" in str(info.value)
    assert info.value.column == 1


def test_non_bool_conditions_met_at_run_time_stay_small() -> None:
    # The same shape with a condition CEL cannot type before running: each element's
    # failure used to quote the previous one, doubling the message (40 elements: 40 s).
    outcome, seconds, peak = _timed(
        "event.payload.targets.exists(t, dyn(t))", {"targets": list(range(400))}
    )
    assert outcome.error and "the condition of exists() gave int, not bool" in outcome.reason
    assert seconds < 3.0 and peak < 5_000_000
    outcome, seconds, peak = _timed(
        "event.payload.targets.exists(t, t == 'a' || t + 1 == 0)",
        {"targets": list(range(400))},
    )
    assert outcome.error and len(outcome.reason) < 400
    assert seconds < 3.0 and peak < 5_000_000


def test_errors_inside_errors_do_not_grow() -> None:
    # Each comparison used to quote (and re-escape) the error it was given.
    source = "(" * 14 + "1 < 'a'" + "".join(") == 'a'" for _ in range(14))
    outcome, seconds, peak = _timed(source, {})
    assert outcome.error and len(outcome.reason) < 500
    assert seconds < 3.0 and peak < 5_000_000


@pytest.mark.parametrize(
    "source",
    [
        "string([" + ", ".join(["event.payload.l"] * 60) + "]) == ''",
        "[" + ", ".join(["event.payload.l"] * 60) + "].foo == 1",
        "event.payload.l.map(x, event.payload.l) == event.payload.l.map(x, event.payload.l)",
        "[" + ", ".join(["event.payload.l"] * 30) + "].map(x, ["
        + ", ".join(["event.payload.l"] * 30) + "]).size() == 0",
    ],
)
def test_shared_values_cannot_print_as_their_square(source: str) -> None:
    # A list holding the same payload list many times is cheap to build but prints (or
    # compares) as its full tree: 13-23 s in one step before. Its weight is refused.
    outcome, seconds, peak = _timed(source, {"l": list(range(5_000))})
    assert outcome.error and outcome.limit in ("max_value_size", "max_eval_steps")
    assert seconds < 3.0 and peak < 50_000_000


def test_memory_of_one_evaluation_is_capped() -> None:
    payload = {"l": list(range(300)), "s": "x" * 40_000}
    # With the default step budget, steps run out first (reading costs steps too); the
    # memory cap holds on its own when the step budget is raised.
    outcome, seconds, peak = _timed(
        "event.payload.l.exists(x, (event.payload.s + event.payload.s).size() < 0)", payload,
        FilterLimits(max_eval_steps=10**7, max_eval_seconds=30),
    )
    assert outcome.limit == "max_eval_memory"
    assert "max_eval_memory limit of 16,000,000" in outcome.reason
    assert seconds < 3.0 and peak < 50_000_000


def test_step_budget_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same filter, same payload, the default limits: the same verdict after the same
    # steps, whether the machine is idle or the evaluating thread keeps losing the CPU
    # to other processes (simulated by sleeping: about 0.8 s of wall clock, three times
    # the 0.25 s wall clock that used to decide).
    source = "[1, 2, 3, 4, 0].exists(x, x == 0 || event.payload.l.exists(y, y < 0))"
    payload = {"l": list(range(1000))}
    f = compile_filter(source)
    activation = {"event": celpy.json_to_cel({"payload": payload})}
    idle = [f.evaluate(activation, memo=False) for _ in range(3)]
    real_check = budget_module._Budget.check
    calls = [0]

    def descheduled(self: Any) -> None:
        calls[0] += 1
        if calls[0] % 500 == 0:
            time.sleep(0.05)
        real_check(self)

    monkeypatch.setattr(budget_module._Budget, "check", descheduled)
    started = time.monotonic()
    loaded = f.evaluate(activation, memo=False)
    assert time.monotonic() - started > 0.5
    monkeypatch.undo()
    answers = {(o.matched, o.limit, o.reason, o.steps) for o in [*idle, loaded]}
    assert len(answers) == 1, answers
    assert "max_eval_steps limit of 15,000" in loaded.reason and not loaded.tool_error
    roomy = FilterLimits(max_eval_steps=200_000)
    assert compile_filter(source, roomy).evaluate(activation).matched


# --- type conversions are operations like the others (charged, capped) ----------------


def _conv(source: str, payload: dict[str, Any], limits: FilterLimits = DEFAULT_LIMITS
          ) -> FilterOutcome:
    activation = {"event": celpy.json_to_cel({"payload": payload})}
    return compile_filter(source, limits).evaluate(activation, memo=False)


def test_conversions_are_charged_for_what_they_read_and_build() -> None:
    text = "x" * 64_000
    plain = _conv("event.payload.s.size() > 0", {"s": text})
    converted = _conv("string(event.payload.s).size() > 0", {"s": text})
    # 1,000 steps to read 64,000 characters, 1,000 more for the copy it builds
    assert converted.matched and converted.steps - plain.steps >= 2_000
    as_bytes = _conv("bytes(event.payload.s).size() > 0", {"s": text})
    assert as_bytes.matched and as_bytes.steps - plain.steps >= 2_000
    numbers = _conv("double(event.payload.n) > 0.0 && int(event.payload.t) == 7 && "
                    "uint(event.payload.t) == 7u", {"n": "1" * 6_400, "t": "7"})
    assert numbers.matched and numbers.steps >= 100  # 6,400 digits read: 100 steps
    # every element converted: the step budget, not the clock, stops it
    many = _conv("event.payload.l.exists(x, string(x) == string(event.payload.s))",
                 {"l": list(range(2_000)), "s": "y" * 6_400})
    assert many.limit == "max_eval_steps" and not many.tool_error


def test_conversions_build_nothing_over_the_value_size_cap() -> None:
    # printing a list builds a string many times its item count: refused at the cap
    printed = _conv("string(event.payload.l) != ''", {"l": list(range(30_000))})
    assert printed.limit == "max_value_size" and "string() built a value of" in printed.reason
    # a list heavier than the cap is refused before it is printed at all
    heavy = _conv("string(event.payload.l) != ''", {"l": ["abcdefghij"] * 20_000})
    assert heavy.limit == "max_value_size" and "would build at least" in heavy.reason
    small = FilterLimits(max_value_size=1_000)
    assert _conv("bytes(event.payload.s).size() > 0", {"s": "é" * 600}, small
                 ).limit == "max_value_size"  # 1,200 bytes from 600 characters
    assert _conv("string(event.payload.s).size() > 0", {"s": "é" * 1_200}, small
                 ).limit == "max_value_size"  # a copy of a payload string is built too
    assert _conv("string(event.payload.s).size() == 500", {"s": "é" * 500}, small).matched


def test_conversion_names_are_still_types_as_values() -> None:
    assert _conv("type(event.payload.s) == string && type(1) == int", {"s": "a"}).matched
    assert _conv("type(string(1)) == string && string(1) == '1'", {}).matched
    assert _conv("int('x') == 1", {}).error  # celpy's own refusal, unchanged


def test_filter_and_exists_one_keep_errors_as_errors() -> None:
    # celpy counted an error (an exception object, truthy) as true in both.
    assert run("[1, 'a'].filter(x, x > 0).size() == 1").error
    assert run("[1, 'a'].exists_one(x, x == 1)").error
    assert run("[1, 2].filter(x, x > 1) == [2]").matched
    assert run("[1, 2].exists_one(x, x > 1)").matched
    assert not run("[1, 2].exists_one(x, x > 0)").matched
    assert run("[1, 2].map(x, x * 2) == [2, 4]").matched
    assert run("[1, 'a'].map(x, x * 2).size() == 2").error


def test_macros_over_maps_iterate_keys() -> None:
    assert run("{'a': 1, 'b': 2}.exists(k, k == 'b')").matched
    assert run("{'a': 1}.map(k, k + '!') == ['a!']").matched
    assert run("dyn(1).exists(k, true)").error


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("event.payload.l.exists(x, event.payload.l.exists(y, x == y))", "square"),
        ("event.payload.l.exists(x, event.payload.l.exists(y, event.payload.l.exists("
         "z, x == y + z)))", "cube"),
        ("event.payload.l.exists(x, x in event.payload.l)", "nested iteration"),
        ("event.payload.l.map(x, event.payload.l).size() > 0", "max_value_size"),
        ("event.payload.l.exists(x, event.payload.s.split('/').exists(p, p == x))",
         "max_eval_steps"),
        ("event.payload.l.exists(x, x.startsWith('a'))", ""),
    ],
)
def test_lint_cost_warnings(source: str, expected: str) -> None:
    warnings = compile_filter(source).warnings()
    if not expected:
        assert warnings == []
        return
    assert warnings, source
    assert expected in warnings[0].message
    assert warnings[0].column >= 1 and warnings[0].hint


@pytest.mark.parametrize("source", [
    SEED_SERVICES, SEED_MAJOR, SEED_STATUS,
    "event.payload.files.exists(f, f.startsWith('docs/'))",
    "event.payload.changed.exists(f, f.path.startsWith('a') && f.status == 'modified')",
    "event.payload.tags.all(t, t in ['a', 'b', 'c'])",
    "event.payload.labels.map(l, l.lower()).exists(l, l == 'release')",
])
def test_ordinary_filters_get_no_cost_warning(source: str) -> None:
    assert compile_filter(source).warnings() == []
