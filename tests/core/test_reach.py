"""core/reach.py: the levels below a plan, from the targets' events.produces."""

from __future__ import annotations

from tako_gha.core.config import load_config
from tako_gha.core.events import Event
from tako_gha.core.matching import plan_fanout
from tako_gha.core.reach import reach


def _chain(length: int) -> list:
    """r0 produces e0; r1 subscribes to r0's e0 and produces e1; … a chain."""
    configs = []
    for i in range(length):
        text = f"version: 1\nevents:\n  produces: [e{i}]\n"
        if i:
            text += (f"  subscriptions:\n    - artifact: acme/r{i - 1}\n"
                     f"      events: [e{i - 1}]\n")
        configs.append(load_config(text, repo=f"acme/r{i}"))
    return configs


def test_a_chain_is_followed_level_by_level_and_cut_at_max_depth() -> None:
    configs = _chain(6)
    first = plan_fanout(Event("e0", "acme/r0", {}), configs)
    assert first.target_repos() == ["acme/r1"]
    far = reach(first, configs)
    assert [(h.level, h.source, h.plan.target_repos()) for h in far.hops] == [
        (2, "acme/r1", ["acme/r2"]), (3, "acme/r2", ["acme/r3"]),
        (4, "acme/r3", ["acme/r4"]), (5, "acme/r4", ["acme/r5"]),
        (6, "acme/r5", [])]
    assert not far.truncated
    short = reach(first, configs, max_depth=3)
    assert [h.level for h in short.hops] == [2, 3] and short.truncated
    capped = reach(first, configs, max_edges=2)
    assert len(capped.hops) == 2 and capped.truncated


def test_a_produced_event_is_planned_with_its_example_payload_else_unknown() -> None:
    producer = load_config(
        "version: 1\nevents:\n  produces:\n    - type: go\n      example_payload: {ok: true}\n"
        "    - type: maybe\n  subscriptions:\n    - artifact: acme/src\n      events: [s]\n",
        repo="acme/mid")
    reader = load_config(
        "version: 1\nevents:\n  subscriptions:\n    - artifact: acme/mid\n"
        "      events: [go, maybe]\n      filters: ['event.payload.ok == true']\n",
        repo="acme/leaf")
    configs = [producer, reader]
    far = reach(plan_fanout(Event("s", "acme/src", {}), configs), configs)
    by_type = {h.event_type: h for h in far.hops}
    assert by_type["go"].example and by_type["go"].plan.target_repos() == ["acme/leaf"]
    assert not by_type["maybe"].example
    assert [s.repo for s in by_type["maybe"].plan.undecided] == ["acme/leaf"]
