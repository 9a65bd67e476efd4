"""Children report up (engine.report): a finished child that fanned out is asked for its
report, and the runs it names are known by id without listing the repositories below
it; a missing report falls back to listing them."""

from __future__ import annotations

import json
from typing import Any

from fakes import FakeForge, FakeWorkflow
from test_engine_fanout import run, world

from tako_gha.core.ids import dispatch_id
from tako_gha.core.tree import TreeStatus
from tako_gha.engine.report import (
    REPORT_FILE,
    parse_report,
    report_name,
)
from tako_gha.forge.base import CallKind

GRANDCHILDREN = [f"acme/g{i}" for i in range(3)]


class ReportingForge(FakeForge):
    """A forge whose runs of ``reporters`` leave the report their fan-out would write."""

    reporters: set[str]
    asked: list[tuple[str, int, str]]

    correlation = "strict"  # how the writer knew its children's runs

    def run_report(self, repo: str, run_id: int, name: str, member: str,
                   max_bytes: int) -> bytes | None:
        self.asked.append((repo, run_id, name))
        self.ledger.record(CallKind.POLL)  # the run's artifacts, by name
        parent = self.run_by_id(run_id)
        if repo.lower() not in self.reporters or member != REPORT_FILE:
            return None
        self.ledger.record(CallKind.POLL)  # the zip
        tako = parent.payload["tako"]
        nodes = []
        for child in parent.children:
            info = self._info(child)
            ident = child.payload["tako"]["id"]
            nodes.append({"repo": child.repo, "id": ident, "parent": tako["id"],
                          "event_type": child.event_type, "state": info.status,
                          "runs": [{"id": info.id, "node_id": info.node_id,
                                    "url": info.html_url, "workflow": info.workflow_path,
                                    "status": info.status, "conclusion": info.conclusion,
                                    "correlation": self.correlation,
                                    "created_at": None, "updated_at": None}]})
        assert name == report_name(tako["root"], tako["id"])
        return json.dumps({"version": 1, "root": tako["root"], "origin": tako["id"],
                           "status": "success", "nodes": nodes}).encode()


def _world(reporters: set[str]) -> tuple[ReportingForge, Any]:
    fan = [(g, "built") for g in GRANDCHILDREN]
    forge, clock = world(b=[FakeWorkflow(duration=40, fan_out=fan)],
                         **{g.split("/")[1]: [FakeWorkflow(duration=10)] for g in GRANDCHILDREN})
    forge.__class__ = ReportingForge
    forge.reporters, forge.asked = reporters, []
    return forge, clock  # type: ignore[return-value]


def _grandchildren_listed(forge: FakeForge) -> int:
    return sum(forge.list_calls_by_repo[g.lower()] for g in GRANDCHILDREN)


def test_a_report_names_the_grandchildren_no_listing_needed() -> None:
    forge, clock = _world({"acme/b"})
    report = run(forge, clock, ["acme/b"], subscribers={"acme/b": set(GRANDCHILDREN)},
                 timeout=900)
    assert report.status is TreeStatus.SUCCESS
    below = [n.repo for n in report.origin.walk()][2:]
    assert sorted(below) == GRANDCHILDREN
    assert all(n.runs and n.state.value == "success" for n in report.origin.walk()
               if n.repo in GRANDCHILDREN)
    assert [a[0] for a in forge.asked] == ["acme/b"]
    assert _grandchildren_listed(forge) == 0


def test_exact_grandchildren_come_through_the_report_as_exact() -> None:
    """A child whose fan-out dispatched its children in exact mode knew their runs from
    the dispatch answers: the report carries that, and the root shows those nodes as
    `correlation: exact` with the very run ids (never listing their repositories)."""
    forge, clock = _world({"acme/b"})
    forge.correlation = "exact"  # type: ignore[attr-defined]
    report = run(forge, clock, ["acme/b"], subscribers={"acme/b": set(GRANDCHILDREN)},
                 timeout=900)
    assert report.status is TreeStatus.SUCCESS
    below = [n for n in report.origin.walk() if n.repo in GRANDCHILDREN]
    assert sorted(n.repo for n in below) == GRANDCHILDREN
    assert {n.correlation for n in below} == {"exact"}
    for node in below:
        started = [r.id for r in forge.runs if r.repo == node.repo]
        assert [r.run_id for r in node.runs] == started
        assert [r.correlation for r in node.runs] == ["exact"]
    assert _grandchildren_listed(forge) == 0


