"""The subscription graph (docs/protocol.md, The tree): who can trigger whom, statically.

Nodes are repositories; an edge ``producer -> subscriber`` exists when the
subscriber's ``tako.yml`` subscribes to an artifact of the producer, labelled with
the event types that can travel along it (when the producer declares ``produces``,
only the types it declares). Self-subscriptions are left out: the source of a
fan-out is never one of its own targets, so they can never loop at run time.

What the graph answers:

- ``cycles()``: every elementary cycle, as a path ``["a", "b", "a"]`` (Johnson's
  algorithm, bounded output so a pathological org cannot flood a terminal);
- ``longest_cascade(repo)``: the number of hops of the longest cascade the repo
  can start. At run time a dispatch to a repo already in the chain is refused, so
  a cascade is a simple path and this is the longest simple path from the repo;
- ``subscribers(repo, event_type)``, ``descendants(repo)``;
- renderers: ``render_text``, ``render_mermaid`` (GitHub Markdown), ``render_dot``,
  ``to_json``.

Pure: no I/O. Names compare case-insensitively (GitHub's rule) and keep the
spelling of the first config that names them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tako_gha.core.config import ConfigResult, RepoConfig, Subscription

# Output bounds: enumerating cycles or simple paths is exponential in the worst case.
MAX_CYCLES = 1000
MAX_PATH_STEPS = 200_000


@dataclass(frozen=True)
class Edge:
    producer: str
    subscriber: str
    events: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"from": self.producer, "to": self.subscriber, "events": list(self.events)}


@dataclass(frozen=True)
class Unproduced:
    """A subscription that names only event types its producer does not declare."""

    subscriber: str
    subscription: str  # Subscription.describe()
    producer: str
    events: tuple[str, ...]
    artifact: str | None = None  # set when the artifact itself is not published
    line: int = 0  # of the subscription in the subscriber's file

    def message(self) -> str:
        if self.artifact is not None:
            return (f"{self.subscriber} {self.subscription} subscribes to artifact "
                    f"{self.artifact!r}, which {self.producer} does not declare in artifacts")
        types = ", ".join(self.events)
        return (f"{self.subscriber} {self.subscription} listens for {types}, "
                f"which {self.producer} does not declare in events.produces")


@dataclass
class CycleReport:
    cycles: list[list[str]] = field(default_factory=list)
    truncated: bool = False  # more cycles exist than were listed


@dataclass(frozen=True)
class Cascade:
    depth: int  # hops of the longest cascade found
    exact: bool = True  # False when the search stopped at MAX_PATH_STEPS


class SubscriptionGraph:
    """Repos and producer -> subscriber edges. Build with ``from_configs``."""

    def __init__(self, nodes: Iterable[str], edges: Iterable[Edge], *,
                 configured: Iterable[str] = (),
                 produces: dict[str, tuple[str, ...]] | None = None,
                 unproduced: Iterable[Unproduced] = ()) -> None:
        self._names: dict[str, str] = {}
        for name in nodes:
            self._canon(name)
        merged: dict[tuple[str, str], set[str]] = defaultdict(set)
        for edge in edges:
            producer, subscriber = self._canon(edge.producer), self._canon(edge.subscriber)
            if producer.lower() != subscriber.lower():
                merged[(producer, subscriber)].update(edge.events)
        self.edges: list[Edge] = sorted(
            (Edge(p, s, tuple(sorted(types))) for (p, s), types in merged.items()),
            key=lambda e: (e.producer.lower(), e.subscriber.lower()),
        )
        self.configured = {self._canon(n) for n in configured}
        self.produces = {self._canon(k): v for k, v in (produces or {}).items()}
        self.unproduced = list(unproduced)
        self._out: dict[str, list[Edge]] = defaultdict(list)
        for edge in self.edges:
            self._out[edge.producer].append(edge)

    # ------------------------------------------------------------ building
    def _canon(self, name: str) -> str:
        return self._names.setdefault(name.lower(), name)

    @classmethod
    def from_configs(cls, configs: Iterable[ConfigResult | RepoConfig]) -> SubscriptionGraph:
        """The graph of the usable configs; missing or unusable files add no node
        (an org of 10,000 repos mostly has no ``tako.yml``) unless named as a
        producer by someone else."""
        repo_configs: list[tuple[str, RepoConfig]] = []
        for item in configs:
            config = item.config if isinstance(item, ConfigResult) else item
            name = item.repo if isinstance(item, ConfigResult) else (item.repo or item.path)
            if config is not None and name:
                repo_configs.append((name, config))
        by_name = {name.lower(): config for name, config in repo_configs}
        edges: list[Edge] = []
        unproduced: list[Unproduced] = []
        for name, config in repo_configs:
            for sub in config.subscriptions:
                if sub.producer.lower() == name.lower():
                    continue  # self-subscription: a warning of its own, never an edge
                producer = by_name.get(sub.producer.lower())
                if producer is not None and producer.artifacts \
                        and sub.artifact not in producer.artifacts:
                    # Matching never selects it either (core.matching rule 2).
                    unproduced.append(Unproduced(name, sub.describe(), sub.producer,
                                                 tuple(sub.events), artifact=sub.artifact,
                                                 line=sub.line))
                    continue
                types = _carried_types(sub, producer)
                if types:
                    edges.append(Edge(sub.producer, name, types))
                else:
                    unproduced.append(Unproduced(name, sub.describe(), sub.producer,
                                                 tuple(sub.events), line=sub.line))
        produces = {name: tuple(p.type for p in config.produces) for name, config in repo_configs}
        return cls([name for name, _ in repo_configs], edges,
                   configured=[name for name, _ in repo_configs], produces=produces,
                   unproduced=unproduced)

    # ------------------------------------------------------------ queries
    @property
    def nodes(self) -> list[str]:
        return sorted(self._names.values(), key=str.lower)

    def name(self, repo: str) -> str:
        """The graph's spelling of ``repo`` (case-insensitive lookup)."""
        return self._names.get(repo.lower(), repo)

    def successors(self, repo: str) -> list[str]:
        return [e.subscriber for e in self._out.get(self.name(repo), [])]

    def subscribers(self, repo: str, event_type: str | None = None) -> list[str]:
        """Repos with an edge from ``repo`` (carrying ``event_type`` when given)."""
        return [e.subscriber for e in self._out.get(self.name(repo), [])
                if event_type is None or event_type in e.events]

    def descendants(self, repo: str) -> list[str]:
        """Every repo a cascade from ``repo`` can reach (not ``repo`` itself)."""
        start = self.name(repo)
        seen = {start}
        todo = [start]
        while todo:
            for nxt in self.successors(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        seen.discard(start)
        return sorted(seen, key=str.lower)

    def reachable_from(self, repo: str) -> SubscriptionGraph:
        """The part of the graph a cascade from ``repo`` can touch (``repo`` and its
        descendants, and the edges between them)."""
        start = self.name(repo)
        keep = {start, *self.descendants(start)}
        return SubscriptionGraph(
            sorted(keep, key=str.lower),
            [e for e in self.edges if e.producer in keep and e.subscriber in keep],
            configured=[n for n in self.configured if n in keep],
            produces={k: v for k, v in self.produces.items() if k in keep},
            unproduced=[u for u in self.unproduced if u.subscriber in keep])

    def find_cycles(self, limit: int = MAX_CYCLES) -> CycleReport:
        """Every elementary cycle (up to ``limit``), each starting at its least node."""
        adjacency = {n: self.successors(n) for n in self.nodes}
        return _johnson(adjacency, limit)

    def cycles(self, limit: int = MAX_CYCLES) -> list[list[str]]:
        return self.find_cycles(limit).cycles

    def longest_cascade_info(self, producer: str) -> Cascade:
        start = self.name(producer)
        reach = [start, *self.descendants(start)]
        sub = {n: self.successors(n) for n in reach}
        if not _has_cycle(sub):
            return Cascade(_dag_longest(sub, start))
        return _dfs_longest(sub, start, MAX_PATH_STEPS)

    def longest_cascade(self, producer: str) -> int:
        """Hops of the longest cascade ``producer`` can start (0: no subscriber)."""
        return self.longest_cascade_info(producer).depth

    def cascade_depths(self) -> dict[str, int]:
        """Longest cascade from every repo that has at least one subscriber.

        Repos that cannot reach a cycle share one memoised pass over the acyclic part
        (a 10,000-repo chain stays linear); the others are searched one by one."""
        adjacency = {n: self.successors(n) for n in self.nodes}
        on_cycle = [n for c in strongly_connected(adjacency) if len(c) > 1 for n in c]
        tainted: set[str] = set()
        reverse = _reverse(adjacency)
        for node in on_cycle:
            if node not in tainted:
                tainted |= _reachable(reverse, node, set(adjacency))
        memo: dict[str, int] = {}
        depths: dict[str, int] = {}
        for node in self.nodes:
            if not self._out.get(node):
                continue
            depths[node] = (self.longest_cascade(node) if node in tainted
                            else _dag_longest(adjacency, node, memo))
        return depths

    # ------------------------------------------------------------ renderers
    def to_json(self, cycle_limit: int = MAX_CYCLES) -> dict[str, Any]:
        report = self.find_cycles(cycle_limit)
        return {
            "nodes": [{"repo": n, "has_config": n in self.configured,
                       "produces": list(self.produces.get(n, ()))} for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "cycles": report.cycles,
            "cycles_truncated": report.truncated,
            "longest_cascade": self.cascade_depths(),
            "unproduced": [{"subscriber": u.subscriber, "subscription": u.subscription,
                            "producer": u.producer, "events": list(u.events),
                            "artifact": u.artifact, "message": u.message()}
                           for u in self.unproduced],
        }

    def render_json(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def render_text(self, cycle_limit: int = MAX_CYCLES) -> str:
        lines = [f"{len(self.nodes)} repositories, {len(self.edges)} subscription edges"]
        if self.edges:
            left = max(len(e.producer) for e in self.edges)
            right = max(len(e.subscriber) for e in self.edges)
            lines.append("")
            lines.extend(f"  {e.producer.ljust(left)} -> {e.subscriber.ljust(right)}  "
                         f"[{', '.join(e.events)}]" for e in self.edges)
        isolated = [n for n in self.nodes if n not in self._touched()]
        if isolated:
            lines.append(f"\nno edges: {', '.join(isolated)}")
        external = [n for n in self.nodes if n not in self.configured]
        if external:
            lines.append(f"not in this set (no tako.yml read): {', '.join(external)}")
        report = self.find_cycles(cycle_limit)
        lines.append("")
        if report.cycles:
            lines.append(f"cycles ({len(report.cycles)}{'+' if report.truncated else ''}):")
            lines.extend(f"  {' → '.join(c)}" for c in report.cycles)
        else:
            lines.append("cycles: none (acyclic)")
        depths = self.cascade_depths()
        if depths:
            lines.append("longest cascade (hops):")
            lines.extend(f"  {name}: {depth}" for name, depth in depths.items())
        for item in self.unproduced:
            lines.append(f"warning: {item.message()}")
        return "\n".join(lines)

    def render_mermaid(self) -> str:
        """A ``flowchart LR`` GitHub renders: node ids are ``n0, n1, …`` (names with
        ``-``, ``/`` or ``.`` are not valid ids), names go in quoted labels."""
        ids = {name: f"n{i}" for i, name in enumerate(self.nodes)}
        lines = ["flowchart LR"]
        if not ids:  # an empty flowchart is a Mermaid error on some renderers
            lines.append('  empty["no tako.yml subscriptions found"]')
        for name, node_id in ids.items():
            shape = f'["{_mermaid_text(name)}"]' if name in self.configured \
                else f'(["{_mermaid_text(name)}"])'
            lines.append(f"  {node_id}{shape}")
        for edge in self.edges:
            label = _mermaid_text(", ".join(edge.events))
            lines.append(f'  {ids[edge.producer]} -->|"{label}"| {ids[edge.subscriber]}')
        in_cycles = sorted({n for cycle in self.cycles() for n in cycle}, key=str.lower)
        if in_cycles:
            lines.append("  classDef cycle stroke:#d73a49,stroke-width:3px")
            lines.append(f"  class {','.join(ids[n] for n in in_cycles)} cycle")
        return "\n".join(lines)

    def render_dot(self) -> str:
        lines = ["digraph tako {", "  rankdir=LR;", "  node [shape=box];"]
        for name in self.nodes:
            style = "" if name in self.configured else " [style=dashed]"
            lines.append(f"  {_dot_id(name)}{style};")
        for edge in self.edges:
            label = _dot_id(", ".join(edge.events))
            lines.append(f"  {_dot_id(edge.producer)} -> {_dot_id(edge.subscriber)} "
                         f"[label={label}];")
        lines.append("}")
        return "\n".join(lines)

    def render(self, fmt: str) -> str:
        renderers = {"text": self.render_text, "mermaid": self.render_mermaid,
                     "dot": self.render_dot, "json": self.render_json}
        if fmt not in renderers:
            raise ValueError(f"unknown graph format {fmt!r} (one of: {', '.join(renderers)})")
        return renderers[fmt]()

    def _touched(self) -> set[str]:
        return {e.producer for e in self.edges} | {e.subscriber for e in self.edges}


# ---------------------------------------------------------------- helpers
def _carried_types(sub: Subscription, producer: RepoConfig | None) -> tuple[str, ...]:
    """Types a subscription can receive: its events, narrowed to what the producer
    declares when it declares anything."""
    if producer is None or not producer.produces:
        return tuple(sub.events)
    return tuple(t for t in sub.events if producer.produces_type(t))


# Inside a quoted Mermaid label '"' breaks parsing, '<' '>' '&' are read as HTML,
# '#name;' as an entity and a leading backtick as Markdown: write each as an entity
# ('#' first, so the entities themselves survive).
_MERMAID_ENTITIES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"),
                     ("&", "#amp;"), ("`", "#96;"))


def _mermaid_text(text: str) -> str:
    for char, entity in _MERMAID_ENTITIES:
        text = text.replace(char, entity)
    return text


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reachable(adjacency: dict[str, list[str]], start: str, allowed: set[str]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in adjacency.get(todo.pop(), ()):
            if nxt in allowed and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _reverse(adjacency: dict[str, list[str]]) -> dict[str, list[str]]:
    reverse: dict[str, list[str]] = defaultdict(list)
    for node, succs in adjacency.items():
        for nxt in succs:
            reverse[nxt].append(node)
    return reverse


def strongly_connected(adjacency: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's SCCs, iterative (a 10,000-repo chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in adjacency:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(adjacency.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, succs = work[-1]
            pushed = False
            for nxt in succs:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(adjacency.get(nxt, ()))))
                    pushed = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if pushed:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
    return result


def _has_cycle(adjacency: dict[str, list[str]]) -> bool:
    return any(len(c) > 1 for c in strongly_connected(adjacency))


def _johnson(adjacency: dict[str, list[str]], limit: int) -> CycleReport:
    """Johnson's elementary-circuit enumeration, run only inside non-trivial SCCs
    (usually there are none and this costs one Tarjan pass)."""
    report = CycleReport()
    reverse = _reverse(adjacency)
    components = [sorted(c, key=str.lower) for c in strongly_connected(adjacency) if len(c) > 1]
    components.sort(key=lambda c: c[0].lower())
    for component in components:
        remaining = set(component)
        for start in component:
            # The SCC of ``start`` in the graph induced by the nodes not yet used as
            # a start: forward-reachable ∩ backward-reachable.
            scc = _reachable(adjacency, start, remaining) & _reachable(reverse, start, remaining)
            if len(scc) > 1 and _circuits(adjacency, start, scc, report, limit):
                return report
            remaining.discard(start)
    return report


def _circuits(adjacency: dict[str, list[str]], start: str, allowed: set[str],
              report: CycleReport, limit: int) -> bool:
    """All circuits through ``start`` within ``allowed``; True when ``limit`` was hit."""
    blocked = {start}
    blocked_by: dict[str, set[str]] = defaultdict(set)
    path = [start]

    def succs(node: str) -> list[str]:
        return sorted((n for n in adjacency.get(node, ()) if n in allowed), key=str.lower)

    def unblock(node: str) -> None:
        todo = [node]
        while todo:
            item = todo.pop()
            if item in blocked:
                blocked.discard(item)
                todo.extend(blocked_by.pop(item, ()))

    frames: list[tuple[str, Iterator[str]]] = [(start, iter(succs(start)))]
    found = [False]
    while frames:
        node, it = frames[-1]
        pushed = False
        for nxt in it:
            if nxt == start:
                report.cycles.append([*path, start])
                found[-1] = True
                if len(report.cycles) >= limit:
                    report.truncated = True
                    return True
            elif nxt not in blocked:
                path.append(nxt)
                blocked.add(nxt)
                frames.append((nxt, iter(succs(nxt))))
                found.append(False)
                pushed = True
                break
        if pushed:
            continue
        frames.pop()
        path.pop()
        closed = found.pop()
        if closed:
            unblock(node)
        else:
            for nxt in succs(node):
                blocked_by[nxt].add(node)
        if found:
            found[-1] = found[-1] or closed
    return False


def _dag_longest(adjacency: dict[str, list[str]], start: str,
                 depth: dict[str, int] | None = None) -> int:
    """Longest path (edges) from ``start`` in an acyclic graph, iterative post-order.
    ``depth`` memoises across calls (the same graph): all starts cost one pass."""
    depth = {} if depth is None else depth
    if start in depth:
        return depth[start]
    frames: list[tuple[str, Iterator[str]]] = [(start, iter(adjacency.get(start, ())))]
    while frames:
        node, it = frames[-1]
        nxt = next((n for n in it if n not in depth), None)
        if nxt is not None:
            frames.append((nxt, iter(adjacency.get(nxt, ()))))
            continue
        frames.pop()
        depth[node] = max((depth[n] + 1 for n in adjacency.get(node, ())), default=0)
    return depth[start]


def _dfs_longest(adjacency: dict[str, list[str]], start: str, budget: int) -> Cascade:
    """Longest simple path by exhaustive search, stopped after ``budget`` steps."""
    best = 0
    steps = 0
    on_path = {start}
    frames: list[Iterator[str]] = [iter(adjacency.get(start, ()))]
    path = [start]
    while frames:
        nxt = next((n for n in frames[-1] if n not in on_path), None)
        if nxt is None:
            frames.pop()
            on_path.discard(path.pop())
            continue
        steps += 1
        if steps > budget:
            return Cascade(best, exact=False)
        path.append(nxt)
        on_path.add(nxt)
        best = max(best, len(path) - 1)
        frames.append(iter(adjacency.get(nxt, ())))
    return Cascade(best)
