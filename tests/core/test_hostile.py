"""Hostile inputs, data-driven: CEL filters (with payloads), tako.yml texts, ranges.

Each corpus file under tests/core/hostile/ lists cases with what must happen. Whatever a
case does, it must finish quickly, never raise anything but the documented error, and
say where and why. Property tests (hypothesis) then throw generated input at the same
entry points: no traceback, bounded time, diagnostics with a location.
"""

from __future__ import annotations

import functools
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from tako_gha.core.cel import FilterError, FilterLimits, activation_for, compile_filter
from tako_gha.core.config import load_config
from tako_gha.core.events import Event
from tako_gha.core.matching import TEMPLATE_ERROR, plan_fanout
from tako_gha.core.templates import (
    MAX_INPUT_CHARS,
    MAX_INPUTS_CHARS,
    TemplateError,
    context_for,
    parse_template,
)
from tako_gha.core.versions import RangeError, VersionError, parse_range

CORPUS = Path(__file__).parent / "hostile"
# CPU seconds of the test's thread (thread_time: a loaded machine does not count; a
# wall clock once read 3.3 s here beside a benchmark): a case takes milliseconds
SECONDS = 3.0
# The step budget decides every case; the wall clock (0.25 s by default) is only a
# backstop that a loaded machine could reach first, so here it is roomy.
ROOMY = FilterLimits(max_eval_seconds=10)


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
    started = time.thread_time()
    if "refused" in expect:
        with pytest.raises(FilterError) as info:
            compile_filter(source)
        assert time.thread_time() - started < SECONDS
        kind = expect["refused"]
        if kind in _REFUSAL_LIMITS:
            assert info.value.limit == kind and kind in str(info.value)
        else:
            assert info.value.limit is None
            assert any(w in info.value.message for w in _REFUSAL_WORDS[kind]), info.value
        assert len(str(info.value)) < 800
        return
    compiled = compile_filter(source, ROOMY)
    # the payload is converted once per event (activation_for), not per evaluation
    activation = {"event": _event(case.get("payload", "none")), "subscriber": "my-org/app"}
    started = time.thread_time()
    outcome = compiled.evaluate(activation, memo=False)
    elapsed = time.thread_time() - started
    if "stopped" in expect:
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


# --------------------------------------------------------------------------- templates

TEMPLATE_PAYLOADS: dict[str, Any] = {
    "big": lambda: {"big": "x" * 900_000, "accents": "é" * 40_000, "v10k": "v" * 10_000,
                    "list": [f"item-{i:05}" for i in range(100_000)],
                    "nulls": [None] * 200_000},
    "wide": lambda: {"wide": {f"key_{i:07}": i for i in range(200_000)}},
    "deep": lambda: {"deep": _deep(300)},
}
TEMPLATE_CASES = _corpus("templates.yml")


def _template_text(spec: str | dict[str, Any]) -> str:
    return spec if isinstance(spec, str) else spec["repeat"] * spec["times"]


@functools.cache
def _template_event(name: str) -> Event:
    return Event("built", "my-org/lib", TEMPLATE_PAYLOADS[name](), "1.0.0")


def _plan_subscribers(case: dict[str, Any]) -> Any:
    event = _template_event(case["payload"])
    inputs = json.dumps({"v": _template_text(case["template"])})
    repos = [load_config("version: 1\nevents:\n  subscriptions:\n    - artifact: my-org/lib\n"
                         f"      events: [built]\n      inputs: {inputs}\n",
                         repo=f"my-org/r{i:03}") for i in range(case["subscribers"])]
    return plan_fanout(event, repos)


@pytest.mark.parametrize("case", TEMPLATE_CASES,
                         ids=[str(_template_text(c["template"]))[:50] for c in TEMPLATE_CASES])
