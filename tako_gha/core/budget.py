"""One token's per-minute budgets, shared by every level of a cascade (docs/limits.md,
"One token, many processes").

GitHub applies its secondary limits per token: REST and GraphQL points a minute,
requests in flight, content creation a minute and an hour. A cascade is many tako
processes on one token — the root and a fan-out inside every intermediate child's
run — so each gets a *budget*: its part of those limits. A fan-out splits what it
was handed between itself and the children it dispatches (the part a child gets
travels in its dispatch, ``client_payload.tako.budget``), and what a child was
handed comes back to its parent when the child's run ends (until the child is
dispatched, its part is the parent's to spend).

The split follows the shape the subscription graph predicts. Two demands decide it:

- **writes** — the runs a process dispatches (each a 5-point write, a content
  creation, then a listing to find its run). Weight of the process itself: its
  direct children; of a child: every run its subtree will dispatch (its predicted
  subtree size minus itself).
- **reads** — the runs a process watches (its whole subtree: run states in GraphQL
  batches). Weight of the process itself: its subtree; of a child: what every
  fan-out in that child's subtree watches.

REST points, content creation (per minute and per hour) follow the writes;
GraphQL points and the requests in flight follow the reads. A child the graph says
fans out weighs at least ``MIN_WEIGHT``, so a wrong prediction never leaves it with
nothing; a child predicted to be a leaf weighs nothing and runs on the floor
(``FLOOR``: a read or two a minute, a write every five minutes). Floors are outside
the split: many live leaves running tako can add up past the token's limits, and a
refusal then halves the share of whoever sees it (``halve``).

Pure arithmetic: no clock, no I/O. The engine's governor consumes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

# GitHub's secondary limits per token, and the part of them a cascade spends: the
# rest is left to the token's other users (not governed by tako) and to GitHub's
# undisclosed per-endpoint costs.
GITHUB_REST_PER_MINUTE = 900
GITHUB_GRAPHQL_PER_MINUTE = 2000
GITHUB_CONCURRENT = 100
SHARE = 0.8
MIN_WEIGHT = 1.0  # the least a child predicted to fan out weighs in a split
PREDICTION_CAP = 10**9  # runs; a subscription graph of diamonds cannot overflow a float


@dataclass(frozen=True)
class Budget:
    """Per-minute budgets of one process (floats: shares of shares stay exact)."""

    rest: float  # REST points a minute (a read 1, a write 5)
    graphql: float  # GraphQL points a minute
    concurrent: float  # requests in flight
    per_minute: float  # content creations (dispatches) a minute
    per_hour: float  # ... and an hour

    @classmethod
    def root(cls, per_minute: float, per_hour: float) -> Budget:
        """The whole cascade's budget: ``SHARE`` of GitHub's per-minute limits, and the
        content-creation rates the user configured (GitHub's 80 and 500 by default)."""
        return cls(GITHUB_REST_PER_MINUTE * SHARE, GITHUB_GRAPHQL_PER_MINUTE * SHARE,
                   GITHUB_CONCURRENT * SHARE, float(per_minute), float(per_hour))

    def scaled(self, writes: float, reads: float) -> Budget:
        """This budget with the write family times ``writes`` and the read family
        times ``reads`` (fractions in [0, 1])."""
        return Budget(self.rest * writes, self.graphql * reads, self.concurrent * reads,
                      self.per_minute * writes, self.per_hour * writes)

    def plus(self, other: Budget) -> Budget:
        return Budget(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def minus(self, other: Budget) -> Budget:
        return Budget(*(max(0.0, getattr(self, f.name) - getattr(other, f.name))
                        for f in fields(self)))

    def halved(self) -> Budget:
        """After a secondary-limit refusal: half of everything, at once."""
        return self.scaled(0.5, 0.5)

    def usable(self) -> Budget:
        """What a process may actually spend: its budget, never below ``FLOOR``."""
        return Budget(*(max(getattr(self, f.name), getattr(FLOOR, f.name))
                        for f in fields(self)))

    def to_json(self) -> dict[str, float]:
        # rounded down: parts handed out never add up to more than the whole
        return {f.name: math.floor(getattr(self, f.name) * 10_000) / 10_000
                for f in fields(self)}

    @classmethod
    def from_json(cls, raw: Any, where: str = "budget") -> Budget:
        """Read a budget a parent handed down; ValueError (naming the field) for
        anything but an object of non-negative, finite numbers of the known names."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where} is not an object")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(names))
        if unknown:
            raise ValueError(f"{where} has unknown field(s): {', '.join(map(str, unknown))}")
        values = []
        for name in names:
            value = raw.get(name)
            if (not isinstance(value, (int, float)) or isinstance(value, bool)
                    or not math.isfinite(value) or value < 0):
                raise ValueError(f"{where}.{name} is not a non-negative number: {value!r}")
            values.append(float(value))
        return cls(*values)


@dataclass(frozen=True)
class Slot:
    """Where in each write period a process's writes fall: an arc ``[start, start +
    width)`` of a circle whose circumference is the period (the seconds between two of
    its writes at its dispatch rate). A process handed less than one write a minute
    writes only at the server-clock times ``(k + start) * period``; a parent cuts its
    arc into one equal arc per child, in the order of its targets, so the children of
    every level of the tree — and their children — write at different instants of the
    period instead of together. (Their parts are each below a write's 5 points a
    minute: a write is a lump, and lumps that fall in the same minute add up past the
    token's limit even when the parts do not.)"""

    start: float = 0.0
    width: float = 1.0

    def part(self, index: int, count: int) -> Slot:
        """The ``index``-th of ``count`` equal arcs of this one."""
        width = self.width / max(1, count)
        return Slot(self.start + width * index, width)

    def point(self, now: float, period: float) -> float:
        """The latest of this slot's instants at or before ``now`` (epoch seconds)."""
        phase = self.start * period
        return math.floor((now - phase) / period) * period + phase

    def to_json(self) -> list[float]:
        # not rounded: ten levels of a thousand targets cut the period 10^30 times
        return [self.start, self.width]

    @classmethod
    def from_json(cls, raw: Any, where: str = "slot") -> Slot:
        """Read a slot a parent handed down; ValueError (naming the field) for anything
        but ``[start, width]`` with ``0 <= start < 1`` and ``0 < width <= 1 - start``."""
        if (not isinstance(raw, list) or len(raw) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           and math.isfinite(v) for v in raw)):
            raise ValueError(f"{where} is not a pair of numbers [start, width]")
        start, width = float(raw[0]), float(raw[1])
        if not (0.0 <= start < 1.0 and 0.0 < width <= 1.0 - start + 1e-9):
            raise ValueError(f"{where} is not an arc of [0, 1): {raw!r}")
        return cls(start, min(width, 1.0 - start))


# A process never runs on less: a REST read and two GraphQL queries a minute, one
# request in flight, one write every five minutes (two an hour). A child predicted to
# be a leaf runs on this (its discovery is not shaped by the budget).
FLOOR = Budget(rest=1.0, graphql=2.0, concurrent=1.0, per_minute=0.2, per_hour=2.0)


@dataclass(frozen=True)
class Demand:
    """What a process (or a whole subtree of processes) is predicted to need."""

    writes: float  # runs it dispatches
    reads: float  # runs it watches
    fans_out: bool = True  # the graph says it dispatches at all


@dataclass(frozen=True)
class Split:
    own: Budget
    children: tuple[Budget, ...]


def split(budget: Budget, own: Demand, children: Iterable[Demand]) -> Split:
    """Divide ``budget`` between a process (``own``) and its children, in proportion
    to their demands, each family (writes, reads) on its own. The parts add up to
    ``budget`` exactly (before floors)."""
    kids = list(children)
    kid_writes = [_weight(d.writes, d.fans_out) for d in kids]
    kid_reads = [_weight(d.reads, d.fans_out) for d in kids]
    own_writes, own_reads = max(own.writes, MIN_WEIGHT), max(own.reads, MIN_WEIGHT)
    all_writes = own_writes + sum(kid_writes)
    all_reads = own_reads + sum(kid_reads)
    mine = budget.scaled(own_writes / all_writes, own_reads / all_reads)
    theirs = tuple(budget.scaled(w / all_writes, r / all_reads)
                   for w, r in zip(kid_writes, kid_reads, strict=True))
    return Split(mine, theirs)


def _weight(value: float, fans_out: bool) -> float:
    return max(value, MIN_WEIGHT) if fans_out else 0.0


@dataclass(frozen=True)
class Subtree:
    """A repo's predicted subtree when it receives the event: ``runs`` (itself and
    everything below), ``writes`` (dispatches made inside it), ``reads`` (runs
    watched by the fan-outs inside it)."""

    runs: float
    writes: float
    reads: float

    @property
    def fans_out(self) -> bool:
        return self.writes > 0

    def demand(self) -> Demand:
        return Demand(self.writes, self.reads, self.fans_out)


def predict(subscribers: Mapping[str, Iterable[str]], repo: str,
            chain: Iterable[str] = (), max_depth: int = 10) -> Subtree:
    """``repo``'s predicted subtree from the subscription graph (producer → its
    subscribers, lower-case names), refusing what the engine refuses: a repo
    already in the chain (a cycle) and anything deeper than ``max_depth`` levels."""
    graph = {k.lower(): tuple(sorted({v.lower() for v in vs})) for k, vs in subscribers.items()}
    memo: dict[tuple[str, int], Subtree] = {}
    reach: dict[str, frozenset[str]] = {}

    def independent(node: str, path: frozenset[str]) -> bool:
        # A walk below ``node`` that cannot meet ``path`` does not depend on it.
        if node not in reach:
            reach[node] = _reach(graph, node)
        return not (path & reach[node])

    def walk(node: str, path: frozenset[str], left: int) -> Subtree:
        key = (node, left)
        reusable = independent(node, path)
        if reusable and key in memo:
            return memo[key]
        kids = [k for k in graph.get(node, ()) if k not in path] if left > 0 else []
        below = [walk(k, path | {k}, left - 1) for k in kids]
        runs = min(PREDICTION_CAP, 1 + sum(b.runs for b in below))
        writes = min(PREDICTION_CAP, len(kids) + sum(b.writes for b in below))
        watched = runs - 1 if kids else 0
        reads = min(PREDICTION_CAP, watched + sum(b.reads for b in below))
        result = Subtree(runs, writes, reads)
        if reusable:
            memo[key] = result
        return result

    start = repo.lower()
    seen = frozenset(c.lower() for c in chain) | {start}
    return walk(start, seen, max(0, max_depth))


def _reach(graph: Mapping[str, tuple[str, ...]], start: str) -> frozenset[str]:
    """Every repo reachable from ``start`` (to know when a memoised walk may have been
    cut short by a different path)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


def plan_split(budget: Budget, subscribers: Mapping[str, Iterable[str]], this_repo: str,
               targets: Iterable[str], chain: Iterable[str], max_depth: int) -> Split:
    """The split a fan-out from ``this_repo`` makes over ``targets``, each child's
    demand predicted from the graph one level below this one."""
    chain_t = tuple(chain)
    kids = [predict(subscribers, t, (*chain_t, this_repo), max_depth - 1) for t in targets]
    own = Demand(writes=len(kids), reads=sum(k.runs for k in kids))
    return split(budget, own, [k.demand() for k in kids])
