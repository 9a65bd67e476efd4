"""The subscription graph: edges, every cycle, longest cascade, renderers."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tako_gha.core.config import ConfigResult, Produced, RepoConfig, Subscription
from tako_gha.core.graph import (
    Edge,
    SubscriptionGraph,
    _dfs_longest,
    strongly_connected,
)


def sub(producer: str, events: list[str], index: int = 0, line: int = 0) -> Subscription:
    return Subscription(producer=producer, artifact="default", events=events, index=index,
                        line=line)


def repo(name: str, subs: list[Subscription] = (), produces: list[str] | None = None
         ) -> ConfigResult:
    config = RepoConfig(repo=name, path=f"{name}/tako.yml",
                        produces=[Produced(t) for t in (produces or [])],
                        subscriptions=list(subs))
    return ConfigResult(repo=name, path=config.path, config=config)


def edges_graph(pairs: list[tuple[str, str]]) -> SubscriptionGraph:
    return SubscriptionGraph([], [Edge(a, b, ("e",)) for a, b in pairs])


def test_two_repo_cycle_is_reported_as_a_path() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("o/a", [sub("o/b", ["built"])]),
        repo("o/b", [sub("o/a", ["built"])]),
    ])
    assert graph.cycles() == [["o/a", "o/b", "o/a"]]
    assert "o/a → o/b → o/a" in graph.render_text()


def test_diamond_is_acyclic_with_longest_cascade_two() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("o/a", produces=["built"]),
        repo("o/b", [sub("o/a", ["built"])], produces=["built"]),
        repo("o/c", [sub("o/a", ["built"])], produces=["built"]),
        repo("o/d", [sub("o/b", ["built"]), sub("o/c", ["built"], index=1)]),
    ])
    assert graph.cycles() == []
    assert graph.longest_cascade("o/a") == 2
    assert graph.longest_cascade("O/A") == 2  # names are case-insensitive
    assert graph.cascade_depths() == {"o/a": 2, "o/b": 1, "o/c": 1}
    assert graph.descendants("o/a") == ["o/b", "o/c", "o/d"]
    assert graph.subscribers("o/a") == ["o/b", "o/c"]
    assert "cycles: none (acyclic)" in graph.render_text()


def test_edges_carry_only_types_the_producer_declares() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("o/lib", produces=["library_built"]),
        repo("o/app", [sub("o/lib", ["library_built", "docs_built"])]),
        repo("o/docs", [sub("o/lib", ["docs_built"])]),
    ])
    assert [e.to_json() for e in graph.edges] == [
        {"from": "o/lib", "to": "o/app", "events": ["library_built"]}]
    assert graph.subscribers("o/lib", "library_built") == ["o/app"]
    assert graph.subscribers("o/lib", "docs_built") == []
    assert [(u.subscriber, u.producer) for u in graph.unproduced] == [("o/docs", "o/lib")]
    assert "does not declare" in graph.unproduced[0].message()


def test_producer_without_produces_keeps_every_subscribed_type() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("o/lib"),
        repo("o/app", [sub("o/lib", ["x", "y"]), sub("o/lib", ["z"], index=1)]),
    ])
    assert graph.edges == [Edge("o/lib", "o/app", ("x", "y", "z"))]


def test_external_producer_is_a_node_and_self_subscription_is_no_edge() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("o/app", [sub("ext/lib", ["built"]), sub("o/app", ["built"], index=1)]),
        ConfigResult(repo="o/none", path="o/none/tako.yml", config=None, missing=True),
    ])
    assert graph.nodes == ["ext/lib", "o/app"]
    assert graph.configured == {"o/app"}
    assert graph.cycles() == []
    assert "ext/lib" in graph.render_text().split("not in this set")[1]
    assert '(["ext/lib"])' in graph.render_mermaid()
    assert '"ext/lib" [style=dashed];' in graph.render_dot()


def test_repo_config_without_result_wrapper_is_accepted() -> None:
    a = RepoConfig(repo="o/a", path="a.yml", subscriptions=[sub("o/b", ["x"])])
    b = RepoConfig(repo="o/b", path="b.yml", subscriptions=[sub("o/a", ["x"])])
    assert SubscriptionGraph.from_configs([a, b]).cycles() == [["o/a", "o/b", "o/a"]]


def _count_cycles_complete(n: int) -> int:
    # Elementary cycles of the complete digraph K_n: sum over k of C(n,k)·(k-1)!
    from math import comb, factorial

    return sum(comb(n, k) * factorial(k - 1) for k in range(2, n + 1))


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_every_elementary_cycle_of_a_complete_graph(n: int) -> None:
    names = [f"o/r{i}" for i in range(n)]
    graph = edges_graph([(a, b) for a, b in itertools.permutations(names, 2)])
    cycles = graph.cycles()
    assert len(cycles) == _count_cycles_complete(n)
    # each is elementary (no repeated node), closed, and listed once
    assert all(c[0] == c[-1] and len(set(c[:-1])) == len(c) - 1 for c in cycles)
    assert len({tuple(c) for c in cycles}) == len(cycles)
    assert graph.longest_cascade("o/r0") == n - 1


def test_cycles_match_brute_force_on_a_mixed_graph() -> None:
    pairs = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "b"), ("d", "e"),
             ("e", "f"), ("f", "e"), ("g", "a")]
    graph = edges_graph(pairs)
    got = {tuple(c) for c in graph.cycles()}
    nodes = sorted({x for p in pairs for x in p})
    adj = set(pairs)
    expected = set()
    for k in range(2, len(nodes) + 1):
        for perm in itertools.permutations(nodes, k):
            if perm[0] == min(perm) and all((perm[i], perm[(i + 1) % k]) in adj
                                            for i in range(k)):
                expected.add((*perm, perm[0]))
    assert got == expected
    assert graph.longest_cascade("g") == 6  # g → a → b → c → d → e → f


def test_cycle_output_is_bounded() -> None:
    names = [f"r{i}" for i in range(7)]
    graph = edges_graph(list(itertools.permutations(names, 2)))
    report = graph.find_cycles(limit=10)
    assert len(report.cycles) == 10 and report.truncated
    text = graph.render_text(cycle_limit=10)
    assert "cycles (10+)" in text


def test_long_chain_does_not_hit_recursion_limit() -> None:
    names = [f"o/r{i:05d}" for i in range(5000)]
    graph = edges_graph(list(itertools.pairwise(names)))
    assert graph.cycles() == []
    assert graph.longest_cascade(names[0]) == 4999
    assert len(strongly_connected({n: graph.successors(n) for n in names})) == 5000


def test_longest_cascade_with_a_cycle_is_the_longest_simple_path() -> None:
    graph = edges_graph([("a", "b"), ("b", "a"), ("b", "c"), ("c", "d")])
    info = graph.longest_cascade_info("a")
    assert (info.depth, info.exact) == (3, True)
    assert graph.longest_cascade("d") == 0


def test_longest_path_search_stops_at_its_budget() -> None:
    adjacency = {n: [m for m in "abcdefgh" if m != n] for n in "abcdefgh"}
    cascade = _dfs_longest(adjacency, "a", budget=50)
    assert not cascade.exact and 0 < cascade.depth <= 7


def test_mermaid_renders_in_github_markdown_shape() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("my-org/core.lib", produces=["library_built"]),
        repo("my-org/api-svc", [sub("my-org/core.lib", ["library_built"])]),
        repo("my-org/web", [sub("my-org/api-svc", ['we"ird'])]),
        repo("my-org/api2", [sub("my-org/web", ["x"])]),
    ])
    out = graph.render_mermaid()
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    # node ids are plain identifiers; names with - / . live only in quoted labels
    node_lines = [ln.strip() for ln in lines[1:] if "[" in ln and "-->" not in ln]
    for line in node_lines:
        assert re.fullmatch(r'n\d+\["[^"]+"\]', line), line
    assert 'n1["my-org/api-svc"]' in out or '["my-org/api-svc"]' in out
    edge_lines = [ln.strip() for ln in lines if "-->" in ln]
    assert all(re.fullmatch(r'n\d+ -->\|"[^"]*"\| n\d+', e) for e in edge_lines)
    assert any("we#quot;ird" in e for e in edge_lines)
    assert "classDef" not in out  # acyclic: nothing highlighted


def test_mermaid_labels_escape_html_entities_and_markdown() -> None:
    # Event types are free text: '<b>' would be HTML in the rendered label, a literal
    # '#quot;' would turn into '"', a backtick would start Markdown.
    graph = SubscriptionGraph([], [Edge("o/a", "o/b", ("p<b>&q", "#quot;", "`md`"))])
    edge = next(ln for ln in graph.render_mermaid().splitlines() if "-->" in ln)
    assert edge == '  n0 -->|"#35;quot;, #96;md#96;, p#lt;b#gt;#amp;q"| n1'


def test_mermaid_highlights_nodes_on_cycles() -> None:
    out = edges_graph([("a", "b"), ("b", "a"), ("b", "c")]).render_mermaid()
    assert "classDef cycle" in out
    assert out.splitlines()[-1].strip() == "class n0,n1 cycle"


def test_dot_and_json_renderers() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("o/a", [sub("o/b", ["x"])], produces=["y"]),
        repo("o/b", [sub("o/a", ["y"])], produces=["x"]),
        repo("o/lonely"),
    ])
    dot = graph.render("dot")
    assert dot.startswith("digraph tako {") and dot.endswith("}")
    assert '"o/a" -> "o/b" [label="y"];' in dot
    data = json.loads(graph.render("json"))
    assert data["cycles"] == [["o/a", "o/b", "o/a"]]
    assert data["longest_cascade"] == {"o/a": 1, "o/b": 1}
    assert {"repo": "o/lonely", "has_config": True, "produces": []} in data["nodes"]
    assert "no edges: o/lonely" in graph.render("text")
    with pytest.raises(ValueError, match="unknown graph format"):
        graph.render("svg")


def test_text_lists_deep_cascades_and_unproduced_warnings() -> None:
    graph = SubscriptionGraph.from_configs([
        repo("o/lib", produces=["a"]),
        repo("o/app", [sub("o/lib", ["b"])]),
    ])
    text = graph.render_text()
    assert "warning: o/app subscriptions[0] (o/lib:default) listens for b" in text


def test_subscription_to_an_unpublished_artifact_is_no_edge() -> None:
    lib = repo("o/lib", produces=["built"])
    lib.config.artifacts = {"default": "", "docs": ""}
    graph = SubscriptionGraph.from_configs([
        lib,
        repo("o/app", [Subscription("o/lib", "sdk", ["built"])]),
        repo("o/site", [Subscription("o/lib", "docs", ["built"])]),
    ])
    assert [(e.producer, e.subscriber) for e in graph.edges] == [("o/lib", "o/site")]
    (dead,) = graph.unproduced
    assert dead.artifact == "sdk"
    assert dead.message() == ("o/app subscriptions[0] (o/lib:sdk) subscribes to artifact 'sdk', "
                              "which o/lib does not declare in artifacts")
    assert graph.to_json()["unproduced"][0]["artifact"] == "sdk"


def test_empty_graph_renders_everywhere() -> None:
    graph = SubscriptionGraph.from_configs([])
    assert graph.render_mermaid().splitlines() == [
        "flowchart LR", '  empty["no tako.yml subscriptions found"]']
    assert graph.render_text().startswith("0 repositories, 0 subscription edges")
    assert graph.render_dot() == 'digraph tako {\n  rankdir=LR;\n  node [shape=box];\n}'
    assert graph.longest_cascade("o/nobody") == 0 and graph.descendants("o/nobody") == []


def _brute_cycles(nodes: list[str], adj: set[tuple[str, str]]) -> set[tuple[str, ...]]:
    found = set()
    for k in range(2, len(nodes) + 1):
        for perm in itertools.permutations(nodes, k):
            if perm[0] == min(perm) and all((perm[i], perm[(i + 1) % k]) in adj
                                            for i in range(k)):
                found.add((*perm, perm[0]))
    return found


def _brute_longest(start: str, adj: set[tuple[str, str]]) -> int:
    best = 0

    def walk(node: str, seen: frozenset[str]) -> None:
        nonlocal best
        best = max(best, len(seen) - 1)
        for a, b in adj:
            if a == node and b not in seen:
                walk(b, seen | {b})

    walk(start, frozenset({start}))
    return best


NODE_NAMES = ["a", "b", "c", "d", "e", "f"]


@settings(max_examples=150, deadline=None)
@given(st.sets(st.tuples(st.sampled_from(NODE_NAMES), st.sampled_from(NODE_NAMES))
               .filter(lambda p: p[0] != p[1]), max_size=18))
def test_cycles_and_longest_cascade_match_brute_force(pairs: set[tuple[str, str]]) -> None:
    graph = edges_graph(sorted(pairs))
    nodes = sorted({x for p in pairs for x in p})
    assert {tuple(c) for c in graph.cycles()} == _brute_cycles(nodes, pairs)
    assert len(graph.cycles()) == len(_brute_cycles(nodes, pairs))  # each listed once
    for node in nodes:
        assert graph.longest_cascade(node) == _brute_longest(node, pairs)
    assert graph.cascade_depths() == {n: _brute_longest(n, pairs) for n in nodes
                                      if any(a == n for a, _ in pairs)}


def test_reachable_from_keeps_descendants_only() -> None:
    graph = edges_graph([("a", "b"), ("b", "c"), ("x", "b"), ("c", "a")])
    part = graph.reachable_from("B")
    assert part.nodes == ["a", "b", "c"]
    assert [(e.producer, e.subscriber) for e in part.edges] == [("a", "b"), ("b", "c"),
                                                                ("c", "a")]
    assert part.cycles() == [["a", "b", "c", "a"]]


def test_cascade_depths_of_a_long_chain_are_linear_time() -> None:
    import time

    names = [f"o/r{i:05d}" for i in range(10_000)]
    graph = edges_graph([*itertools.pairwise(names), ("x/a", "x/b"), ("x/b", "x/a"),
                         ("x/b", names[0])])
    start = time.perf_counter()
    depths = graph.cascade_depths()
    assert time.perf_counter() - start < 5  # quadratic would be minutes
    assert depths[names[0]] == 9_999 and depths[names[-2]] == 1
    assert depths["x/a"] == 10_001 and depths["x/b"] == 10_000