def test_hostile_template(case: dict[str, Any]) -> None:
    expect = case["expect"]
    started = time.monotonic()
    if "subscribers" in case:
        context_for(_template_event(case["payload"]))  # the event exists before planning
        tracemalloc.start()
        try:
            plan = _plan_subscribers(case)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        errors = [s for s in plan.skipped if s.kind == TEMPLATE_ERROR]
        assert len(plan.targets) == expect.get("targets", 0)
        assert len(errors) == expect.get("template_errors", 0)
        assert all("over the cap on rendered inputs" in s.reason for s in errors)
        # what the plan keeps: at most the caps per subscriber, never the value itself
        assert peak < case["subscribers"] * MAX_INPUTS_CHARS * 2 + 30_000_000
        assert time.monotonic() - started < 6 * SECONDS
        return
    text = _template_text(case["template"])
    try:
        template = parse_template(text)
    except TemplateError as exc:
        assert expect == {"refused": "syntax"}, exc.message
        return
    context = context_for(_template_event(case["payload"]))
    tracemalloc.start()
    try:
        try:
            rendered: str | TemplateError = template.render(context)
        except TemplateError as exc:
            rendered = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < SECONDS
    assert peak < 4 * MAX_INPUT_CHARS + 200_000  # never the named value's whole text
    if "renders" in expect:
        assert isinstance(rendered, str) and len(rendered) == expect["renders"]
        return
    assert isinstance(rendered, TemplateError), len(rendered)
    assert len(rendered.message) < 400 and len(rendered.hint) < 400
    if expect["refused"] == "cap":
        assert f"more than {MAX_INPUT_CHARS:,} characters" in rendered.message
    else:
        assert expect["refused"] == "missing" and "does not exist" in rendered.message


# --------------------------------------------------------------------------- tako.yml

HEAD = "version: 1\nevents:\n  subscriptions:\n"


def _sub(body: str) -> str:
    """A file whose one subscription is ``body`` (its lines under ``- ``), from line 4."""
    lines = body.strip("\n").split("\n")
    return HEAD + "    - " + lines[0] + "\n" + "".join(f"      {ln}\n" for ln in lines[1:])


def _alias_bomb() -> str:
    rows = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        rows.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(rows) + "\n"


def _deep_block(levels: int) -> str:
    rows = ["version: 1", "events:"]
    rows += [" " * (2 * i) + f"k{i}:" for i in range(1, levels)]
    return "\n".join(rows) + " 1\n"


GENERATORS: dict[str, Any] = {
    "alias_bomb": _alias_bomb,
    "deep_nesting": lambda: _deep_block(200),
    "many_nodes": lambda: "version: 1\nx: [" + "1, " * 100_500 + "1]\n",
    "deep_flow_nesting": lambda: "version: 1\nx: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "huge_file": lambda: "version: 1\n# " + "x" * 1_100_000 + "\n",
    "long_line": lambda: "version: 1\nevents: {}\n# " + "y" * 500_000 + "\n",
    "nul_byte": lambda: "version: 1\x00\n",
    "invalid_utf8": lambda: b"version: 1\n\xff\xfe: x\n",
    "version_5000_digits": lambda: "version: " + "9" * 5000 + "\n",
    "version_hex_5000_digits": lambda: "version: 0x" + "9" * 5000 + "\n",
    "version_float_huge": lambda: "version: 1e99999\n",
    "artifact_name_5000": lambda: "version: 1\nartifacts:\n  " + "a" * 5000 + ": x\n",
    "produces_type_5000": lambda: "version: 1\nevents:\n  produces:\n    - type: "
    + "t" * 5000 + "\n",
    "produces_version_5000_digits": lambda: "version: 1\nevents:\n  produces:\n"
    "    - type: x\n      schema_version: 1.0." + "9" * 5000 + "\n",
    "artifact_ref_5000": lambda: _sub("artifact: " + "a" * 5000 + "/b\nevents: [x]"),
    "range_5000_digits": lambda: _sub(
        "artifact: a/b\nevents: [x]\nschema_version: '>=1 <" + "9" * 5000 + "'"),
    "range_many_alternatives": lambda: _sub(
        "artifact: a/b\nevents: [x]\nschema_version: '" + "1 || " * 2000 + "2'"),
    "filter_too_long": lambda: _sub(
        "artifact: a/b\nevents: [x]\nfilters: ['" + "true && " * 300 + "true']"),
    "filter_too_deep": lambda: _sub(
        "artifact: a/b\nevents: [x]\nfilters: ['" + "(" * 80 + "true" + ")" * 80 + "']"),
    "filter_many_nodes": lambda: _sub(
        "artifact: a/b\nevents: [x]\nfilters: ['[" + ",".join(["!!!!1"] * 300)
        + "].size() > 0']"),
    "many_filters": lambda: _sub(
        "artifact: a/b\nevents: [x]\nfilters:\n" + "".join(f"  - 'event.payload.n != {i}'\n"
                                                          for i in range(300))),
    "input_template_huge": lambda: _sub(
        "artifact: a/b\nevents: [x]\ninputs: {v: '" + "x" * 100_000
        + "{{ .event.type }}'}"),
    "many_subscriptions": lambda: HEAD + "".join(
        f"    - artifact: org/r{i}\n      events: [e{i % 7}]\n" for i in range(2000)),
}

CONFIG_CASES = _corpus("config.yml")


def test_config_corpus_is_big_enough() -> None:
    assert len(CONFIG_CASES) >= 100


