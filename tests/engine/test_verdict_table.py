"""One verdict: for a dozen trees, ``fan-out``, ``status`` and ``wait`` (asked right
after the fan-out returned, over the same runs) give the same node states and the
same exit code. Failure outranks time; a run cancelled at its root's deadline timed
out wherever the tree is rebuilt; a person's cancel is a cancel; a person's re-run is
reported by its latest attempt; untagged children are seen through the journal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeClock, FakeForge, FakeWorkflow

from tako_gha.core.config import ConfigResult, RepoConfig, Subscription
from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.core.verdict import root_causes
from tako_gha.engine.api import FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.journal import Journal, read
from tako_gha.engine.planning import StaticPlanner, Target
from tako_gha.engine.watch import watch
from tako_gha.forge.base import DiscoveredRepo, Discovery, RepoSelection

OPTS = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 60.0}
OK, FAIL = FakeWorkflow(duration=5), FakeWorkflow(duration=5, conclusion="failure")
SLOW = FakeWorkflow(duration=1000)
EXIT_RUNNING = 4


class TreeForge(FakeForge):
    """Discovery returns the subscriptions of the tree; runs carry their attempt."""

    def __init__(self, clock: FakeClock, workflows: dict[str, list[FakeWorkflow]],
                 subs: dict[str, set[str]]) -> None:
        super().__init__(clock, workflows)
        self.subs = subs

    def discover(self, selection: RepoSelection) -> Discovery:
        names = sorted({"acme/a", *(t for ts in self.subs.values() for t in ts)})
        repos = []
        for name in names:
            subs = [Subscription(producer=p, artifact="default", events=["built"])
                    for p, targets in self.subs.items() if name in targets]
            config = RepoConfig(repo=name, path="tako.yml", subscriptions=subs)
            repos.append(DiscoveredRepo(full_name=name, config=ConfigResult(
                repo=name, path="tako.yml", config=config)))
        return Discovery(org=selection.org, repos=repos)

    def rerun(self, repo: str, workflow: FakeWorkflow) -> None:
        """A person re-runs the repo's (finished) run: same id, attempt 2."""
        run = next(r for r in self.runs if r.repo == repo)
        run.workflow, run.created = workflow, self.clock.t
        run.attempt = 2

    def person_cancels(self, repo: str) -> None:
        self.cancel_run(repo, next(r.id for r in self.runs if r.repo == repo))


@dataclass
class Tree:
    name: str
    children: dict[str, FakeWorkflow]
    exit_code: int
    states: dict[str, NodeState]
    options: dict[str, Any] = field(default_factory=dict)
    grandchildren: dict[str, FakeWorkflow] = field(default_factory=dict)
    at: list[tuple[float, Callable[[TreeForge], None]]] = field(default_factory=list)
    run_name: bool = True


