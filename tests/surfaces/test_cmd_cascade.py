"""``tako-gha fan-out / status / cancel`` against the emulator, in process."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_world import Outcome, outside_actions, receiver, run_console, subscription

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.surfaces.cli import main
from tako_gha.surfaces.commands.cascade_common import repo_from_remote, resolve_source
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.flags import read_payload

TOKEN = "t-admin"


def _workflow(event: str, work: str) -> str:
    return receiver(event, work)


def _sub(event: str) -> str:
    return subscription("acme/a", event)


WORLD = {
    "acme/a": {"tako.yml": "version: 1\n"},
    "acme/b": {"tako.yml": _sub("ok"), ".github/workflows/w.yml": _workflow("ok", "echo ok")},
    "acme/c": {"tako.yml": _sub("ok"), ".github/workflows/w.yml": _workflow("ok", "echo ok")},
    "acme/f": {"tako.yml": _sub("boom"), ".github/workflows/w.yml": _workflow("boom", "exit 1")},
    "acme/h": {"tako.yml": _sub("hang"),
               ".github/workflows/w.yml": _workflow("hang", "sleep 30")},
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = write_world(tmp_path_factory.mktemp("cli") / "world", WORLD,
                       {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN,
                        "runner": {"capacity": 6}})
    emulator = Emulator(root, port=0).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def invoke(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs the real console entry (``main``): exit codes and error reporting included."""
    outside_actions(monkeypatch, tmp_path, "GITHUB_API_URL")
    base = {"GITHUB_TOKEN": TOKEN, "TAKO_CACHE_DIR": str(tmp_path / "cache"),
            "TAKO_POLL_MIN_INTERVAL": "0.1", "TAKO_POLL_MAX_INTERVAL": "0.5",
            "TAKO_SIBLING_GRACE": "0.2"}

    def _invoke(*args: str, env: dict[str, str] | None = None) -> Outcome:
        with monkeypatch.context() as patch:
            for name, value in {**base, **(env or {})}.items():
                patch.setenv(name, value)
            return run_console(main, [*args, "--api-url", emu.base_url], capsys)

    return _invoke


def test_fan_out_waits_and_writes_reports(invoke: Any, tmp_path: Path) -> None:
    tree, summary = tmp_path / "tree.json", tmp_path / "summary.md"
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--payload",
                    '{"version": "1.0"}', "--tree-json", str(tree), "--summary", str(summary))
    assert result.exit_code == 0, result.output
    assert "acme/b" in result.output and "success" in result.output
    data = json.loads(tree.read_text())
    assert data["status"] == "success" and data["tree"]["repo"] == "acme/a"
    assert sorted(c["repo"] for c in data["tree"]["children"]) == ["acme/b", "acme/c"]
    assert all(c["run_id"] and c["correlation"] == "strict" for c in data["tree"]["children"])
    assert "acme/b" in summary.read_text()


def test_the_root_id_is_announced_before_any_dispatch(invoke: Any, emu: Emulator,
                                                            tmp_path: Path) -> None:
    """A process killed later has already named its cascade and how to reach it."""
    tree = tmp_path / "tree.json"
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--payload",
                    '{"version": "1.0 beta"}', "--timeout", "1m", "--tree-json", str(tree),
                    "--format", "json")
    assert result.exit_code == 0, result.output
    root = json.loads(result.stdout)["root"]
    # After the checks (a refused fan-out never announces a cascade), before any dispatch.
    first = next(line for line in result.stderr.splitlines() if line.startswith("tako: "))
    api = emu.base_url
    journal = Path(os.environ["TAKO_STATE_DIR"]) / f"tako-journal-{root}.jsonl"
    assert first == (
        f"tako: cascade {root}; follow it: tako-gha status {root} --org acme --api-url "
        f"{api} --wait; if this process stops early, send the rest: tako-gha fan-out "
        # The exact command: the flags that were given (quoted), then --resume ROOT.
        "--source acme/a --org acme --event ok --payload '{\"version\": \"1.0 beta\"}' "
        f"--timeout 1m --api-url {api} --state {journal} --resume {root}"), first
    # The journal (default: in TAKO_STATE_DIR) has each dispatch's intent and answer.
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    kinds = [r["k"] for r in records]
    assert kinds[:5] == ["start", *["intent", "outcome"] * 2] and kinds.count("run") == 2
    assert {r["result"] for r in records if r["k"] == "outcome"} == {"sent"}
    assert "--tree-json" not in first and "--format" not in first
    assert result.stderr.index(first) < result.stderr.index("dispatched ok to")
    assert json.loads(tree.read_text())["root"] == root


