"""watch / cancel_tree: the tree rebuilt from run titles alone."""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeForge, FakeWorkflow

from tako_gha.core.config import ConfigResult, RepoConfig, Subscription
from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState, TreeStatus
from tako_gha.engine.api import FanOutOptions, FanOutRequest
from tako_gha.engine.errors import FanOutError, TreeNotFoundError
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.planning import StaticPlanner, Target
from tako_gha.engine.watch import cancel_tree, watch
from tako_gha.forge.base import DiscoveredRepo, Discovery, RepoSelection

OPTS = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0}
SUBS = {"acme/a": {"acme/b", "acme/c"}, "acme/b": {"acme/d"}}


class OrgForge(FakeForge):
    """A fake whose discovery returns configs with the subscriptions above."""

    def discover(self, selection: RepoSelection) -> Discovery:
        self.calls["discover"] += 1
        repos = []
        for name in ("acme/a", "acme/b", "acme/c", "acme/d"):
            subs = [Subscription(producer=p, artifact="default", events=["built"])
                    for p, targets in SUBS.items() if name in targets]
            config = ConfigResult(repo=name, path="tako.yml",
                                  config=RepoConfig(repo=name, path="tako.yml",
                                                    subscriptions=subs))
            repos.append(DiscoveredRepo(full_name=name, config=config))
        return Discovery(org=selection.org, repos=repos)


def _start(hang: bool = False) -> tuple[OrgForge, FakeClock, str]:
    clock = FakeClock()
    forge = OrgForge(clock, {
        "acme/b": [FakeWorkflow(fan_out=[("acme/d", "built")], duration=10)],
        "acme/c": [FakeWorkflow(duration=20, hang=hang)],
        "acme/d": [FakeWorkflow(duration=30)],
    })
    request = FanOutRequest(event=Event("built", "acme/a"), org="acme")
    planner = StaticPlanner([Target("acme/b"), Target("acme/c")], SUBS)
    report = fan_out(forge, request, FanOutOptions(wait=False, **OPTS), planner=planner,
                     clock=clock)
    return forge, clock, report.root


def test_watch_rebuilds_the_same_tree_from_titles() -> None:
    forge, clock, root = _start()
    later = watch(forge, root, "acme", FanOutOptions(wait=True, **OPTS), clock=clock)
    assert later.status is TreeStatus.SUCCESS
    assert later.origin.repo == "acme/a" and later.origin.id == root
    shape = [(n.repo, n.depth, n.state) for n in later.origin.walk()][1:]
    assert shape == [("acme/b", 1, NodeState.SUCCESS), ("acme/d", 2, NodeState.SUCCESS),
                     ("acme/c", 1, NodeState.SUCCESS)]
    # The same tree the origin would have waited for.
    clock2 = FakeClock()
    forge2 = OrgForge(clock2, {k: v for k, v in forge.workflows.items()})
    waited = fan_out(forge2, FanOutRequest(event=Event("built", "acme/a"), org="acme"),
                     FanOutOptions(**OPTS), planner=StaticPlanner(
                         [Target("acme/b"), Target("acme/c")], SUBS), clock=clock2)
    assert [(n.repo, n.state) for n in waited.origin.walk()][1:] == \
        [(r, s) for r, _, s in shape]


def test_a_rebuilt_tree_reports_the_cascade_duration_not_the_check() -> None:
    # d (b's child, started by b at its start) runs 30 s, the longest: the cascade
    # spans a little over 30 s of run time however late `status` looks, and never
    # the 0 s the check took.
    forge, clock, root = _start()
    clock.sleep(3600)
    later = watch(forge, root, "acme", FanOutOptions(wait=False, **OPTS), clock=clock)
    assert later.status is TreeStatus.SUCCESS
    assert 30 <= later.elapsed_seconds <= 60, later.elapsed_seconds


def test_watch_without_wait_shows_the_tree_now() -> None:
    forge, clock, root = _start()
    clock.sleep(3)
    now = watch(forge, root, "acme", FanOutOptions(wait=False, **OPTS), clock=clock)
    assert now.status is TreeStatus.RUNNING
    assert {n.repo for n in now.origin.children} == {"acme/b", "acme/c"}