S, F, C, T = NodeState.SUCCESS, NodeState.FAILURE, NodeState.CANCELLED, NodeState.TIMED_OUT
TREES = [
    Tree("all succeed", {"acme/b": OK, "acme/c": OK}, 0, {"acme/b": S, "acme/c": S}),
    Tree("one fails", {"acme/b": OK, "acme/f": FAIL}, 1, {"acme/b": S, "acme/f": F}),
    Tree("failure and a slow node", {"acme/f": FAIL, "acme/s": SLOW}, 1,
         {"acme/f": F, "acme/s": T}),
    Tree("failure and a slow node, cancel on timeout", {"acme/f": FAIL, "acme/s": SLOW}, 1,
         {"acme/f": F, "acme/s": T}, {"cancel_on_timeout": True}),
    Tree("slow only", {"acme/b": OK, "acme/s": SLOW}, 3, {"acme/b": S, "acme/s": T}),
    Tree("slow only, cancel on timeout", {"acme/b": OK, "acme/s": SLOW}, 3,
         {"acme/b": S, "acme/s": T}, {"cancel_on_timeout": True}),
    Tree("cancelled by a person", {"acme/b": OK, "acme/p": FakeWorkflow(duration=30)}, 1,
         {"acme/b": S, "acme/p": C}, at=[(8.0, lambda f: f.person_cancels("acme/p"))]),
    Tree("re-run by a person", {"acme/b": FakeWorkflow(duration=40), "acme/r": FAIL}, 0,
         {"acme/b": S, "acme/r": S}, at=[(12.0, lambda f: f.rerun("acme/r", OK))]),
    Tree("untagged children", {"acme/b": OK, "acme/c": OK}, 0, {"acme/b": S, "acme/c": S},
         run_name=False),
    Tree("untagged: failure and a slow node, cancel on timeout",
         {"acme/f": FAIL, "acme/s": SLOW}, 1, {"acme/f": F, "acme/s": T},
         {"cancel_on_timeout": True}, run_name=False),
    # Polls at 0, 7, 14, …; the run ends at 18.5, the deadline is at 20: one last look.
    Tree("ends between the last poll and the deadline",
         {"acme/b": FakeWorkflow(queue=0.5, duration=18)}, 0, {"acme/b": S},
         {"timeout": 20.0, "poll_min_interval": 7.0, "poll_max_interval": 7.0,
          "sibling_grace": 0.5}),
    Tree("a grandchild fails", {"acme/m": FakeWorkflow(duration=2, fan_out=[("acme/g", "built")]),
                                "acme/b": OK}, 1,
         {"acme/m": F, "acme/g": F, "acme/b": S}, grandchildren={"acme/g": FAIL}),
    Tree("a grandchild hangs, cancel on timeout",
         {"acme/m": FakeWorkflow(duration=2, fan_out=[("acme/g", "built")]), "acme/b": OK}, 3,
         {"acme/m": T, "acme/g": T, "acme/b": S}, {"cancel_on_timeout": True},
         grandchildren={"acme/g": FakeWorkflow(hang=True)}),
]


def _states(report: TreeReport) -> dict[str, NodeState]:
    return {n.repo: n.state for n in report.origin.walk() if n is not report.origin}


def _exit(report: TreeReport, *, status: bool = False) -> int:
    if status and report.status is TreeStatus.RUNNING:
        return EXIT_RUNNING
    return report.status.exit_code


@pytest.mark.parametrize("tree", TREES, ids=[t.name for t in TREES])
def test_fan_out_status_and_wait_agree(tree: Tree, tmp_path: Path) -> None:
    clock = FakeClock()
    flows = {repo: [replace(wf, run_name=tree.run_name)]
             for repo, wf in {**tree.children, **tree.grandchildren}.items()}
    subs = {"acme/a": set(tree.children)}
    for repo, wf in tree.children.items():
        if wf.fan_out:
            subs[repo] = {t for t, _ in wf.fan_out}
    forge = TreeForge(clock, flows, subs)
    for when, action in tree.at:
        forge.at(when, lambda action=action: action(forge))
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    options = FanOutOptions(**{**OPTS, **tree.options})
    planner = StaticPlanner([Target(r) for r in tree.children], subs)
    sent = fan_out(forge, FanOutRequest(event=Event("built", "acme/a"), org="acme"),
                   options, planner=planner, clock=clock, journal=journal)
    journal.close()
    local = read(path, sent.root)
    asked = FanOutOptions(**{**OPTS, "wait": False})
    status = watch(forge, sent.root, "acme", asked, clock=clock, journal=local)
    waited = watch(forge, sent.root, "acme", replace(asked, wait=True), clock=clock,
                   journal=local)
    assert _states(sent) == tree.states
    assert _states(status) == tree.states
    assert _states(waited) == tree.states
    assert _exit(sent) == _exit(status, status=True) == _exit(waited) == tree.exit_code
    failed = [n.repo for n in root_causes(sent.origin)]
    assert failed == [n.repo for n in root_causes(status.origin)]
    if tree.name == "a grandchild fails":
        assert failed == ["acme/g"]  # the root cause once; acme/m only carries it up
    if tree.name == "re-run by a person":
        node = next(n for n in status.origin.walk() if n.repo == "acme/r")
        assert node.runs[0].attempt == 2 and node.to_json()["run_attempt"] == 2
        seen = next(n for n in sent.origin.walk() if n.repo == "acme/r").runs[0]
        # the fan-out saw attempt 1 fail before the person's re-run: its reports say so
        assert seen.label() == f"attempt 2 of run {seen.run_id} (attempt 1: failure)"
