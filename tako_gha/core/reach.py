"""How far an event would reach: the plan of the first fan-out, then, level by level,
the events each target declares it produces (``events.produces``) and whom those
would reach, as ``tako-gha plan`` shows it. Pure: configs in, levels out.

A target fans out again only from its own workflows, which tako cannot read ahead of
time; its ``produces`` list is what it says it sends. Each produced event is planned
with its ``example_payload`` when it declares one, else with the payload unknown
(subscriptions only a payload could decide are counted apart, not guessed). A
repository already on the path from the source is a cycle (refused at run time) and
is not followed; the walk stops at ``max_depth`` levels and at ``max_edges``
planned events, so a large org's plan stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tako_gha.core.config import ConfigResult, RepoConfig
from tako_gha.core.events import Event
from tako_gha.core.matching import Plan, plan_fanout

MAX_EDGES = 1_000  # produced events planned below the first level, at most


@dataclass
class Hop:
    """One target's produced event, planned: whom it would reach next."""

    level: int  # 2 for the first fan-out's targets' events, 3 below them, ...
    source: str
    event_type: str
    path: tuple[str, ...]  # repositories from the origin down to ``source``
    example: bool  # planned with the event's example_payload
    plan: Plan
    cycles: list[str] = field(default_factory=list)  # targets already on the path

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "source": self.source, "event": self.event_type,
                "path": list(self.path), "example_payload": self.example,
                "targets": self.plan.target_repos(),
                "depends_on_payload": [s.repo for s in self.plan.undecided],
                "cycles": self.cycles}


@dataclass
class Reach:
    hops: list[Hop] = field(default_factory=list)
    truncated: bool = False  # stopped at max_depth or MAX_EDGES with more to follow

    def levels(self) -> list[int]:
        return sorted({h.level for h in self.hops})


def _configs_by_repo(configs: Sequence[ConfigResult]) -> dict[str, RepoConfig | None]:
    """Each repository's config by lower-cased name (the first one listed, as the plan
    reads them), built once: the walk looks up every target it reaches."""
    by_repo: dict[str, RepoConfig | None] = {}
    for result in configs:
        by_repo.setdefault(result.repo.lower(), result.config)
    return by_repo


def reach(first: Plan, configs: Sequence[ConfigResult], *, max_depth: int = 10,
          max_edges: int = MAX_EDGES) -> Reach:
    """The levels below ``first`` (the origin's own fan-out, level 1), breadth first."""
    out = Reach()
    config_of = _configs_by_repo(configs)
    frontier = [(t.repo, (first.event.source, t.repo)) for t in first.targets]
    seen: set[tuple[str, str]] = set()
    for level in range(2, max_depth + 1):
        following: list[tuple[str, tuple[str, ...]]] = []
        for repo, path in frontier:
            config = config_of.get(repo.lower())
            for produced in config.produces if config is not None else []:
                key = (repo.lower(), produced.type)
                if key in seen:
                    continue
                if len(out.hops) >= max_edges:
                    out.truncated = True
                    return out
                seen.add(key)
                hop = _hop(level, repo, path, produced.type, produced.example_payload,
                           produced.schema_version, configs, config)
                out.hops.append(hop)
                on_path = {p.lower() for p in path}
                for target in hop.plan.targets:
                    if target.repo.lower() in on_path:
                        hop.cycles.append(target.repo)
                    else:
                        following.append((target.repo, (*path, target.repo)))
        frontier = following
        if not frontier:
            return out
    out.truncated = any((config := config_of.get(repo.lower())) is not None and config.produces
                        for repo, _ in frontier)
    return out


def _hop(level: int, repo: str, path: tuple[str, ...], event_type: str,
         example: dict[str, Any] | None, version: str | None,
         configs: Sequence[ConfigResult], config: RepoConfig) -> Hop:
    event = Event(type=event_type, source=repo, payload=dict(example or {}),
                  schema_version=version)
    plan = plan_fanout(event, configs, source_config=config,
                       payload_known=example is not None)
    return Hop(level, repo, event_type, path, example is not None, plan)