def test_watch_times_out_with_partial_tree() -> None:
    forge, clock, root = _start(hang=True)
    report = watch(forge, root, "acme", FanOutOptions(wait=True, timeout=100, **OPTS),
                   clock=clock)
    assert report.status is TreeStatus.TIMED_OUT
    states = {n.repo: n.state for n in report.origin.walk()}
    assert states["acme/c"] is NodeState.TIMED_OUT and states["acme/d"] is NodeState.SUCCESS


def test_unknown_root_is_a_clear_error() -> None:
    forge, clock, _ = _start()
    with pytest.raises(TreeNotFoundError, match="carries root"):
        watch(forge, "0" * 12, "acme", FanOutOptions(wait=False, **OPTS), clock=clock)
    with pytest.raises(FanOutError, match="not a tako root id"):
        watch(forge, "main", "acme", FanOutOptions(wait=False, **OPTS), clock=clock)


def test_cancel_tree_cancels_every_running_run() -> None:
    forge, clock, root = _start(hang=True)
    clock.sleep(3)
    cancelled = cancel_tree(forge, root, "acme", clock=clock)
    assert sorted(repo for repo, _ in cancelled) == ["acme/b", "acme/c", "acme/d"]
    report = watch(forge, root, "acme", FanOutOptions(wait=True, **OPTS), clock=clock)
    assert all(n.state is NodeState.CANCELLED for n in report.origin.walk()
               if n is not report.origin)
    assert report.status is TreeStatus.FAILURE


def test_waiting_lists_only_where_the_trees_runs_can_appear() -> None:
    # acme/z subscribes to another producer: once the titles named the origin
    # (acme/a), a wait no longer lists it every round; the known runs' states come
    # in batches, so b, c and d are not listed round after round either.
    class WiderOrg(OrgForge):
        def discover(self, selection: RepoSelection) -> Discovery:
            found = super().discover(selection)
            sub = Subscription(producer="acme/other", artifact="default", events=["built"])
            found.repos.append(DiscoveredRepo(full_name="acme/z", config=ConfigResult(
                repo="acme/z", path="tako.yml", config=RepoConfig(
                    repo="acme/z", path="tako.yml", subscriptions=[sub]))))
            return found

    clock = FakeClock()
    forge = WiderOrg(clock, {
        "acme/b": [FakeWorkflow(fan_out=[("acme/d", "built")], duration=10)],
        "acme/c": [FakeWorkflow(duration=200)], "acme/d": [FakeWorkflow(duration=30)]})
    request = FanOutRequest(event=Event("built", "acme/a"), org="acme")
    planner = StaticPlanner([Target("acme/b"), Target("acme/c")], SUBS)
    root = fan_out(forge, request, FanOutOptions(wait=False, **OPTS), planner=planner,
                   clock=clock).root
    clock.sleep(5)
    forge.list_calls_by_repo.clear()
    report = watch(forge, root, "acme", FanOutOptions(wait=True, **OPTS), clock=clock)
    assert report.status is TreeStatus.SUCCESS
    listed = forge.list_calls_by_repo
    assert listed["acme/z"] <= 2, listed
    assert listed["acme/c"] <= 3, listed  # found in the first round, then batches
    assert forge.calls["run_states"] >= 150 / 8 * 0.8


def test_watch_reads_a_levels_report_as_the_fan_out_does() -> None:
    # `status` and `wait` follow a tree the way its root does: a child's report names
    # the runs below it (here b's: d), read once its run ends.
    from test_engine_reports import ReportingForge

    class ReportingOrgForge(OrgForge, ReportingForge):
        pass

    forge, clock, root = _start()
    forge.__class__ = ReportingOrgForge
    forge.reporters, forge.asked = {"acme/b"}, []  # type: ignore[attr-defined]
    later = watch(forge, root, "acme", FanOutOptions(wait=True, **OPTS), clock=clock)
    assert later.status is TreeStatus.SUCCESS
    assert [a[0] for a in forge.asked] == ["acme/b"]  # type: ignore[attr-defined]
    shape = [(n.repo, n.depth, n.state) for n in later.origin.walk()][1:]
    assert shape == [("acme/b", 1, NodeState.SUCCESS), ("acme/d", 2, NodeState.SUCCESS),
                     ("acme/c", 1, NodeState.SUCCESS)]