def test_a_tag_shaped_event_type_is_refused_before_anything(invoke: Any, emu: Emulator) -> None:
    before = len(emu.runs.all_runs())
    result = invoke("fan-out", "--event", "ok [tako:0123456789ab:-:0123456789ab]",
                    "--source", "acme/a")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --event 'ok [tako:0123456789ab:-:0123456789ab]' "
                                    "contains '[tako:', the shape of the tag"), result.stderr
    assert "tako: cascade" not in result.stderr and len(emu.runs.all_runs()) == before


def test_the_tree_json_is_rewritten_as_the_tree_changes(tmp_path: Path) -> None:
    from tako_gha.core.tree import Node, NodeState, TreeReport, TreeStatus
    from tako_gha.surfaces.reports.live import LiveTree, RecordingObserver

    path = tmp_path / "tree.json"
    observer = RecordingObserver(LiveTree(), str(path))
    origin = Node("acme/a", "a" * 12, NodeState.IN_PROGRESS,
                  children=[Node("acme/b", "b" * 12, NodeState.DISPATCHED)])
    observer.on_update(TreeReport("a" * 12, TreeStatus.RUNNING, origin))
    assert json.loads(path.read_text())["tree"]["children"][0]["state"] == "dispatched"
    origin.children[0].state = NodeState.SUCCESS
    observer.on_update(TreeReport("a" * 12, TreeStatus.SUCCESS, origin))
    assert json.loads(path.read_text())["status"] == "success"
    assert [p.name for p in tmp_path.iterdir()] == ["tree.json"]  # no temporary left
    observer.tree_json = str(tmp_path / "missing" / "tree.json")
    observer.on_update(TreeReport("a" * 12, TreeStatus.SUCCESS, origin))
    assert observer.write_failed and "cannot write" in observer.notes[-1]


