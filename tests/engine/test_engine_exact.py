"""Exact mode on the in-memory forge: the run id from the dispatch's answer goes into the
tree and the journal, no listing of that repository; the fallbacks (no run details, a
workflow without workflow_dispatch, a receiver without the tako input, a lost answer);
a resume reads the answered run by id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeClock, FakeForge, FakeWorkflow

from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.journal import SENT, UNKNOWN, Journal, read
from tako_gha.engine.planning import StaticPlanner, Target

SOURCE = "acme/a"
ROOT = "0123456789ab"
FAST = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 600.0}
EXACT = FakeWorkflow(path=".github/workflows/release.yml", workflow_dispatch=True,
                     inputs=("tako", "version"))


class Crash(BaseException):
    """The process dying inside a dispatch (kill -9)."""


class Notes:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def on_update(self, report: TreeReport) -> None:
        pass

    def on_message(self, text: str) -> None:
        self.messages.append(text)


def _fan_out(forge: FakeForge, clock: FakeClock, targets: list[Target], *,
             journal: Journal | None = None, resume: bool = False,
             notes: Notes | None = None) -> TreeReport:
    ctx = CascadeContext(root=ROOT, parent=None, depth=1, chain=(SOURCE,), deadline=None)
    request = FanOutRequest(event=Event("built", SOURCE, {"version": "2.0.0"}), org="acme",
                            context=ctx if resume else None, root=None if resume else ROOT)
    return fan_out(forge, request, FanOutOptions(**FAST), notes or Notes(),
                   planner=StaticPlanner(targets, {}), clock=clock, journal=journal)


def _exact(repo: str, **kw: Any) -> Target:
    return Target(repo, inputs={"version": "{{ .v }}" if kw.pop("raw", False) else "2.0.0"},
                  workflow="release.yml", ref="main", **kw)


def _mixed() -> tuple[FakeForge, FakeClock]:
    clock = FakeClock()
    forge = FakeForge(clock, {"acme/b": [EXACT], "acme/c": [FakeWorkflow()]})
    return forge, clock


def test_the_answer_gives_the_run_and_its_repository_is_never_listed() -> None:
    forge, clock = _mixed()
    report = _fan_out(forge, clock, [_exact("acme/b"), Target("acme/c")])
    assert report.status is TreeStatus.SUCCESS
    b, c = report.origin.children
    assert (b.correlation, c.correlation) == ("exact", "strict")
    answered = [r for r in forge.runs if r.repo == "acme/b"]
    assert [r.run_id for r in b.runs] == [answered[0].id]
    assert forge.list_calls_by_repo["acme/b"] == 0 and forge.list_calls_by_repo["acme/c"] > 0
    assert forge.calls["dispatch_workflow"] == 1 and forge.calls["dispatch"] == 1
    # the inputs: rendered ones as strings, and the context in `tako` (with the event)
    repo, workflow, ref, inputs = forge.workflow_dispatches[0]
    assert (repo, workflow, ref, inputs["version"]) == ("acme/b", "release.yml", "main",
                                                        "2.0.0")
    tako = json.loads(inputs["tako"])
    assert tako["root"] == ROOT and tako["id"] == b.id and tako["chain"] == [SOURCE, "acme/b"]
    assert tako["event"] == {"type": "built", "schema_version": None, "source": SOURCE,
                             "payload": {"version": "2.0.0"}}


def test_a_server_without_run_details_is_found_by_listing() -> None:
    forge, clock = _mixed()
    forge.run_details = False
    report = _fan_out(forge, clock, [_exact("acme/b"), Target("acme/c")])
    assert report.status is TreeStatus.SUCCESS
    b = report.origin.children[0]
    assert b.correlation == "strict" and len(b.runs) == 1  # by the tag in its title
    assert forge.list_calls_by_repo["acme/b"] > 0
    assert sum(1 for r in forge.runs if r.repo == "acme/b") == 1


def test_a_workflow_without_workflow_dispatch_gets_repository_dispatch() -> None:
    clock = FakeClock()
    forge = FakeForge(clock, {"acme/b": [FakeWorkflow(path=".github/workflows/release.yml")]})
    notes = Notes()
    report = _fan_out(forge, clock, [_exact("acme/b")], notes=notes)
    assert report.status is TreeStatus.SUCCESS
    assert forge.calls["dispatch"] == 1 and report.origin.children[0].correlation == "strict"
    assert any("does not listen on workflow_dispatch; sent repository_dispatch" in m
               for m in notes.messages)


def test_a_receiver_without_the_tako_input_gets_the_dispatch_without_it() -> None:
    clock = FakeClock()
    bare = FakeWorkflow(path=".github/workflows/release.yml", workflow_dispatch=True,
                        inputs=("version",))
    forge = FakeForge(clock, {"acme/b": [bare]})
    notes = Notes()
    report = _fan_out(forge, clock, [_exact("acme/b")], notes=notes)
    assert report.status is TreeStatus.SUCCESS
    assert report.origin.children[0].correlation == "exact"
    assert [sorted(d[3]) for d in forge.workflow_dispatches] == [["version"]]
    assert any("does not declare the 'tako' input" in m for m in notes.messages)


def test_a_lost_answer_is_looked_for_and_not_sent_twice() -> None:
    forge, clock = _mixed()
    forge.ambiguous_after_create.add("acme/b")
    report = _fan_out(forge, clock, [_exact("acme/b")])
    assert report.status is TreeStatus.SUCCESS
    assert forge.calls["dispatch_workflow"] == 1
    assert sum(1 for r in forge.runs if r.repo == "acme/b") == 1
    assert report.origin.children[0].correlation == "strict"  # found by its tag


class CrashingForge(FakeForge):
    def __init__(self, clock: FakeClock, workflows: dict, *, after_answer: bool) -> None:
        super().__init__(clock, workflows)
        self.after_answer = after_answer
        self.crashed = False

    def dispatch_workflow(self, repo: str, workflow: str, ref: str,
                          inputs: dict[str, str]) -> Any:
        answer = super().dispatch_workflow(repo, workflow, ref, inputs)
        if not self.crashed and not self.after_answer:
            self.crashed = True
            raise Crash  # after the POST, before the answer is recorded
        return answer


def test_resume_after_the_answer_was_recorded_reads_the_run_by_id(tmp_path: Path) -> None:
    clock = FakeClock()
    forge = CrashingForge(clock, {"acme/b": [EXACT]}, after_answer=True)
    path = tmp_path / "journal.jsonl"
    first = _fan_out(forge, clock, [_exact("acme/b")], journal=Journal(path))
    run_id = first.origin.children[0].runs[0].run_id
    entry = next(iter(read(path, ROOT).entries.values()))
    assert (entry.status, entry.answered_run, entry.workflow) == (SENT, run_id, "release.yml")
    lists, gets = forge.calls["list_runs"], forge.calls["get_run"]
    again = _fan_out(forge, clock, [_exact("acme/b")], journal=Journal(path), resume=True)
    node = again.origin.children[0]
    assert node.state is NodeState.SUCCESS and node.correlation == "exact"
    assert [r.run_id for r in node.runs] == [run_id]
    assert forge.calls["dispatch_workflow"] == 1
    assert forge.calls["list_runs"] == lists and forge.calls["get_run"] == gets + 1


def test_resume_after_a_crash_before_the_answer_was_recorded(tmp_path: Path) -> None:
    clock = FakeClock()
    forge = CrashingForge(clock, {"acme/b": [EXACT], "acme/c": [EXACT]}, after_answer=False)
    path = tmp_path / "journal.jsonl"
    with pytest.raises(Crash):
        _fan_out(forge, clock, [_exact("acme/b"), _exact("acme/c")], journal=Journal(path))
    entries = {e.repo: e for e in read(path, ROOT).entries.values()}
    assert entries["acme/b"].status == UNKNOWN and "acme/c" not in entries
    clock.t += 20
    report = _fan_out(forge, clock, [_exact("acme/b"), _exact("acme/c")],
                      journal=Journal(path), resume=True)
    assert report.status is TreeStatus.SUCCESS
    assert [sum(1 for r in forge.runs if r.repo == repo) for repo in ("acme/b", "acme/c")] \
        == [1, 1]
    assert forge.calls["dispatch_workflow"] == 2  # b once (before the crash), c once
    by_repo = {n.repo: n for n in report.origin.children}
    assert by_repo["acme/b"].correlation == "strict"  # the lost answer: found by listing
    assert by_repo["acme/c"].correlation == "exact"


def _discovered(forge_cls: type[FakeForge], clock: FakeClock, workflows: dict,
                texts: dict[str, str]) -> FakeForge:
    """A fake org whose discovery reads the given tako.yml texts (the default planner)."""
    from tako_gha.core.config import load_config
    from tako_gha.forge.base import DiscoveredRepo, Discovery, RepoSelection

    class Org(forge_cls):  # type: ignore[valid-type,misc]
        def discover(self, selection: RepoSelection) -> Discovery:
            return Discovery(selection.org, [
                DiscoveredRepo(full_name=name, config=load_config(text, repo=name))
                for name, text in texts.items()])

    return Org(clock, workflows)


def _sub(inputs: str = 'version: "{{ .event.payload.version }}"') -> str:
    return ("version: 1\nevents:\n  subscriptions:\n    - artifact: acme/a\n"
            f"      events: [built]\n      workflow: release.yml\n      inputs:\n"
            f"        {inputs}\n")


def _plan_run(forge: FakeForge, clock: FakeClock, notes: Notes) -> TreeReport:
    request = FanOutRequest(event=Event("built", SOURCE, {"version": "2.0.0"}), org="acme")
    return fan_out(forge, request, FanOutOptions(**FAST), notes, clock=clock)


def test_the_plan_reads_the_workflows_so_no_dispatch_is_refused() -> None:
    """What each named workflow declares is read before dispatching (one query): a file
    that does not listen on workflow_dispatch gets repository_dispatch at once, a
    receiver without `tako` gets no `tako`, and nothing is sent twice."""
    clock = FakeClock()
    legacy = FakeWorkflow(path=".github/workflows/release.yml")
    bare = FakeWorkflow(path=".github/workflows/release.yml", workflow_dispatch=True,
                        inputs=("version",))
    texts = {"acme/a": "version: 1\n", "acme/b": _sub(), "acme/c": _sub(), "acme/d": _sub()}
    forge = _discovered(FakeForge, clock, {"acme/b": [EXACT], "acme/c": [legacy],
                                           "acme/d": [bare]}, texts)
    notes = Notes()
    report = _plan_run(forge, clock, notes)
    assert report.status is TreeStatus.SUCCESS
    by = {n.repo: n for n in report.origin.children}
    assert {r: n.correlation for r, n in by.items()} == {
        "acme/b": "exact", "acme/c": "strict", "acme/d": "exact"}
    assert forge.calls["read_files"] == 1
    # b and d by workflow dispatch, once each (d without tako); c by repository_dispatch
    assert [(d[0], sorted(d[3])) for d in forge.workflow_dispatches] == [
        ("acme/b", ["tako", "version"]), ("acme/d", ["version"])]
    assert forge.calls["dispatch_workflow"] == 2 and forge.calls["dispatch"] == 1
    assert any("acme/d: release.yml does not declare the 'tako' input" in m
               for m in notes.messages)


def test_inputs_the_workflow_would_refuse_are_an_error_before_dispatching() -> None:
    clock = FakeClock()
    texts = {"acme/a": "version: 1\n", "acme/b": _sub('flavour: "x"')}
    forge = _discovered(FakeForge, clock, {"acme/b": [EXACT]}, texts)
    report = _plan_run(forge, clock, Notes())
    node = report.origin.children[0]
    assert node.state is NodeState.ERROR
    assert "Unexpected inputs provided: [\"flavour\"]" in node.reason
    assert "nothing was dispatched" in node.reason
    assert forge.calls["dispatch_workflow"] == 0 and forge.calls["dispatch"] == 0


def test_a_dry_run_says_which_targets_go_by_workflow_dispatch() -> None:
    forge, clock = _mixed()
    ctx_free = FanOutRequest(event=Event("built", SOURCE, {"version": "2.0.0"}), org="acme",
                             root=ROOT)
    report = fan_out(forge, ctx_free, FanOutOptions(**FAST, dry_run=True), Notes(),
                     planner=StaticPlanner([_exact("acme/b"), Target("acme/c")], {}),
                     clock=clock)
    b, c = report.origin.children
    assert b.reason == ("dry run: not dispatched (would be a workflow dispatch of "
                        "release.yml on main)")
    assert c.reason == "dry run: not dispatched"
    assert forge.calls["dispatch_workflow"] == forge.calls["dispatch"] == 0


def test_a_workflow_not_on_the_ref_is_an_error_and_nothing_is_sent() -> None:
    """`ref:` naming a branch that does not exist (or a workflow file that is not on it):
    the node is an error at once naming the file and the ref. Before, the unreadable file
    counted as "does not listen on workflow_dispatch", a repository_dispatch went out
    that no workflow listens to, and the fan-out waited for a run that never came."""

    class NoSuchRef(FakeForge):
        def read_files(self, items: Any) -> dict:
            out = super().read_files(items)
            return {item: (None if item[1] == "nosuch" else text)
                    for item, text in out.items()}

    clock = FakeClock()
    on_ref = _sub().replace("      workflow: release.yml\n",
                            "      workflow: release.yml\n      ref: nosuch\n")
    no_file = _sub().replace("release.yml", "gone.yml")
    texts = {"acme/a": "version: 1\n", "acme/b": on_ref, "acme/c": no_file}
    forge = _discovered(NoSuchRef, clock, {"acme/b": [EXACT], "acme/c": [EXACT]}, texts)
    report = _plan_run(forge, clock, Notes())
    by = {n.repo: n for n in report.origin.children}
    assert by["acme/b"].state is NodeState.ERROR
    assert by["acme/b"].reason == (
        ".github/workflows/release.yml is not on 'nosuch' in acme/b (no such branch or "
        "tag, or no such file on it); nothing was dispatched")
    assert by["acme/c"].state is NodeState.ERROR
    assert ".github/workflows/gone.yml is not on" in by["acme/c"].reason
    assert forge.calls["dispatch_workflow"] == 0 and forge.calls["dispatch"] == 0
    assert report.status is not TreeStatus.SUCCESS


def test_an_explicit_workflow_dispatch_trigger_is_not_quietly_repository_dispatch() -> None:
    """`trigger: workflow_dispatch` and a workflow that does not listen on it: the node
    is an error naming both, and no dispatch of either kind is sent."""
    clock = FakeClock()
    legacy = FakeWorkflow(path=".github/workflows/release.yml")
    texts = {"acme/a": "version: 1\n",
             "acme/b": _sub().replace("      workflow: release.yml\n",
                                      "      workflow: release.yml\n"
                                      "      trigger: workflow_dispatch\n")}
    forge = _discovered(FakeForge, clock, {"acme/b": [legacy]}, texts)
    report = _plan_run(forge, clock, Notes())
    [node] = report.origin.children
    assert node.state is NodeState.ERROR
    assert node.reason == ("release.yml does not listen on workflow_dispatch, and the "
                           "subscription says trigger: workflow_dispatch; nothing was "
                           "dispatched")
    assert forge.calls["dispatch_workflow"] == 0 and forge.calls["dispatch"] == 0


@pytest.mark.parametrize("wait", [False, True])
def test_a_level_that_fires_and_forgets_reads_no_run_states_while_it_paces(wait: bool) -> None:
    """Dispatching paced to one a minute, a fan-out that does not wait reads none of
    its children's run states (they would only hold back the next dispatch under
    concurrency_limit); one that waits reads them in batches all along."""
    clock = FakeClock()
    repos = [f"acme/r{i}" for i in range(4)]
    forge = FakeForge(clock, {repo: [EXACT] for repo in repos})
    request = FanOutRequest(event=Event("built", SOURCE, {"version": "2.0.0"}), org="acme",
                            root=ROOT)
    options = FanOutOptions(**{**FAST, "wait": wait, "status_interval": 1.0,
                               "dispatches_per_minute": 1})
    report = fan_out(forge, request, options, Notes(), clock=clock,
                     planner=StaticPlanner([_exact(r) for r in repos], {}))
    assert report.status is (TreeStatus.SUCCESS if wait else TreeStatus.RUNNING)
    assert forge.calls["dispatch_workflow"] == 4 and clock.t >= 180  # paced: 3 minutes
    assert sum(forge.list_calls_by_repo.values()) == 0
    states = forge.calls["run_states_by_url"] + forge.calls["run_states"]
    assert (states > 0) is wait, forge.calls
    # and its loop sleeps until something is due (here a second at most): it does not
    # wake every 10 ms meanwhile (18,000 times in these 3 minutes)
    assert len(clock.sleeps) < 1_000, len(clock.sleeps)
