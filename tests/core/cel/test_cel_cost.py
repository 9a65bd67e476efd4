"""The worst-case cost model of CEL filters (core/cel/cost.py)."""

from __future__ import annotations

import pytest

from tako_gha.core.cel import compile_filter
from tako_gha.core.cel.cost import (
    MACRO_ITERATION,
    Shape,
    estimate,
    estimate_macro,
    growth,
    shape_of,
    uniform_event,
)


def _ast(source: str):  # type: ignore[no-untyped-def]
    return compile_filter(source)._ast


def test_shapes_join_the_elements_of_a_list() -> None:
    payload = {"items": [{"name": "a", "tags": [1, 2]}, {"name": "abcd", "tags": [1] * 5,
                                                       "extra": "x" * 9}]}
    shape = shape_of(payload, {})
    items = shape.field("items")
    assert items.card == 2
    element = items.element()
    assert element.field("name").card == 4  # the longest name
    assert element.field("tags").card == 5  # the longest tags list
    assert element.field("extra").card == 9
    assert element.field("missing").card == 0  # a missing field fails at once: no cost


def test_shapes_of_a_deep_payload_need_no_recursion() -> None:
    node: dict[str, object] = {"leaf": "x"}
    for _ in range(20_000):
        node = {"a": node}
    shape = shape_of(node, {})
    assert shape.card == 1 and shape.field("a").field("a").card == 1


def test_macro_cost_grows_with_the_actual_list() -> None:
    source = "event.payload.l.exists(x, x == 1)"
    small = estimate(_ast(source), shape_of({"payload": {"l": [0] * 10}}, {})).steps
    large = estimate(_ast(source), shape_of({"payload": {"l": [0] * 1000}}, {})).steps
    assert 90 < large / small < 110
    nested = "event.payload.l.exists(x, event.payload.l.exists(y, x == y))"
    n2 = estimate(_ast(nested), shape_of({"payload": {"l": [0] * 1000}}, {})).steps
    assert n2 > 1000 * 1000 * MACRO_ITERATION


def test_estimate_macro_uses_the_other_variables_shapes() -> None:
    # the body of event.payload.l.exists(x, ...) refers to an outer variable y
    ast = _ast("event.payload.l.exists(y, event.payload.l.exists(x, y.exists(z, z == x)))")
    inner_macro = ast.children[2].children[1]  # the inner exists(x, ...)
    body = inner_macro.children[2].children[1]  # y.exists(z, z == x)
    receiver = shape_of([0] * 4, {})
    found = estimate_macro(body, "x", receiver,
                           lambda name: Shape(300, None, Shape()) if name == "y" else None)
    assert found >= 4 * 300 * MACRO_ITERATION
    alone = estimate_macro(body, "x", receiver, lambda name: None)
    assert alone < found  # an unknown y is a scalar: nothing to iterate


def test_built_values_are_estimated() -> None:
    event = shape_of({"payload": {"l": list(range(1000)), "s": "x" * 100}}, {})
    assert estimate(_ast("event.payload.l.map(x, event.payload.l).size() > 0"),
                    event).built >= 1000 * 1000
    assert estimate(_ast("event.payload.s + event.payload.s == ''"), event).built == 200
    listed = estimate(_ast("[event.payload.l, event.payload.l].size() == 2"), event)
    assert listed.built >= 2000 and listed.built_at is not None
    joined = estimate(_ast("['a', 'b'].join(event.payload.s) == ''"), event)
    assert joined.built >= 100


@pytest.mark.parametrize(
    ("source", "power"),
    [
        ("event.payload.l.exists(x, x == 1)", 1),
        ("event.payload.l.exists(x, event.payload.l.exists(y, x == y))", 2),
        ("event.payload.l.map(x, event.payload.l.filter(y, y > x)).size() > 0", 2),
        ("event.payload.version == '1' ? true : event.payload.l.all(x, x > 0)", 1),
        ("{'a': event.payload.l.exists(x, x == 1)}.size() > 0", 1),
        ("semver.major(event.payload.v) == 1", 0),
    ],
)
def test_growth_exponent(source: str, power: int) -> None:
    ast = _ast(source)
    assert round(growth(ast)(ast)) == power


def test_uniform_event_is_unknown_everywhere() -> None:
    event = uniform_event(7, text=3)
    assert event.field("anything").field("deeper").card == 7
    assert event.element().top and event.text == 3