def test_failure_exit_1_and_json_format(invoke: Any) -> None:
    result = invoke("fan-out", "--event", "boom", "--source", "acme/a", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "failure"
    assert data["tree"]["children"][0]["state"] == "failure"


def test_timeout_exit_3_then_cancel(invoke: Any, emu: Emulator) -> None:
    result = invoke("fan-out", "--event", "hang", "--source", "acme/a", "--timeout", "1.5s",
                    "--format", "json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["status"] == "timed_out"
    assert data["tree"]["children"][0]["state"] == "timed_out"
    root = data["root"]
    # The root's deadline has passed: status says what the fan-out said (one verdict),
    # though the run itself is still going.
    status = invoke("status", root, "--org", "acme", "--format", "json")
    assert status.exit_code == 3, status.output
    child = json.loads(status.stdout)["tree"]["children"][0]
    assert child["state"] == "timed_out" and "at its root's deadline" in child["reason"]
    waited = invoke("wait", root, "--org", "acme", "--timeout", "1s", "--format", "json")
    assert waited.exit_code == 3
    assert json.loads(waited.stdout)["status"] == "timed_out"
    cancelled = invoke("cancel", root, "--org", "acme", "--format", "json")
    assert cancelled.exit_code == 0, cancelled.output
    run_id = data["tree"]["children"][0]["run_id"]
    assert json.loads(cancelled.stdout) == {"root": root, "org": "acme", "count": 1,
                                            "cancelled": [{"repo": "acme/h", "run_id": run_id}]}
    again = invoke("cancel", root, "--org", "acme")
    assert again.stdout.strip() == f"0 run(s) cancelled in tree {root}"
    record = emu.runs.get(run_id)
    assert record is not None and record.conclusion == "cancelled"


def test_dry_run_dispatches_nothing(invoke: Any, emu: Emulator) -> None:
    before = len(emu.runs.all_runs())
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--dry-run",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["state"] for c in data["tree"]["children"]] == ["planned", "planned"]
    assert data["status"] == "success"  # final: nothing to wait on (was "running")
    assert len(emu.runs.all_runs()) == before


def test_dry_run_reports_say_so(invoke: Any, emu: Emulator, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--dry-run",
                    "--no-wait", "--summary", str(summary))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("dry run: nothing was dispatched")
    assert ": success after" in result.stdout
    assert "follow it" not in result.output  # no cascade exists to follow
    assert "dry run: nothing was dispatched; a real run would send 2" in summary.read_text()


def test_max_children_is_a_usage_error(invoke: Any) -> None:
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--max-children", "1")
    assert result.exit_code == 2
    assert "max_children (1)" in result.output and "--max-children" in result.output


@pytest.mark.parametrize("args, message", [
    (["--payload", "{nope"], "not valid JSON"),
    (["--payload", "[1]"], "must be a JSON object"),
    (["--payload", "@/does/not/exist.json"], "cannot read"),
    (["--timeout", "soon"], "--timeout"),
    (["--concurrency", "0"], "--concurrency"),
    (["--repos", "not-a-repo"], "--repos"),
    (["--source", "nope"], "not OWNER/REPO"),
])
def test_bad_flags_are_clean_usage_errors(invoke: Any, args: list[str], message: str) -> None:
    base = ["fan-out", "--event", "ok"]
    if "--source" not in args:
        base += ["--source", "acme/a"]
    result = invoke(*base, *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_missing_credentials_and_source(invoke: Any) -> None:
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a",
                    env={"GITHUB_TOKEN": ""})
    assert result.exit_code == 2 and "credentials" in result.output
    result = invoke("fan-out", "--event", "ok")
    assert result.exit_code == 2 and "--source" in result.output


def test_continues_the_tree_inside_a_dispatched_run(invoke: Any, tmp_path: Path) -> None:
    root, parent = "ab" * 6, "cd" * 6
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"client_payload": {"tako": {
        "root": root, "parent": None, "id": parent, "depth": 1,
        "chain": ["acme/x", "acme/a"]}}}))
    step_summary = tmp_path / "step-summary.md"
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/a",
           "GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_ACTIONS": "true",
           "GITHUB_STEP_SUMMARY": str(step_summary)}
    result = invoke("fan-out", "--event", "boom", "--format", "json", env=env)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["root"] == root and data["tree"]["id"] == parent
    child = data["tree"]["children"][0]
    assert child["depth"] == 2
    assert "::error title=tako%3A acme/f failure::" in result.stderr
    assert "acme/f" in step_summary.read_text()
    event.write_text(json.dumps({"client_payload": {"tako": {"root": "bad", "id": parent}}}))
    result = invoke("fan-out", "--event", "boom", env=env)
    assert result.exit_code == 2 and "tako.root" in result.output


def test_status_of_a_bad_root_id(invoke: Any) -> None:
    result = invoke("status", "main", "--org", "acme")
    assert result.exit_code == 2 and "not a tako root id" in result.output


def test_payload_from_file(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"version": "2.0.0"}')
    assert read_payload(f"@{path}") == {"version": "2.0.0"}
    assert read_payload(None) == {}


def test_source_from_git_remote(tmp_path: Path) -> None:
    import git

    repo = git.Repo.init(tmp_path / "co")
    repo.create_remote("origin", "git@github.com:acme/core-lib.git")
    assert repo_from_remote(tmp_path / "co") == "acme/core-lib"
    assert resolve_source(None, {}, tmp_path / "co") == "acme/core-lib"
    assert resolve_source(None, {"GITHUB_REPOSITORY": "acme/x"}, tmp_path / "co") == "acme/x"
    repo.remotes.origin.set_url("https://github.com/acme/svc.git")
    assert repo_from_remote(tmp_path / "co") == "acme/svc"
    assert repo_from_remote(tmp_path) is None
    with pytest.raises(UserError):
        resolve_source(None, {}, tmp_path)


def test_resume_sends_nothing_twice(invoke: Any, emu: Emulator) -> None:
    first = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--format", "json")
    assert first.exit_code == 0
    root = json.loads(first.stdout)["root"]
    before = len(emu.runs.all_runs())
    again = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--resume", root,
                   "--format", "json")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["root"] == root and data["status"] == "success"
    assert len(emu.runs.all_runs()) == before
    bad = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--resume", "nope")
    assert bad.exit_code == 2 and "not a tako root id" in bad.output