def test_a_report_says_which_runs_its_writer_had_from_the_answer() -> None:
    """build_report writes each run's correlation; parse_report gives back the exact
    ones (and a run without the field, from an older writer, is not exact)."""
    from tako_gha.core.tree import Node, NodeState, RunRef, TreeReport
    from tako_gha.engine.report import report_text

    root, mine = "a" * 12, "b" * 12
    origin = Node(repo="acme/b", id=mine)
    for n, kind in ((7, "exact"), (8, "strict")):
        child = Node(repo=f"acme/g{n}", id=f"{n}" * 12, parent_id=mine, event_type="built",
                     state=NodeState.SUCCESS)
        child.runs.append(RunRef(n, f"u{n}", "w", "completed", "success", kind))
        origin.children.append(child)
    text = report_text(TreeReport(root, TreeStatus.SUCCESS, origin))
    parsed = parse_report(text, root, mine)
    assert parsed is not None and parsed.exact == {7}
    assert sorted(parsed.runs) == ["acme/g7", "acme/g8"]
    old = json.loads(text)
    for node in old["nodes"]:
        for item in node["runs"]:
            del item["correlation"]
    parsed = parse_report(json.dumps(old), root, mine)
    assert parsed is not None and parsed.exact == set()


def test_a_missing_report_falls_back_to_listing() -> None:
    forge, clock = _world(set())  # b's run leaves no report (a child without tako…)
    recorder_messages: list[str] = []

    class Notes:
        def on_update(self, report: Any) -> None:
            pass

        def on_message(self, text: str) -> None:
            recorder_messages.append(text)

    report = run(forge, clock, ["acme/b"], subscribers={"acme/b": set(GRANDCHILDREN)},
                 observer=Notes(), timeout=900)
    assert report.status is TreeStatus.SUCCESS
    assert sorted(n.repo for n in report.origin.walk() if n.repo in GRANDCHILDREN) == \
        GRANDCHILDREN
    assert _grandchildren_listed(forge) >= len(GRANDCHILDREN)
    assert any(m.startswith("no report from acme/b") for m in recorder_messages)


def test_while_a_child_runs_its_subscribers_wait_for_its_report() -> None:
    forge, clock = _world(set())
    listed: list[float] = []
    plain_list = forge.list_runs

    def list_runs(repo: str, **kw: Any) -> Any:
        if repo in GRANDCHILDREN:
            listed.append(clock.t)
        return plain_list(repo, **kw)

    forge.list_runs = list_runs  # type: ignore[method-assign]
    run(forge, clock, ["acme/b"], subscribers={"acme/b": set(GRANDCHILDREN)}, timeout=900)
    b_end = max(r.end() or 0 for r in forge.runs if r.repo == "acme/b")
    # its report is looked for when it ends (missing here), then they are listed
    assert listed and min(listed) >= b_end


def test_a_report_only_grafts_below_the_node_that_wrote_it() -> None:
    root, mine = "a" * 12, "b" * 12
    elsewhere = dispatch_id(root, None, "acme/x", "built")
    good = {"repo": "acme/g0", "id": "c" * 12, "parent": mine, "event_type": "built",
            "state": "success", "runs": [{"id": 5, "node_id": "R5", "url": "u",
                                          "workflow": "w", "status": "completed",
                                          "conclusion": "success", "created_at": None,
                                          "updated_at": None}]}
    data = {"version": 1, "root": root, "origin": mine, "status": "success", "nodes": [good]}
    parsed = parse_report(json.dumps(data), root, mine)
    assert parsed is not None and [r.id for r in parsed.runs["acme/g0"]] == [5]
    shared = parse_report(json.dumps({**data, "share": {"refusals_seen": 3, "halvings": 1}}),
                          root, mine)
    assert shared is not None and (shared.refusals, shared.halvings) == (3, 1)
    assert parse_report(json.dumps(data), "f" * 12, mine) is None  # another root
    assert parse_report(json.dumps(data), root, "d" * 12) is None  # another node's run
    hostile = {**data, "nodes": [{**good, "parent": elsewhere}]}
    assert parse_report(json.dumps(hostile), root, mine) is None
    assert parse_report(b"\xff not json", root, mine) is None
    bad_run = {**data, "nodes": [{**good, "runs": [{"id": "5"}]}]}
    assert parse_report(json.dumps(bad_run), root, mine) is None
