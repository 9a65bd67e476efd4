"""Payload limits, context inheritance, pacing, the poll schedule, correlation details."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from fakes import EPOCH, FakeClock

from tako_gha.core.events import Event
from tako_gha.core.ids import TitleTag, make_title
from tako_gha.core.tree import Node, NodeState
from tako_gha.engine.api import CascadeContext
from tako_gha.engine.context import context_from_environment
from tako_gha.engine.correlate import Track, TreeTracker, title_event_type, title_source
from tako_gha.engine.pacing import DispatchPacer
from tako_gha.engine.payload import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    TakoMeta,
    build_client_payload,
    check_dispatch,
    format_rfc3339,
    parse_rfc3339,
)
from tako_gha.engine.poller import PollSchedule
from tako_gha.forge.base import RunInfo

ROOT, PARENT = "ab" * 6, "cd" * 6


def _payload(extra: dict | None = None) -> dict:
    meta = TakoMeta(ROOT, None, PARENT, 1, ("acme/a", "acme/b"), EPOCH, "t")
    payload = build_client_payload(Event("built", "acme/a", extra or {}), {}, meta)
    return payload


def test_payload_limits_are_checked_before_sending() -> None:
    check_dispatch("built", _payload())
    with pytest.raises(PayloadError, match="at most 100"):
        check_dispatch("x" * 101, _payload())
    wide = {f"k{i}": i for i in range(11)}
    with pytest.raises(PayloadError, match="11 top-level keys") as err:
        check_dispatch("built", wide)
    assert "nest" in err.value.hint
    # Just under and just over 64 KB of JSON.
    base = len(json.dumps(_payload({"blob": ""})).encode())
    check_dispatch("built", _payload({"blob": "x" * (MAX_PAYLOAD_BYTES - base - 1)}))
    with pytest.raises(PayloadError, match="64 KB"):
        check_dispatch("built", _payload({"blob": "x" * (MAX_PAYLOAD_BYTES - base)}))
    # Non-ASCII is measured as sent (escaped), not as characters.
    with pytest.raises(PayloadError):
        check_dispatch("built", _payload({"blob": "é" * (MAX_PAYLOAD_BYTES // 6 + 10)}))


def test_rfc3339_round_trip() -> None:
    moment = datetime(2026, 11, 25, 10, 40, 0, tzinfo=timezone.utc)
    assert format_rfc3339(moment) == "2026-11-25T10:40:00Z"
    assert parse_rfc3339("2026-11-25T10:40:00Z") == moment
    assert parse_rfc3339("2026-11-25T12:40:00+02:00") == moment
    assert parse_rfc3339("2026-11-25T10:40:00") == moment


def test_context_continues_the_tree() -> None:
    payload = {"tako": {"root": ROOT, "parent": None, "id": PARENT, "depth": 1,
                        "chain": ["acme/a", "acme/b"], "deadline": "2026-11-25T11:00:00Z",
                        "title": "x"}}
    ctx = CascadeContext.from_client_payload(payload, "acme/b")
    assert ctx == CascadeContext(root=ROOT, parent=PARENT, depth=2, chain=("acme/a", "acme/b"),
                                 deadline=datetime(2026, 11, 25, 11, tzinfo=timezone.utc))
    # A sender that did not append the target: this repo is added.
    payload["tako"]["chain"] = ["acme/a"]
    assert CascadeContext.from_client_payload(payload, "acme/b").chain == ("acme/a", "acme/b")
    assert CascadeContext.from_client_payload({"other": 1}, "acme/b") is None
    assert CascadeContext.from_client_payload(None, "acme/b") is None


@pytest.mark.parametrize("bad, field", [
    ({"root": "nope", "id": PARENT}, "root"),
    ({"root": ROOT, "id": 3}, "id"),
    ({"root": ROOT, "id": PARENT, "depth": -1}, "depth"),
    ({"root": ROOT, "id": PARENT, "chain": "acme/a"}, "chain"),
    ({"root": ROOT, "id": PARENT, "deadline": "tomorrow"}, "deadline"),
    ({"root": ROOT, "id": PARENT, "slot": [0.5, 0.75]}, "slot"),
    ({"root": ROOT, "id": PARENT, "slot": "0.5"}, "slot"),
])
def test_malformed_context_names_the_field(bad: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"tako.{field}"):
        CascadeContext.from_client_payload({"tako": bad}, "acme/b")


def test_context_from_environment(tmp_path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"action": "built", "client_payload": {
        "tako": {"root": ROOT, "id": PARENT, "depth": 3, "chain": ["acme/a", "acme/b"]}}}))
    env = {"GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "acme/b",
           "GITHUB_EVENT_NAME": "repository_dispatch"}
    ctx = context_from_environment(env)
    assert ctx is not None and ctx.depth == 4 and ctx.parent == PARENT and ctx.deadline is None
    assert context_from_environment({**env, "GITHUB_EVENT_NAME": "push"}) is None
    assert context_from_environment({"GITHUB_REPOSITORY": "acme/b"}) is None
    path.write_text("{not json")
    assert context_from_environment(env) is None


def test_context_from_a_workflow_dispatch_reads_the_tako_input(tmp_path) -> None:
    """Exact mode: the context travels in the `tako` input (a JSON string)."""
    path = tmp_path / "event.json"
    tako = {"root": ROOT, "id": PARENT, "depth": 1, "chain": ["acme/a", "acme/b"],
            "deadline": "2026-11-25T12:30:00Z", "event": {"type": "built"}}
    path.write_text(json.dumps({"inputs": {"version": "1", "tako": json.dumps(tako)},
                                "ref": "refs/heads/main"}))
    env = {"GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "acme/b",
           "GITHUB_EVENT_NAME": "workflow_dispatch"}
    ctx = context_from_environment(env)
    assert ctx is not None and (ctx.root, ctx.parent, ctx.depth) == (ROOT, PARENT, 2)
    assert ctx.chain == ("acme/a", "acme/b") and ctx.deadline is not None
    # dispatched by hand (no tako input): a new tree
    path.write_text(json.dumps({"inputs": {"version": "1"}}))
    assert context_from_environment(env) is None
    # an altered tako input is named, not taken for another tree
    path.write_text(json.dumps({"inputs": {"tako": "{not json"}}))
    with pytest.raises(ValueError, match=r"inputs\.tako is not JSON"):
        context_from_environment(env)
    path.write_text(json.dumps({"inputs": {"tako": json.dumps({**tako, "root": "x"})}}))
    with pytest.raises(ValueError, match=r"tako\.root is not a tako id"):
        context_from_environment(env)


def test_pacer_never_exceeds_either_window() -> None:
    clock = FakeClock()
    pacer = DispatchPacer(clock, per_minute=5, per_hour=12)
    sent = []
    for _ in range(20):
        pacer.acquire()
        sent.append(clock.t)
    for i, t in enumerate(sent):
        assert sum(1 for s in sent[: i + 1] if s > t - 60) <= 5
        assert sum(1 for s in sent[: i + 1] if s > t - 3600) <= 12
    assert sent[:5] == [0.0] * 5 and sent[5] == 60.0
    assert sent[12] >= 3600.0
    with pytest.raises(ValueError):
        DispatchPacer(clock, per_minute=0, per_hour=1)


def test_poll_schedule_adapts_to_activity_and_budget() -> None:
    sched = PollSchedule(2.0, 30.0, 0.1)
    quiet = [sched.after_round(changed=False, paid_calls=0, remaining=None, limit=None)
             for _ in range(10)]
    assert quiet[0] == 3.0 and quiet[-1] == 30.0 and quiet == sorted(quiet)
    assert sched.after_round(changed=True, paid_calls=1, remaining=None, limit=None) == 2.0
    # Plenty above the 10 % reserve for the changes 10 active runs still cause.
    assert sched.after_round(changed=True, paid_calls=10, remaining=1500, limit=5000,
                             active=10) == 2.0
    # Tight: 1000 spendable, 400 runs to follow (≈ 1200 paid calls): slowest interval.
    assert sched.after_round(changed=True, paid_calls=10, remaining=1500, limit=5000,
                             active=400) == 30.0
    # Close: halfway between the bounds.
    assert sched.after_round(changed=True, paid_calls=10, remaining=1500, limit=5000,
                             active=200) == 16.0
    # Below the reserve: the slowest interval whatever the activity.
    assert sched.after_round(changed=True, paid_calls=0, remaining=400, limit=5000) == 30.0


def _run(run_id: int, title: str, created: float, workflow: str = ".github/workflows/w.yml"
         ) -> RunInfo:
    return RunInfo(id=run_id, repo="acme/b", workflow_path=workflow, display_title=title,
                   name=None, event="repository_dispatch", status="queued", conclusion=None,
                   created_at=EPOCH + timedelta(seconds=created), html_url="u")


def _tracker() -> tuple[TreeTracker, Track, Track]:
    origin = Node(repo="acme/a", id=ROOT)
    tracker = TreeTracker(ROOT, origin, {}, sibling_grace=2, discovery_timeout=30)
    tracks = []
    for i in range(2):
        track = tracker.add(origin, Node(repo="acme/b", id=f"{i}" * 12), own=True)
        track.dispatched_at = float(i)
        track.dispatched_wall = EPOCH + timedelta(seconds=i)
        tracks.append(track)
    return tracker, tracks[0], tracks[1]


def test_two_heuristic_dispatches_to_one_repo_are_reported_ambiguous() -> None:
    tracker, first, second = _tracker()
    tracker.ingest("acme/b", [_run(11, "Deploy", 1.5)], now=2.0)
    assert first.node.runs and first.node.correlation == "heuristic"
    assert "ambiguous" in (first.node.reason or "") and "ambiguous" in (second.node.reason or "")
    assert "run-name" in (second.node.reason or "")


def test_runs_before_the_watermark_or_window_are_not_claimed() -> None:
    tracker, first, second = _tracker()
    first.watermark = 20
    second.dispatched_wall = EPOCH + timedelta(seconds=100)
    tracker.ingest("acme/b", [_run(15, "Deploy", 1.5)], now=2.0)
    assert not first.node.runs and not second.node.runs


def test_orphans_attach_when_their_parent_appears() -> None:
    origin = Node(repo="acme/a", id=ROOT)
    tracker = TreeTracker(ROOT, origin, {})
    b_id, c_id, d_id = "1" * 12, "2" * 12, "3" * 12
    d_title = make_title("built", "acme/c", TitleTag(ROOT, c_id, d_id))
    c_title = make_title("built", "acme/b", TitleTag(ROOT, b_id, c_id))
    b_title = make_title("built", "acme/a", TitleTag(ROOT, None, b_id))
    tracker.ingest("acme/d", [_run(3, d_title, 0)], now=1)
    tracker.ingest("acme/c", [_run(2, c_title, 0)], now=1)
    assert not list(tracker.nodes())
    tracker.ingest("acme/b", [_run(1, b_title, 0)], now=1)
    assert [n.repo for n in origin.walk()] == ["acme/a", "acme/b", "acme/b", "acme/b"]
    assert [n.id for n in origin.walk()] == [ROOT, b_id, c_id, d_id]
    assert [n.depth for n in origin.walk()] == [0, 1, 2, 3]
    # Foreign roots are ignored.
    other = make_title("built", "acme/a", TitleTag("f" * 12, None, "4" * 12))
    assert tracker.ingest("acme/b", [_run(9, other, 0)], now=2) is False


def test_title_parts() -> None:
    title = make_title("library_built", "acme/core", TitleTag(ROOT, None, PARENT))
    assert title_event_type(title) == "library_built"
    assert title_source(title) == "acme/core"
    assert title_event_type("Deploy") == "" and title_source(None) == ""


def test_engine_never_imports_pygithub() -> None:
    code = ("import sys, tako_gha.engine.fanout, tako_gha.engine.watch; "
            "print([m for m in sys.modules if m == 'github' or m.startswith('github.')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_node_states_are_strict_about_conclusions() -> None:
    from tako_gha.core.tree import RunRef
    from tako_gha.engine.correlate import aggregate_state

    def ref(status: str, conclusion: str | None) -> RunRef:
        return RunRef(1, "u", "w", status, conclusion, "strict")

    assert aggregate_state([ref("completed", "neutral")]) is NodeState.SUCCESS
    assert aggregate_state([ref("completed", "startup_failure")]) is NodeState.FAILURE
    assert aggregate_state([ref("completed", "success"), ref("queued", None)]) is NodeState.QUEUED
    assert aggregate_state([ref("in_progress", None), ref("queued", None)]) is \
        NodeState.IN_PROGRESS
    assert aggregate_state([ref("completed", "stale")]) is NodeState.FAILURE


def test_runless_nodes_travel_to_the_root_as_notices() -> None:
    from tako_gha.core.tree import TreeReport, TreeStatus
    from tako_gha.engine.handoff import NOTICE_TITLE, node_from_annotation, notice_lines
    from tako_gha.forge.base import Annotation

    origin = Node(repo="acme/b", id=PARENT)
    cyc = Node(repo="acme/a", id="1" * 12, state=NodeState.CYCLE, event_type="built",
               reason="cycle: acme/a → acme/b → acme/a\nline two %")
    ran = Node(repo="acme/c", id="2" * 12, state=NodeState.SUCCESS)
    from tako_gha.core.tree import RunRef

    ran.runs.append(RunRef(5, "u", "w", "completed", "success", "strict"))
    guessed = Node(repo="acme/d", id="3" * 12, state=NodeState.SUCCESS,
                   correlation="heuristic")
    guessed.runs.append(RunRef(7, "u7", "w.yml", "completed", "success", "heuristic"))
    origin.children += [cyc, ran, guessed]
    lines = notice_lines(TreeReport(ROOT, TreeStatus.FAILURE, origin))
    assert len(lines) == 2 and lines[0].startswith(f"::notice title={NOTICE_TITLE}::")
    found = node_from_annotation(Annotation("notice", lines[1].split("::", 2)[2],
                                            NOTICE_TITLE))
    assert found is not None and found.correlation == "heuristic"
    assert [(r.run_id, r.url, r.conclusion) for r in found.runs] == [(7, "u7", "success")]
    assert "\n" not in lines[0]
    message = lines[0].split("::", 2)[2].replace("%0A", "\n").replace("%25", "%")
    back = node_from_annotation(Annotation("notice", message, NOTICE_TITLE))
    assert back is not None
    assert (back.repo, back.id, back.state, back.reason) == (cyc.repo, cyc.id, cyc.state,
                                                             cyc.reason)
    assert node_from_annotation(Annotation("notice", message, "other")) is None
    assert node_from_annotation(Annotation("notice", "{bad json", NOTICE_TITLE)) is None
    assert node_from_annotation(Annotation("notice", '{"id": "x", "state": "cycle"}',
                                           NOTICE_TITLE)) is None


def test_poller_falls_back_to_single_run_reads_and_survives_errors() -> None:
    from fakes import FakeForge, FakeWorkflow

    from tako_gha.engine.poller import FleetPoller
    from tako_gha.forge.base import ForgeError, RunListing

    clock = FakeClock()
    forge = FakeForge(clock, {"acme/b": [FakeWorkflow(duration=3)]})
    title = make_title("built", "acme/a", TitleTag(ROOT, None, PARENT))
    forge._create("acme/b", "built", {"tako": {"title": title}}, 0.0)
    origin = Node(repo="acme/a", id=ROOT)
    tracker = TreeTracker(ROOT, origin, {})
    messages: list[str] = []
    tracker.on_message = messages.append
    poller = FleetPoller(forge, tracker, None)
    clock.t = 1.5
    changed, paid = poller.poll_round({"acme/b"}, 1.0)
    assert changed and paid == 1 and origin.children[0].state is NodeState.IN_PROGRESS
    assert poller.batched() == {forge.runs[0].id} and forge.calls["run_states"] == 1
    # A server without batched reads (no GraphQL: 404): from then on the run is read
    # through its repo's listing, and when it falls off the first page, singly.
    def no_graphql(ids: object) -> dict:
        raise ForgeError("HTTP 404 from /graphql", status=404)

    forge.run_states = no_graphql  # type: ignore[method-assign,assignment]
    real = forge.list_runs
    forge.list_runs = lambda *a, **k: RunListing([])  # type: ignore[method-assign]
    clock.t = 10
    poller.poll_round({"acme/b"}, 10.0)
    assert poller.batched() == set() and "following runs through" in messages[-1]
    poller.poll_round({"acme/b"}, 10.5)
    assert forge.calls["get_run"] == 1 and origin.children[0].state is NodeState.SUCCESS

    def broken(*a: object, **k: object) -> RunListing:
        raise ForgeError("502 from the API")

    forge.list_runs = broken  # type: ignore[method-assign]
    assert poller.poll_round({"acme/b"}, 11.0) == (False, 0)
    assert poller.stats.errors == 2 and "502" in messages[-1]
    forge.list_runs = real  # type: ignore[method-assign]