def test_summary_keeps_the_notes_like_the_action(invoke: Any, tmp_path: Path) -> None:
    """`--summary` writes what the action writes to the job summary, notes included
    (why repositories were skipped; here, that nothing subscribes)."""
    summary = tmp_path / "summary.md"
    result = invoke("fan-out", "--event", "nobody", "--source", "acme/a", "--summary",
                    str(summary))
    assert result.exit_code == 0, result.output
    text = summary.read_text()
    assert "### Notes (6)" in text
    # Left out by its own subscription: "not for", not "skipped" (nothing went wrong).
    assert "- not for acme/b: event type 'nobody' is not in its events \\[ok\\]" in text
    assert "no repository of acme subscribes to nobody from acme/a" in text
    assert "fanning out" not in text  # progress chatter stays in the log


# ---------------------------------------------------------------- access lost mid-run
def _fault_after_first_run(emu: Emulator, repo: str, faults: dict[str, Any]) -> threading.Thread:
    """Once a new run of ``repo`` exists and was listed for a moment, inject ``faults``."""
    known = {r.id for r in emu.runs.all_runs()}

    def inject() -> None:
        until = time.monotonic() + 20
        while time.monotonic() < until:
            if any(r.repo == repo and r.id not in known for r in emu.runs.all_runs()):
                time.sleep(1.0)  # a few rounds list it fine first
                emu.set_faults(faults)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=inject, daemon=True)
    thread.start()
    return thread


def _stop_hanging(invoke: Any, emu: Emulator) -> None:
    """Cancel the hanging runs a test left (the runner is shared by the module)."""
    roots = {(r.client_payload or {}).get("tako", {}).get("root")
             for r in emu.runs.all_runs() if r.repo == "acme/h" and r.status != "completed"}
    for root in roots - {None}:
        assert invoke("cancel", root, "--org", "acme").exit_code == 0


def _hang_with_fault(invoke: Any, emu: Emulator,
                     errors: list[dict[str, Any]]) -> tuple[Outcome, float]:
    """fan-out to the hanging acme/h with a 40 s timeout; ``errors`` start once its
    run exists. Returns the outcome and how long it took."""
    thread = _fault_after_first_run(emu, "acme/h", {"errors": errors})
    started = time.monotonic()
    try:
        result = invoke("fan-out", "--event", "hang", "--source", "acme/a",
                        "--timeout", "40s", "--format", "json")
    finally:
        thread.join()
        emu.set_faults({})
    return result, time.monotonic() - started


def test_a_token_revoked_mid_wait_is_exit_2_at_once_not_a_timeout(invoke: Any,
                                                                  emu: Emulator) -> None:
    runs_before = len(emu.runs.all_runs())
    result, seconds = _hang_with_fault(invoke, emu, [
        {"kind": "runs_list", "status": 401, "rate": 1.0},
        {"kind": "run", "status": 401, "rate": 1.0},
        {"kind": "graphql", "status": 401, "rate": 1.0}])  # where run states are read
    try:
        assert result.exit_code == 2, result.output
        assert seconds < 15  # not the 40 s timeout
        assert result.stdout == ""  # no tree claiming to be timed out
        match = re.search(r"error: stopped waiting on cascade ([0-9a-f]{12}): GitHub "
                          r"rejected the token \(401 Bad credentials\); 1 node\(s\) still "
                          r"running could not be followed", result.stderr)
        assert match is not None, result.stderr
        assert (f"hint: set GITHUB_TOKEN or GH_TOKEN to a valid, unexpired token; runs "
                f"already started keep going: follow them with tako-gha status "
                f"{match.group(1)} --org acme --wait") in result.stderr
        assert "Traceback" not in result.output
        assert len(emu.runs.all_runs()) == runs_before + 1  # dispatched once, not again
    finally:
        _stop_hanging(invoke, emu)


def test_a_repo_gone_mid_wait_is_an_error_node_not_a_timeout(invoke: Any,
                                                            emu: Emulator) -> None:
    # The run's state is read through GraphQL first: a server that then answers 404
    # there too makes tako read it through the listing, which keeps answering 404.
    result, seconds = _hang_with_fault(invoke, emu, [
        {"kind": "runs_list", "status": 404, "rate": 1.0},
        {"kind": "graphql", "status": 404, "rate": 1.0}])
    try:
        assert result.exit_code == 1, result.output
        assert seconds < 15
        data = json.loads(result.stdout)
        assert data["status"] == "failure"
        [node] = data["tree"]["children"]
        assert node["state"] == "error" and node["run_id"] is not None
        assert "acme/h can no longer be listed" in node["reason"]
        assert "acme/h still exists" in node["hint"]
    finally:
        _stop_hanging(invoke, emu)
