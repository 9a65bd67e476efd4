"""One token's budget shared by a cascade: the split, the prediction, the JSON a parent
hands down (core.budget)."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tako_gha.core.budget import (
    FLOOR,
    SHARE,
    Budget,
    Demand,
    plan_split,
    predict,
    split,
)

ROOT = Budget.root(80, 500)


def _tree(*fans: int) -> dict[str, list[str]]:
    """origin 'o' -> fans[0] children -> each fans[1] children -> ..."""
    graph: dict[str, list[str]] = {}
    level = ["o"]
    for fan in fans:
        nxt = []
        for parent in level:
            graph[parent] = [f"{parent}.{i}" for i in range(fan)]
            nxt += graph[parent]
        level = nxt
    return graph


def _total(parts: list[Budget]) -> Budget:
    out = Budget(0, 0, 0, 0, 0)
    for part in parts:
        out = out.plus(part)
    return out


def _close(a: Budget, b: Budget) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-9) for x, y in
               zip(a.to_json().values(), b.to_json().values(), strict=True))


def test_the_root_budget_leaves_the_token_room() -> None:
    assert ROOT.rest == 900 * SHARE and ROOT.graphql == 2000 * SHARE
    assert ROOT.concurrent == 100 * SHARE and (ROOT.per_minute, ROOT.per_hour) == (80, 500)


def test_a_split_adds_up_to_what_was_handed() -> None:
    whole = plan_split(ROOT, _tree(10, 30, 33), "o", [f"o.{i}" for i in range(10)], (), 10)
    assert _close(_total([whole.own, *whole.children]), ROOT)
    below = plan_split(whole.children[0], _tree(10, 30, 33), "o.0",
                       [f"o.0.{i}" for i in range(30)], ("o",), 9)
    assert _close(_total([below.own, *below.children]), whole.children[0])


def test_shares_follow_the_shape_of_the_tree() -> None:
    # a child that fans out to 100 gets more than one that fans out to 2, and a leaf
    # (nothing subscribes to it) gets nothing: it runs on the floor
    graph = {"o": ["big", "small", "leaf"], "big": [f"b{i}" for i in range(100)],
             "small": ["s1", "s2"]}
    parts = plan_split(ROOT, graph, "o", ["big", "small", "leaf"], (), 10)
    big, small, leaf = parts.children
    assert big.rest > small.rest > leaf.rest == 0
    assert big.graphql > small.graphql > leaf.graphql == 0
    assert leaf.usable() == FLOOR
    # writes (REST, dispatches) by the runs each dispatches: 100 of 3 + 100 + 2
    assert math.isclose(big.rest / ROOT.rest, 100 / 105)
    # reads (GraphQL) by the runs each watches: the origin watches all 105
    assert parts.own.graphql > big.graphql


def test_a_child_predicted_to_fan_out_never_gets_nothing() -> None:
    tiny = split(ROOT, Demand(writes=1000, reads=1000), [Demand(0, 0, fans_out=True)])
    assert tiny.children[0].rest > 0 and tiny.children[0].graphql > 0


def test_prediction_counts_runs_writes_and_reads() -> None:
    sub = predict(_tree(10, 30, 33), "o")
    assert sub.runs == 1 + 10 + 300 + 9900
    assert sub.writes == 10 + 300 + 9900
    # o watches 10,210; each of 10 watches 1,020; each of 300 watches 33
    assert sub.reads == 10210 + 10 * 1020 + 300 * 33


def test_prediction_refuses_cycles_and_depth_like_the_engine() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"]}
    assert predict(graph, "a").runs == 4  # a, b, c, d: c -> a is a cycle
    assert predict(graph, "a", max_depth=1).runs == 2
    assert predict(graph, "b", chain=("a",)).runs == 3  # b, c, d
    # a diamond counts twice (each edge triggers its own run), quickly
    wide = {f"n{i}": [f"n{i + 1}a", f"n{i + 1}b"] for i in range(40)}
    wide |= {f"n{i}a": [f"n{i}"] for i in range(1, 41)}
    wide |= {f"n{i}b": [f"n{i}"] for i in range(1, 41)}
    assert predict(wide, "n0", max_depth=10).runs > 10


def test_halving_and_growing_back() -> None:
    half = ROOT.halved()
    assert half.rest == ROOT.rest / 2 and half.graphql == ROOT.graphql / 2
    assert half.usable().rest == ROOT.rest / 2
    tiny = Budget(0.1, 0.1, 0.1, 0.01, 0.01)
    assert tiny.usable() == FLOOR
    assert _close(half.plus(half), ROOT)


def test_a_budget_from_a_payload_is_checked() -> None:
    assert Budget.from_json(ROOT.to_json()) == ROOT
    for bad, what in [([], "not an object"), ({**ROOT.to_json(), "x": 1}, "unknown"),
                      ({**ROOT.to_json(), "rest": -1}, "rest"),
                      ({**ROOT.to_json(), "graphql": float("nan")}, "graphql"),
                      ({**ROOT.to_json(), "per_hour": True}, "per_hour"),
                      ({k: v for k, v in ROOT.to_json().items() if k != "rest"}, "rest")]:
        with pytest.raises(ValueError, match=what):
            Budget.from_json(bad, "client_payload.tako.budget")


# ------------------------------------------------------------------ slots
def test_a_slot_is_cut_into_disjoint_arcs_in_target_order() -> None:
    from tako_gha.core.budget import Slot

    root = Slot()
    kids = [root.part(i, 10) for i in range(10)]
    grandkids = [k.part(j, 30) for k in kids for j in range(30)]
    starts = [g.start for g in grandkids]
    # 300 instants evenly spread over the period, whichever parent made them
    assert starts == sorted(starts)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(starts)}
    assert gaps == {round(1 / 300, 9)}
    assert all(kids[i].start <= g.start < kids[i].start + kids[i].width
               for i in range(10) for g in grandkids[i * 30:(i + 1) * 30])


def test_a_slots_instant_is_its_start_times_the_period() -> None:
    from tako_gha.core.budget import Slot

    slot = Slot(0.25, 0.01)
    assert slot.point(1_000.0, 100.0) == 925.0  # instants at ..., 925, 1025, ...
    assert slot.point(1_025.0, 100.0) == 1_025.0
    assert slot.point(1_024.9, 100.0) == 925.0


@pytest.mark.parametrize("raw", [None, [], [0.5], [0.5, 0.1, 0.1], ["0", 1], [True, 0.5],
                                 [1.0, 0.1], [-0.1, 0.5], [0.5, 0], [0.5, 0.6],
                                 [float("nan"), 0.1], [0.1, float("inf")], {"start": 0}])
def test_a_slot_from_a_payload_is_checked(raw: object) -> None:
    from tako_gha.core.budget import Slot

    with pytest.raises(ValueError, match=r"client_payload\.tako\.slot"):
        Slot.from_json(raw, "client_payload.tako.slot")


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=4),
       st.data())
def test_nested_arcs_stay_inside_their_parents_and_round_trip(counts: list[int],
                                                              data: st.DataObject) -> None:
    from tako_gha.core.budget import Slot

    slot = Slot()
    for count in counts:
        index = data.draw(st.integers(min_value=0, max_value=count - 1))
        child = Slot.from_json(slot.part(index, count).to_json())
        assert slot.start - 1e-9 <= child.start < slot.start + slot.width
        assert child.start + child.width <= slot.start + slot.width + 1e-9
        slot = child


def test_an_arc_cut_ten_levels_deep_still_reaches_the_child() -> None:
    from tako_gha.core.budget import Slot

    slot = Slot()
    for _ in range(10):  # max_depth levels of a thousand targets each
        slot = Slot.from_json(json.loads(json.dumps(slot.part(999, 1000).to_json())))
    assert 0 < slot.width <= 1e-29 and slot.start + slot.width <= 1.0