def _config_text(case: dict[str, Any]) -> str | bytes:
    if "gen" in case:
        return GENERATORS[case["gen"]]()  # type: ignore[no-any-return]
    if "sub" in case:
        return _sub(case["sub"])
    return case["text"]  # type: ignore[no-any-return]


def _config_id(case: dict[str, Any]) -> str:
    return str(case.get("gen") or case.get("sub") or case.get("text"))[:50]


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[_config_id(c) for c in CONFIG_CASES])
def test_hostile_config(case: dict[str, Any]) -> None:
    text = _config_text(case)
    started = time.monotonic()
    result = load_config(text, path="tako.yml", repo="acme/app")
    assert time.monotonic() - started < 3 * SECONDS  # 2,000 subscriptions included
    codes = [d.code for d in result.diagnostics]
    assert "internal-error" not in codes, result.diagnostics
    for diag in result.diagnostics:
        assert diag.line >= 1 and diag.col >= 1, diag.format()
        assert diag.hint and "\n" not in diag.message and len(diag.message) <= 400
        assert diag.format().startswith(f"tako.yml:{diag.line}:{diag.col}: ")
    if case["expect"] == "ok":
        assert not any(d.is_error for d in result.diagnostics), result.diagnostics
        return
    found = [d for d in result.diagnostics if d.code == case["expect"]]
    assert found, [d.format() for d in result.diagnostics]
    if "line" in case:
        assert found[0].line == case["line"], found[0].format()


# --------------------------------------------------------------------------- ranges

RANGE_CASES = _corpus("ranges.yml")


def _range_text(spec: str | dict[str, Any]) -> str:
    if isinstance(spec, str):
        return spec
    if "digits" in spec:
        return spec.get("before", "") + "9" * spec["digits"] + spec.get("after", "")
    return spec["repeat"] * spec["times"] + spec["then"]


def test_range_corpus_is_big_enough() -> None:
    assert len(RANGE_CASES) >= 100


@pytest.mark.parametrize("case", RANGE_CASES,
                         ids=[_range_text(c["range"])[:40] for c in RANGE_CASES])
def test_hostile_range(case: dict[str, Any]) -> None:
    text = _range_text(case["range"])
    started = time.monotonic()
    if case["expect"] == "error":
        with pytest.raises(RangeError) as info:
            parse_range(text)
        assert time.monotonic() - started < SECONDS
        assert info.value.reason and info.value.hint
        assert len(str(info.value)) < 600
        if "column" in case:
            assert info.value.column == case["column"], str(info.value)
        return
    parsed = parse_range(text)
    for version in case.get("in", []):
        assert parsed.contains(version), version
    for version in case.get("out", []):
        assert not parsed.contains(version), version
    assert time.monotonic() - started < SECONDS


# --------------------------------------------------------------------------- properties
# Generated input against the same entry points: never a traceback, bounded time, and a
# diagnostic that says where. Bounded example counts keep each under a few seconds.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=40) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=8),
    max_leaves=60,
)
_payloads = st.dictionaries(st.sampled_from(["l", "s", "n", "m", "version", "x"]), _json,
                            max_size=6)

_atoms = st.sampled_from([
    "event.payload.l", "event.payload.s", "event.payload.n", "event.payload.m",
    "event.payload.version", "event.payload", "event.type", "subscriber", "x", "y",
    "1", "0", "-1", "9223372036854775807", "2.5", "'a'", "''", "'a/b'", "true", "false",
    "null", "[]", "[1, 2]", "{}", "{'k': 1}", "b'x'",
])


