"""fan_out on the in-memory forge: every state and option in docs/protocol.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fakes import EPOCH, FakeClock, FakeForge, FakeWorkflow, max_overlap

from tako_gha.core.events import Event
from tako_gha.core.ids import dispatch_id, is_id, parse_title
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest
from tako_gha.engine.errors import FanOutError
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.planning import StaticPlanner, Target
from tako_gha.forge.base import AmbiguousDispatchError, AuthError, ValidationError

SOURCE = "acme/a"
FAST = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 600.0}


class Recorder:
    def __init__(self) -> None:
        self.updates: list[TreeReport] = []
        self.messages: list[str] = []

    def on_update(self, report: TreeReport) -> None:
        self.updates.append(report)

    def on_message(self, text: str) -> None:
        self.messages.append(text)


def run(forge: FakeForge, clock: FakeClock, repos: list[str], *,
        subscribers: dict[str, set[str]] | None = None, context: CascadeContext | None = None,
        observer: Any = None, payload: dict | None = None, workflow: dict | None = None,
        **opts: Any) -> TreeReport:
    options = FanOutOptions(**{**FAST, **opts})
    targets = [Target(r, inputs={"v": "1"}, workflow=(workflow or {}).get(r)) for r in repos]
    source = context.chain[-1] if context else SOURCE
    request = FanOutRequest(event=Event("built", source, payload or {"version": "2.0.0"}),
                            org="acme", context=context)
    planner = StaticPlanner(targets, subscribers or {})
    return fan_out(forge, request, options, observer, planner=planner, clock=clock)


def world(**repos: list[FakeWorkflow]) -> tuple[FakeForge, FakeClock]:
    clock = FakeClock()
    return FakeForge(clock, {f"acme/{k}": v for k, v in repos.items()}), clock


def child(report: TreeReport, repo: str):
    return next(n for n in report.origin.walk() if n.repo == repo and n is not report.origin)


def test_simple_one_to_two_succeeds_with_strict_correlation() -> None:
    forge, clock = world(b=[FakeWorkflow()], c=[FakeWorkflow()])
    recorder = Recorder()
    report = run(forge, clock, ["acme/b", "acme/c"], observer=recorder)
    assert report.status is TreeStatus.SUCCESS and report.status.exit_code == 0
    assert is_id(report.root)
    assert [n.repo for n in report.origin.children] == ["acme/b", "acme/c"]
    for node in report.origin.children:
        assert node.state is NodeState.SUCCESS
        assert node.correlation == "strict"
        assert node.id == dispatch_id(report.root, None, node.repo, "built")
        assert len(node.runs) == 1
    assert forge.calls["dispatch"] == 2
    assert report.origin.repo == SOURCE and report.origin.id == report.root
    assert report.origin.state is NodeState.SUCCESS
    assert recorder.updates and recorder.updates[-1].status is TreeStatus.SUCCESS
    assert any("dispatched built to acme/b" in m for m in recorder.messages)


def test_client_payload_follows_the_protocol() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    report = run(forge, clock, ["acme/b"])
    repo, event_type, payload = forge.dispatches[0]
    assert (repo, event_type) == ("acme/b", "built")
    assert set(payload) == {"event", "inputs", "tako"}
    assert payload["event"] == {"type": "built", "schema_version": None, "source": SOURCE,
                                "payload": {"version": "2.0.0"}}
    assert payload["inputs"] == {"v": "1"}
    tako = payload["tako"]
    node = report.origin.children[0]
    assert tako["root"] == report.root and tako["parent"] is None and tako["id"] == node.id
    assert tako["depth"] == 1 and tako["chain"] == [SOURCE, "acme/b"]
    assert tako["deadline"] == (EPOCH + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tag = parse_title(tako["title"])
    assert tag is not None and (tag.root, tag.parent, tag.id) == (report.root, None, node.id)


def test_no_listening_workflow_is_not_started_with_hint() -> None:
    forge, clock = world(b=[FakeWorkflow(types=["other"])])
    report = run(forge, clock, ["acme/b"])
    node = report.origin.children[0]
    assert node.state is NodeState.NOT_STARTED
    assert node.hint == ("acme/b may have no workflow listening for "
                         "repository_dispatch type built on its default branch "
                         "(tako-gha lint in its checkout checks)")
    assert report.status is TreeStatus.FAILURE and report.status.exit_code == 1
    # The decision came after a listing made past the discovery deadline.
    assert clock.t >= FAST["discovery_timeout"]


def test_receiver_without_run_name_is_found_heuristically() -> None:
    forge, clock = world(b=[FakeWorkflow(run_name=False)])
    report = run(forge, clock, ["acme/b"])
    node = report.origin.children[0]
    assert node.state is NodeState.SUCCESS
    assert node.correlation == "heuristic" and node.runs[0].correlation == "heuristic"


def test_heuristic_respects_the_subscription_workflow_file() -> None:
    forge, clock = world(b=[FakeWorkflow(path=".github/workflows/other.yml", run_name=False),
                            FakeWorkflow(path=".github/workflows/rebuild.yml", run_name=False)])
    report = run(forge, clock, ["acme/b"], workflow={"acme/b": "rebuild.yml"})
    node = report.origin.children[0]
    assert [r.workflow for r in node.runs] == [".github/workflows/rebuild.yml"]


def test_several_workflows_give_several_runs_and_any_failure_fails_the_node() -> None:
    forge, clock = world(b=[FakeWorkflow(path=".github/workflows/x.yml"),
                            FakeWorkflow(path=".github/workflows/y.yml", conclusion="failure",
                                         annotation="tests failed in y")])
    report = run(forge, clock, ["acme/b"])
    node = report.origin.children[0]
    assert len(node.runs) == 2
    assert node.state is NodeState.FAILURE
    assert node.reason == "tests failed in y"
    assert node.to_json()["runs"][1]["workflow"] == ".github/workflows/y.yml"


@pytest.mark.parametrize(("annotation", "reason", "log_read"), [
    # the runner's generic annotation only says it failed: the log's last lines say why
    ("Process completed with exit code 2.", "Process completed with exit code 2. Last "
     "lines of its log: building ⏎ error: tako.yml not found", True),
    (None, "Last lines of its log: building ⏎ error: tako.yml not found", True),
    # an annotation that says why is enough: the log is not read
    ("tests failed in y", "tests failed in y", False),
])
def test_a_failure_without_a_telling_annotation_adds_its_log_tail(
        annotation: str | None, reason: str, log_read: bool) -> None:
    forge, clock = world(b=[FakeWorkflow(conclusion="failure", annotation=annotation,
                                         log_tail=["building", "error: tako.yml not found"])])
    report = run(forge, clock, ["acme/b"])
    node = report.origin.children[0]
    assert node.state is NodeState.FAILURE
    assert node.reason == reason
    assert (forge.log_tail_calls > 0) is log_read


def test_grandchildren_appear_in_the_root_tree_with_reasons() -> None:
    forge, clock = world(
        b=[FakeWorkflow(fan_out=[("acme/c", "built")])],
        c=[FakeWorkflow(fan_out=[("acme/d", "built")], conclusion="failure",
                        annotation="acme/d failed: acme/c → acme/d")],
        d=[FakeWorkflow(conclusion="failure")],
    )
    subs = {"acme/a": {"acme/b"}, "acme/b": {"acme/c"}, "acme/c": {"acme/d"}}
    report = run(forge, clock, ["acme/b"], subscribers=subs)
    b = report.origin.children[0]
    c = b.children[0]
    d = c.children[0]
    assert (b.repo, c.repo, d.repo) == ("acme/b", "acme/c", "acme/d")
    assert (b.depth, c.depth, d.depth) == (1, 2, 3)
    assert d.state is NodeState.FAILURE and c.state is NodeState.FAILURE
    assert c.reason == "acme/d failed: acme/c → acme/d"
    assert b.state is NodeState.FAILURE
    assert b.reason == "acme/c ended failure: acme/b → acme/c"
    assert report.status is TreeStatus.FAILURE
    assert c.id == dispatch_id(report.root, b.id, "acme/c", "built")


def test_deep_sync_waits_for_every_level() -> None:
    forge, clock = world(
        b=[FakeWorkflow(fan_out=[("acme/c", "built")], duration=1)],
        c=[FakeWorkflow(fan_out=[("acme/d", "built")], duration=1)],
        d=[FakeWorkflow(duration=50)],
    )
    subs = {"acme/a": {"acme/b"}, "acme/b": {"acme/c"}, "acme/c": {"acme/d"}}
    report = run(forge, clock, ["acme/b"], subscribers=subs)
    states = [n.state for n in report.origin.walk()][1:]
    assert states == [NodeState.SUCCESS] * 3
    assert clock.t >= 50


def test_timeout_gives_a_partial_tree_and_exit_3() -> None:
    forge, clock = world(b=[FakeWorkflow(hang=True)], c=[FakeWorkflow()])
    report = run(forge, clock, ["acme/b", "acme/c"], timeout=60)
    assert report.status is TreeStatus.TIMED_OUT and report.status.exit_code == 3
    assert child(report, "acme/c").state is NodeState.SUCCESS
    b = child(report, "acme/b")
    assert b.state is NodeState.TIMED_OUT and "timed out" in (b.reason or "")
    assert forge.calls["cancel_run"] == 0
    assert 60 <= clock.t < 70


def test_cancel_on_timeout_cancels_the_subtree() -> None:
    forge, clock = world(b=[FakeWorkflow(fan_out=[("acme/c", "built")])],
                         c=[FakeWorkflow(hang=True)])
    report = run(forge, clock, ["acme/b"], subscribers={"acme/b": {"acme/c"}}, timeout=60,
                 cancel_on_timeout=True)
    assert report.status is TreeStatus.TIMED_OUT
    b = child(report, "acme/b")
    c = child(report, "acme/c")
    # Our cancel at the deadline, not a person's: timed_out with the reason; the runs'
    # conclusion stays cancelled. The origin carries the cascade's state.
    for node in (b, c):
        assert node.state is NodeState.TIMED_OUT and node.conclusion == "cancelled"
        assert node.reason == "cancelled when the 1m timeout passed", node.reason
    assert report.origin.state is NodeState.TIMED_OUT
    assert report.failed_nodes() == [b, c]
    assert forge.run_by_id(c.runs[0].run_id).status(clock.t) == ("completed", "cancelled")


def test_a_run_a_person_cancelled_stays_cancelled_and_fails_the_origin() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=50)], c=[FakeWorkflow()])
    forge.at(10, lambda: forge.run_by_id(101).__setattr__("cancelled_at", 10.0))
    report = run(forge, clock, ["acme/b", "acme/c"], timeout=60, cancel_on_timeout=True)
    b = child(report, "acme/b")
    assert b.state is NodeState.CANCELLED and b.reason is None
    assert report.status is TreeStatus.FAILURE and report.origin.state is NodeState.FAILURE
    assert report.failed_nodes() == [b]


def test_the_root_deadline_names_itself_when_it_cancels() -> None:
    forge, clock = world(b=[FakeWorkflow(hang=True)])
    ctx = CascadeContext(root="ab" * 6, parent="cd" * 6, depth=2, chain=("acme/x", "acme/a"),
                         deadline=EPOCH + timedelta(seconds=40))
    report = run(forge, clock, ["acme/b"], context=ctx, timeout=600, cancel_on_timeout=True)
    node = child(report, "acme/b")
    assert node.state is NodeState.TIMED_OUT and node.conclusion == "cancelled"
    assert (node.reason or "").startswith("cancelled when the root's deadline"), node.reason


def test_inherited_deadline_is_never_outlived() -> None:
    forge, clock = world(b=[FakeWorkflow(hang=True)])
    ctx = CascadeContext(root="ab" * 6, parent="cd" * 6, depth=2, chain=("acme/x", "acme/a"),
                         deadline=EPOCH + timedelta(seconds=40))
    report = run(forge, clock, ["acme/b"], context=ctx, timeout=600)
    assert report.status is TreeStatus.TIMED_OUT
    assert 40 <= clock.t < 50
    assert forge.dispatches[0][2]["tako"]["deadline"] == "2026-11-25T10:00:40Z"


def test_fail_fast_cancels_the_rest() -> None:
    forge, clock = world(b=[FakeWorkflow(conclusion="failure", duration=2)],
                         c=[FakeWorkflow(duration=100)], d=[FakeWorkflow()])
    report = run(forge, clock, ["acme/b", "acme/c", "acme/d"], fail_fast=True,
                 concurrency_limit=2)
    assert report.status is TreeStatus.FAILURE
    assert child(report, "acme/b").state is NodeState.FAILURE
    assert child(report, "acme/c").state is NodeState.CANCELLED
    d = child(report, "acme/d")
    assert d.state is NodeState.SKIPPED and "fail_fast" in (d.reason or "")
    assert forge.dispatched_to("acme/d") == 0
    assert clock.t < 60


def test_concurrency_limit_bounds_children_in_flight() -> None:
    names = [f"r{i}" for i in range(10)]
    forge, clock = world(**{n: [FakeWorkflow(duration=10)] for n in names})
    repos = [f"acme/{n}" for n in names]
    report = run(forge, clock, repos, concurrency_limit=2)
    assert report.status is TreeStatus.SUCCESS
    assert max_overlap(forge.intervals(repos)) == 2
    assert forge.calls["dispatch"] == 10


def test_dispatches_are_paced() -> None:
    names = [f"r{i}" for i in range(7)]
    forge, clock = world(**{n: [FakeWorkflow(duration=1)] for n in names})
    report = run(forge, clock, [f"acme/{n}" for n in names], dispatches_per_minute=3,
                 timeout=3600)
    assert report.status is TreeStatus.SUCCESS
    starts = sorted(r.created for r in forge.runs)
    for i in range(3, len(starts)):
        assert starts[i] - starts[i - 3] >= 60 - 1e-9


def test_max_children_refuses_before_any_dispatch() -> None:
    forge, clock = world(b=[FakeWorkflow()], c=[FakeWorkflow()], d=[FakeWorkflow()])
    with pytest.raises(FanOutError) as err:
        run(forge, clock, ["acme/b", "acme/c", "acme/d"], max_children=2)
    assert "max_children (2)" in err.value.message and "--max-children" in err.value.hint
    assert forge.calls["dispatch"] == 0 and forge.calls["preflight"] == 0


def test_preflight_failure_raises_before_dispatch() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    forge.preflight_error = AuthError("token cannot dispatch", hint="use a PAT")
    with pytest.raises(AuthError):
        run(forge, clock, ["acme/b"])
    assert forge.calls["dispatch"] == 0


def test_oversize_payload_is_an_error_node_not_a_422() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    report = run(forge, clock, ["acme/b"], payload={"blob": "x" * 70_000})
    node = report.origin.children[0]
    assert node.state is NodeState.ERROR
    assert "64 KB" in (node.reason or "") and node.hint
    assert forge.calls["dispatch"] == 0


def test_refused_dispatch_is_an_error_with_hint() -> None:
    forge, clock = world(b=[FakeWorkflow()], c=[FakeWorkflow()])
    forge.refuse["acme/b"] = ValidationError("422 Validation failed", hint="check event_type",
                                             status=422)
    report = run(forge, clock, ["acme/b", "acme/c"])
    b = child(report, "acme/b")
    assert b.state is NodeState.ERROR and "422" in (b.reason or "")
    assert b.hint == "check event_type"
    assert child(report, "acme/c").state is NodeState.SUCCESS
    assert report.status is TreeStatus.FAILURE


def test_ambiguous_failure_after_the_run_exists_is_not_resent() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    forge.ambiguous_after_create.add("acme/b")
    forge.appear_delay["acme/b"] = 8.0
    report = run(forge, clock, ["acme/b"], redispatch_grace=20)
    assert report.status is TreeStatus.SUCCESS
    assert forge.calls["dispatch"] == 1 and len(forge.runs) == 1
    assert report.cost["engine"]["redispatched"] == 0


def test_ambiguous_failure_before_delivery_is_resent_once() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    forge.ambiguous_before_create.add("acme/b")
    report = run(forge, clock, ["acme/b"], redispatch_grace=10)
    node = report.origin.children[0]
    assert node.state is NodeState.SUCCESS
    assert forge.calls["dispatch"] == 2 and len(forge.runs) == 1
    assert "re-sent once" in (node.reason or "")
    # It says how long it looked (the grace), not the time since the re-send (0s).
    assert "appeared within 10s" in (node.reason or ""), node.reason
    assert report.cost["engine"]["redispatched"] == 1
    # Same deterministic id both times.
    assert forge.dispatches[0][2]["tako"]["id"] == node.id


def test_two_lost_answers_are_not_called_no_listener() -> None:
    """Two 502s on one dispatch: the node is not_started, and its hint says the
    dispatch was never confirmed, not that no workflow listens (one does)."""
    forge, clock = world(b=[FakeWorkflow()])
    forge.faults[("dispatch", "acme/b")] = AmbiguousDispatchError("502 Bad Gateway",
                                                                  status=502)
    report = run(forge, clock, ["acme/b"], redispatch_grace=5)
    node = child(report, "acme/b")
    assert forge.calls["dispatch"] == 2 and not forge.runs
    assert node.state is NodeState.NOT_STARTED
    assert "never confirmed it: sent 2 times, answered HTTP 502, HTTP 502" in (node.reason or "")
    assert "listens" not in (node.hint or "") and "not delivered" in (node.hint or "")


def test_a_tag_shaped_event_type_is_refused_before_anything_is_sent() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    forged = "built [tako:0123456789ab:-:0123456789ab]"
    request = FanOutRequest(event=Event(forged, SOURCE, {}), org="acme")
    planner = StaticPlanner([Target("acme/b")], {})
    with pytest.raises(FanOutError, match=r"contains '\[tako:'") as info:
        fan_out(forge, request, FanOutOptions(**FAST), planner=planner, clock=clock)
    assert "without '[tako:'" in info.value.hint
    assert forge.calls["dispatch"] == 0 and forge.calls["preflight"] == 0


def test_cycle_is_refused_before_dispatch_with_the_path() -> None:
    forge, clock = world(a=[FakeWorkflow()], c=[FakeWorkflow()])
    ctx = CascadeContext(root="ab" * 6, parent="cd" * 6, depth=2, chain=("acme/a", "acme/b"),
                         deadline=None)
    report = run(forge, clock, ["acme/a", "acme/c"], context=ctx)
    a = child(report, "acme/a")
    assert a.state is NodeState.CYCLE
    assert a.reason == "cycle: acme/a → acme/b → acme/a"
    assert forge.dispatched_to("acme/a") == 0
    assert child(report, "acme/c").state is NodeState.SUCCESS
    assert report.status is TreeStatus.FAILURE
    assert report.origin.id == "cd" * 6 and report.origin.repo == "acme/b"


def test_max_depth_refuses_deeper_dispatches_and_warns_early() -> None:
    forge, clock = world(c=[FakeWorkflow()])
    ctx = CascadeContext(root="ab" * 6, parent="cd" * 6, depth=4, chain=("acme/a", "acme/b"),
                         deadline=None)
    report = run(forge, clock, ["acme/c"], context=ctx, max_depth=3)
    assert child(report, "acme/c").state is NodeState.DEPTH_EXCEEDED
    assert forge.calls["dispatch"] == 0
    recorder = Recorder()
    forge2, clock2 = world(c=[FakeWorkflow()])
    ctx3 = CascadeContext(root="ab" * 6, parent="cd" * 6, depth=3, chain=("acme/a", "acme/b"),
                          deadline=None)
    report = run(forge2, clock2, ["acme/c"], context=ctx3, max_depth=3, depth_warning=3,
                 observer=recorder)
    assert child(report, "acme/c").state is NodeState.SUCCESS
    assert any("depth 3" in m for m in recorder.messages)


def test_dedupe_root_skips_a_repo_that_already_ran_for_the_root() -> None:
    forge, clock = world(d=[FakeWorkflow(duration=100)])
    root = "ab" * 6
    # Another branch of the diamond (parent C) already dispatched to D.
    other = dispatch_id(root, "ef" * 6, "acme/d", "built")
    from tako_gha.core.ids import TitleTag, make_title

    forge._create("acme/d", "built", {"tako": {"root": root, "id": other, "title": make_title(
        "built", "acme/c", TitleTag(root, "ef" * 6, other))}}, 0.0)
    ctx = CascadeContext(root=root, parent="cd" * 6, depth=2, chain=("acme/a", "acme/b"),
                         deadline=None)
    report = run(forge, clock, ["acme/d"], context=ctx, dedupe="root")
    d = child(report, "acme/d")
    assert d.state is NodeState.DEDUPLICATED and d.duplicate_of == other
    assert forge.calls["dispatch"] == 0
    assert report.status is TreeStatus.SUCCESS
    # Without dedupe the diamond runs D twice.
    report = run(forge, clock, ["acme/d"], context=ctx)
    assert child(report, "acme/d").state is NodeState.SUCCESS
    assert forge.calls["dispatch"] == 1


def test_dedupe_root_race_the_later_run_is_cancelled() -> None:
    forge, clock = world(d=[FakeWorkflow(duration=30)])
    root = "ab" * 6
    ctx = CascadeContext(root=root, parent="cd" * 6, depth=2, chain=("acme/a", "acme/b"),
                         deadline=None)
    from tako_gha.core.ids import TitleTag, make_title

    other = dispatch_id(root, "ef" * 6, "acme/d", "built")
    payload = {"tako": {"root": root, "id": other, "title": make_title(
        "built", "acme/c", TitleTag(root, "ef" * 6, other))}}
    real_dispatch = forge.dispatch

    def racing_dispatch(repo: str, event_type: str, client_payload: dict) -> None:
        # C's dispatch lands just before ours, after our pre-check listing.
        forge._create("acme/d", "built", payload, clock.t)
        real_dispatch(repo, event_type, client_payload)

    forge.dispatch = racing_dispatch  # type: ignore[method-assign]
    report = run(forge, clock, ["acme/d"], context=ctx, dedupe="root")
    d = child(report, "acme/d")
    assert d.state is NodeState.DEDUPLICATED and d.duplicate_of == other
    mine = forge.run_by_id(d.runs[0].run_id)
    assert mine.cancelled_at is not None
    assert report.status is TreeStatus.SUCCESS


def test_resumed_fan_out_adopts_its_existing_run() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=3)])
    ctx = CascadeContext(root="ab" * 6, parent="cd" * 6, depth=2, chain=("acme/x", "acme/a"),
                         deadline=None)
    first = run(forge, clock, ["acme/b"], context=ctx)
    assert forge.calls["dispatch"] == 1
    again = run(forge, clock, ["acme/b"], context=ctx)
    assert forge.calls["dispatch"] == 1
    assert again.origin.children[0].runs[0].run_id == first.origin.children[0].runs[0].run_id
    assert again.cost["engine"]["adopted"] == 1


def test_fire_and_forget_returns_after_paced_dispatch() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=100)], c=[FakeWorkflow(duration=100)])
    report = run(forge, clock, ["acme/b", "acme/c"], wait=False)
    assert report.status is TreeStatus.RUNNING and report.status.exit_code == 0
    assert [n.state for n in report.origin.children] == [NodeState.DISPATCHED] * 2
    assert forge.calls["dispatch"] == 2 and clock.t < 5
    assert report.origin.state is NodeState.IN_PROGRESS  # the cascade goes on


def test_dry_run_dispatches_nothing() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    recorder = Recorder()
    report = run(forge, clock, ["acme/b"], dry_run=True, observer=recorder)
    assert report.origin.children[0].state is NodeState.PLANNED
    assert forge.calls["dispatch"] == 0 and forge.calls["preflight"] == 0
    # Nothing is sent and nothing awaited: the result is final, not "running".
    assert report.status is TreeStatus.SUCCESS and report.status.exit_code == 0
    assert report.origin.state is NodeState.SUCCESS
    assert any(m.startswith("dry run: nothing was dispatched; a real run would send 1")
               for m in recorder.messages)


def test_dry_run_with_a_dispatch_github_would_refuse_fails() -> None:
    # One oversize payload among valid ones: the root used to stay "running" (exit 0)
    # because the valid nodes were still planned.
    forge, clock = world(b=[FakeWorkflow()], c=[FakeWorkflow()])
    targets = [Target("acme/b", inputs={"v": "1"}), Target("acme/c", inputs={"v": "x" * 70_000})]
    request = FanOutRequest(event=Event("built", SOURCE, {}), org="acme")
    recorder = Recorder()
    report = fan_out(forge, request, FanOutOptions(**FAST, dry_run=True), recorder,
                     planner=StaticPlanner(targets, {}), clock=clock)
    assert [n.state for n in report.origin.children] == [NodeState.PLANNED, NodeState.ERROR]
    assert report.status is TreeStatus.FAILURE and report.status.exit_code == 1
    assert any("would send 1 dispatch(es) and refuse 1" in m for m in recorder.messages)
    assert forge.calls["dispatch"] == 0


def test_one_listing_per_repo_per_round_and_304s_when_quiet() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=200)], c=[FakeWorkflow(duration=200)])
    report = run(forge, clock, ["acme/b", "acme/c"], poll_max_interval=20)
    assert report.status is TreeStatus.SUCCESS
    engine = report.cost["engine"]
    assert engine["list_calls"] == forge.calls["list_runs"]
    assert engine["list_calls"] <= 2 * engine["poll_rounds"]
    assert engine["list_not_modified"] >= engine["list_calls"] // 2
    # Quiet: the interval grew to the maximum instead of polling every second.
    assert engine["poll_rounds"] < 40
    assert forge.calls["get_run"] == 0


def test_bad_options_are_refused() -> None:
    forge, clock = world(b=[FakeWorkflow()])
    with pytest.raises(FanOutError, match="concurrency_limit"):
        run(forge, clock, ["acme/b"], concurrency_limit=0)
    with pytest.raises(FanOutError, match="dedupe"):
        run(forge, clock, ["acme/b"], dedupe="sometimes")


def test_low_budget_slows_polling() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=300)])
    forge.ledger.budget(100, 5000)  # below the 10 % reserve
    report = run(forge, clock, ["acme/b"], poll_max_interval=60)
    assert report.status is TreeStatus.SUCCESS
    assert report.cost["engine"]["poll_rounds"] <= 10


def test_a_repo_whose_runs_cannot_be_listed_ends_in_error_without_spinning() -> None:
    from tako_gha.forge.base import ForgeError, RunListing

    forge, clock = world(b=[FakeWorkflow()])
    real = forge.list_runs

    def list_runs(repo: str, **kwargs: Any) -> RunListing:
        if repo == "acme/b":
            raise ForgeError("403 Resource not accessible by integration")
        return real(repo, **kwargs)

    forge.list_runs = list_runs  # type: ignore[method-assign]
    report = run(forge, clock, ["acme/b"])
    node = report.origin.children[0]
    assert node.state is NodeState.ERROR and "403" in (node.reason or "")
    assert node.hint and "Actions: read" in node.hint
    assert len(clock.sleeps) < 200


def test_no_targets_is_an_empty_success_with_a_message() -> None:
    from tako_gha.core.diagnostics import Diagnostic, Severity
    from tako_gha.engine.planning import PlanOutcome

    class Planner:
        def plan(self, forge: Any, request: FanOutRequest) -> PlanOutcome:
            return PlanOutcome(event=request.event, targets=[],
                               skipped=[("acme/x", "filter is false")],
                               diagnostics=[Diagnostic(Severity.WARNING,
                                                       "acme/a does not declare built")])

    forge, clock = world()
    recorder = Recorder()
    report = fan_out(forge, FanOutRequest(event=Event("built", SOURCE), org="acme"),
                     FanOutOptions(**FAST), recorder, planner=Planner(), clock=clock)
    assert report.status is TreeStatus.SUCCESS and report.origin.children == []
    assert forge.calls["dispatch"] == 0 and forge.calls["preflight"] == 0
    assert any("nothing to dispatch" in m for m in recorder.messages)
    assert any("skipped acme/x: filter is false" in m for m in recorder.messages)
    assert any("does not declare built" in m for m in recorder.messages)


def test_default_planner_discovers_matches_and_renders_inputs() -> None:
    from tako_gha.core.config import load_config
    from tako_gha.forge.base import DiscoveredRepo, Discovery, RepoSelection

    texts = {
        "acme/a": "version: 1\nevents:\n  produces:\n    - type: built\n"
                  "      schema_version: 1.2.0\n",
        "acme/b": "version: 1\nevents:\n  subscriptions:\n    - artifact: acme/a\n"
                  "      events: [built]\n      schema_version: ^1.0.0\n"
                  "      workflow: rebuild.yml\n"
                  "      inputs:\n        version: \"{{ .event.payload.version }}\"\n",
        "acme/c": "version: 1\nevents:\n  subscriptions:\n    - artifact: acme/a\n"
                  "      events: [built]\n      filters:\n"
                  "        - event.payload.version == \"9\"\n",
    }

    class Org(FakeForge):
        def discover(self, selection: RepoSelection) -> Discovery:
            self.calls["discover"] += 1
            return Discovery(selection.org, [
                DiscoveredRepo(full_name=name, config=load_config(text, repo=name))
                for name, text in texts.items()])

    clock = FakeClock()
    forge = Org(clock, {"acme/b": [FakeWorkflow(path=".github/workflows/rebuild.yml")]})
    recorder = Recorder()
    request = FanOutRequest(event=Event("built", SOURCE, {"version": "2.0.0"}), org="acme")
    report = fan_out(forge, request, FanOutOptions(**FAST), recorder, clock=clock)
    assert [n.repo for n in report.origin.children] == ["acme/b"]
    assert report.status is TreeStatus.SUCCESS
    payload = forge.dispatches[0][2]
    assert payload["inputs"] == {"version": "2.0.0"}
    assert payload["event"]["schema_version"] == "1.2.0"  # from acme/a's produces
    # acme/c's own filter leaves it out: reported as such, not as something that went wrong.
    assert any(m.startswith("not for acme/c: filters[0]") for m in recorder.messages)
    assert not any(m.startswith("skipped acme/c") for m in recorder.messages)


def test_resuming_a_root_sends_only_what_was_not_sent() -> None:
    forge, clock = world(b=[FakeWorkflow()], c=[FakeWorkflow()], d=[FakeWorkflow()])
    first = run(forge, clock, ["acme/b", "acme/c", "acme/d"], dispatches_per_minute=1,
                timeout=30)
    assert first.status is TreeStatus.TIMED_OUT
    assert forge.calls["dispatch"] == 1
    ctx = CascadeContext(root=first.root, parent=None, depth=1, chain=(SOURCE,), deadline=None)
    again = run(forge, clock, ["acme/b", "acme/c", "acme/d"], context=ctx)
    assert again.root == first.root and again.status is TreeStatus.SUCCESS
    assert forge.calls["dispatch"] == 3  # the two that were never sent
    assert sorted(len(n.runs) for n in again.origin.children) == [1, 1, 1]
    assert again.cost["engine"]["adopted"] == 1


def test_the_forge_waits_are_bounded_by_the_fan_out_and_released_after() -> None:
    # A rate-limit wait inside the forge must end at the fan-out's deadline (the forge
    # raises instead of sleeping to the reset), and the bound must not outlive the
    # fan-out: a caller reusing the forge would get refusals for no reason.
    from datetime import datetime, timezone

    from tako_gha.forge.base import Forge

    forge, clock = world(b=[FakeWorkflow()])
    assert isinstance(forge, Forge)
    before = datetime.now(timezone.utc)
    report = run(forge, clock, ["acme/b"], timeout=90)
    assert report.status is TreeStatus.SUCCESS
    first = forge.deadlines[0]
    assert first is not None
    assert timedelta(seconds=85) <= first - before <= timedelta(seconds=95)
    assert forge.deadlines[-1] is None

    class Unbounded(FakeForge):
        set_deadline = None  # a forge that could sleep an hour on a reset, unbounded

    assert not isinstance(Unbounded(clock, {}), Forge)