def _cel(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(inner, st.sampled_from(
        [" + ", " - ", " * ", " / ", " % ", " == ", " != ", " < ", " >= ", " && ", " || ",
         " in "]), inner).map("".join)
    macro = st.tuples(inner, st.sampled_from(["exists", "all", "map", "filter", "exists_one"]),
                      st.sampled_from(["x", "y"]), inner).map(
        lambda t: f"{t[0]}.{t[1]}({t[2]}, {t[3]})")
    method = st.tuples(inner, st.sampled_from(
        ["size()", "split('/')", "trim()", "lower()", "contains('a')", "startsWith('a')",
         "matches('a+')", "replace('a', 'bb')", "join(',')", "substring(1)", "charAt(0)",
         "indexOf('a')"])).map(lambda t: f"{t[0]}.{t[1]}")
    call = st.tuples(st.sampled_from(
        ["size", "string", "int", "double", "dyn", "has", "type", "semver.major",
         "semver.satisfies"]), inner).map(
        lambda t: f"{t[0]}({t[1]}, '^1')" if t[0] == "semver.satisfies" else f"{t[0]}({t[1]})")
    return st.one_of(binary, macro, method, call, inner.map(lambda e: f"({e})"),
                     inner.map(lambda e: f"!{e}"), st.tuples(inner, inner, inner).map(
                         lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
                     st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
                     st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"))


_cel_sources = st.recursive(_atoms, _cel, max_leaves=12) | st.text(max_size=60)


@settings(PROPERTY, max_examples=80)
@given(_cel_sources, _payloads)
def test_any_filter_on_any_payload_is_bounded(source: str, payload: dict[str, Any]) -> None:
    try:
        compiled = compile_filter(source, ROOMY)
    except FilterError as exc:
        assert exc.message and len(str(exc)) < 3000
        assert exc.line >= 0 and exc.column >= 0
        return
    warnings = compiled.warnings()
    assert all(w.message and w.hint for w in warnings)
    activation = activation_for(Event("t", "o/src", payload), "o/r")
    tracemalloc.start()
    try:
        started = time.monotonic()
        outcome = compiled.evaluate(activation, memo=False)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < SECONDS
    assert outcome.matched or outcome.reason
    assert outcome.error or outcome.limit is None
    assert len(outcome.detail) < 1000
    # Bounded: what it spent stays within its budgets (a step-limit stop may overshoot
    # by the one charge that crossed it, at most a read of the largest value), and the
    # memory it used within the memory budget plus the evaluator's own overhead.
    if outcome.limit != "max_eval_steps":
        assert outcome.steps <= ROOMY.max_eval_steps
    assert peak < ROOMY.max_eval_memory + 4_000_000
    # ... and the same verdict, spending the same steps, when run again.
    again = compiled.evaluate(activation, memo=False)
    assert (again.matched, again.reason, again.steps) == (
        outcome.matched, outcome.reason, outcome.steps)


_config_values = st.one_of(
    _json, st.sampled_from(["a/b", "a/b:c", "../x", "x.yml", "^1.0", ">>1", "'(", "{{ .x }}",
                            "event.payload.l.exists(x, x)", "9" * 30]))
_config_keys = st.sampled_from(["version", "artifacts", "events", "produces", "subscriptions",
                                "artifact", "filters", "schema_version", "workflow",
                                "inputs", "type", "description", "x"])
_config_docs = st.recursive(
    _config_values,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_config_keys, inner, max_size=5),
    max_leaves=30,
).map(lambda d: {"version": 1, **d} if isinstance(d, dict) else d)


def _mutate(text: str, data: st.DataObject) -> str:
    for _ in range(data.draw(st.integers(0, 3))):
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(st.sampled_from(
            ["\t", ":", "- ", "&a ", "*a", "!x ", "{", "[", "'", '"', "\n  ", "#", "\x00",
             "9" * 50, "<<: *a\n"])) + text[at:]
    return text


@PROPERTY
@given(_config_docs, st.data())
def test_any_config_text_gets_located_diagnostics(doc: Any, data: st.DataObject) -> None:
    text = _mutate(yaml.safe_dump(doc, allow_unicode=True), data)
    started = time.monotonic()
    result = load_config(text, path="tako.yml")
    assert time.monotonic() - started < SECONDS
    for diag in result.diagnostics:
        assert diag.code != "internal-error", diag.format()
        assert diag.line >= 1 and diag.col >= 1, diag.format()
        assert diag.hint and len(diag.message) <= 400


_range_texts = st.one_of(
    st.text(alphabet="0123456789.xX*^~<>=!|-[]()., v+rc", max_size=40),
    st.text(max_size=20),
    st.lists(st.sampled_from(["1", "1.2", "1.2.3", "^", "~", ">=", "<", "||", " ", "-",
                              "[", ")", "...", "x", "-rc.1", "9" * 25]), max_size=12)
    .map("".join),
)
_versions = st.one_of(st.sampled_from(["1.0.0", "0.0.0", "2.0.0-rc.1", "1.2", "v3"]),
                      st.text(alphabet="0123456789.-+rcv", max_size=25))


@PROPERTY
@given(_range_texts, _versions)
def test_any_range_text_parses_or_says_where(text: str, version: str) -> None:
    started = time.monotonic()
    try:
        parsed = parse_range(text)
    except RangeError as exc:
        assert exc.reason and exc.hint and len(str(exc)) < 600
        assert 0 <= exc.column <= len(text) + 1
        return
    try:
        parsed.contains(version)
    except VersionError as exc:
        assert exc.reason
    assert time.monotonic() - started < SECONDS
