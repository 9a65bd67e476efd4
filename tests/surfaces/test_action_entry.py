"""The action entry's input handling and what it writes (no network needed)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from report_samples import sample_report, wide_report

from tako_gha.core.tree import Node, NodeState, TreeReport, TreeStatus
from tako_gha.emulator.worldgen import receiver_workflow, subscriber_config
from tako_gha.surfaces import action
from tako_gha.surfaces.action import InputError, read_inputs
from tako_gha.surfaces.workflow_commands import (
    command,
    escape_data,
    escape_property,
    output_block,
    parse_output_file,
)

BASE = {"TAKO_INPUT_EVENT_TYPE": "library_built", "GITHUB_REPOSITORY": "acme/core-lib",
        "GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_TOKEN": "t-secret"}


def _env(**extra: str) -> dict[str, str]:
    return {**BASE, **extra}


def test_defaults_follow_the_contract_and_the_environment() -> None:
    inputs = read_inputs(_env())
    assert inputs.org == "acme"  # the repository owner
    assert inputs.api_url == "http://127.0.0.1:9"  # github.api_url
    assert inputs.token == "t-secret"
    assert inputs.payload == {}
    assert inputs.repos == []
    assert inputs.options.wait is True
    assert inputs.options.timeout == 1800
    assert inputs.options.discovery_timeout == 120
    assert inputs.options.concurrency_limit == 20
    assert inputs.options.dedupe == "none"
    assert inputs.config_path == "tako.yml"


def test_every_input_is_read() -> None:
    inputs = read_inputs(_env(
        TAKO_INPUT_PAYLOAD='{"version": "2.0.0"}', TAKO_INPUT_SCHEMA_VERSION="1.2.0",
        TAKO_INPUT_WAIT_FOR_CHILDREN="false", TAKO_INPUT_TIMEOUT="90s",
        TAKO_INPUT_DISCOVERY_TIMEOUT="1m", TAKO_INPUT_CONCURRENCY_LIMIT="3",
        TAKO_INPUT_FAIL_FAST="true", TAKO_INPUT_CANCEL_ON_TIMEOUT="TRUE",
        TAKO_INPUT_MAX_DEPTH="4", TAKO_INPUT_DEDUPE="root", TAKO_INPUT_ORG="other",
        TAKO_INPUT_REPOS="acme/a, acme/b\nacme/c", TAKO_INPUT_CONFIG_PATH=".tako.yml",
        TAKO_INPUT_TOKEN="t-input", TAKO_INPUT_API_URL="https://ghe.example/api/v3/",
        TAKO_INPUT_DRY_RUN="true", TAKO_POLL_MIN_INTERVAL="0.1", TAKO_MAX_CHILDREN="500",
        TAKO_SIBLING_GRACE="0.5"))
    assert inputs.payload == {"version": "2.0.0"}
    assert inputs.schema_version == "1.2.0"
    assert inputs.org == "other" and inputs.token == "t-input"
    assert inputs.api_url == "https://ghe.example/api/v3"
    assert inputs.repos == ["acme/a", "acme/b", "acme/c"]
    assert inputs.config_path == ".tako.yml"
    opts = inputs.options
    assert (opts.wait, opts.timeout, opts.discovery_timeout) == (False, 90, 60)
    assert (opts.concurrency_limit, opts.max_depth, opts.dedupe) == (3, 4, "root")
    assert opts.fail_fast and opts.cancel_on_timeout and opts.dry_run
    assert opts.poll_min_interval == 0.1 and opts.poll_max_interval == pytest.approx(0.4)
    assert opts.max_children == 500 and opts.sibling_grace == 0.5


@pytest.mark.parametrize(("extra", "needle"), [
    ({"TAKO_INPUT_EVENT_TYPE": ""}, "input event_type is required"),
    ({"TAKO_INPUT_EVENT_TYPE": "x" * 101}, "at most 100"),
    ({"TAKO_INPUT_EVENT_TYPE": "built [TAKO:x"}, "input event_type: contains '[TAKO:'"),
    ({"TAKO_INPUT_PAYLOAD": "{nope"}, "input payload: line 1 column 2: not valid JSON"),
    ({"TAKO_INPUT_PAYLOAD": "[1]"}, "must be a JSON object, got an array"),
    ({"TAKO_INPUT_PAYLOAD": '{"a": NaN}'}, "input payload: line 1 column 7 ($.a): NaN is not"),
    ({"TAKO_INPUT_PAYLOAD": "[" * 100_000}, "nested deeper than 64 levels"),
    ({"TAKO_INPUT_PAYLOAD": '{"n": ' + "9" * 5000 + "}"}, "a number of 5,000 characters"),
    ({"TAKO_INPUT_SCHEMA_VERSION": "x"}, "input schema_version: 'x' is not a version"),
    ({"TAKO_INPUT_API_URL": "https://me:hunter2@ghe.example/api/v3"},
     "input api_url: 'https://***@ghe.example/api/v3' holds credentials"),
    ({"TAKO_INPUT_TIMEOUT": "soon"}, "input timeout: cannot read duration 'soon'"),
    ({"TAKO_INPUT_TIMEOUT": "0"}, "input timeout: must be longer than zero"),
    ({"TAKO_INPUT_CONCURRENCY_LIMIT": "many"}, "input concurrency_limit: expected a whole"),
    ({"TAKO_INPUT_MAX_DEPTH": "0"}, "input max_depth: must be at least 1"),
    ({"TAKO_INPUT_FAIL_FAST": "maybe"}, "input fail_fast: expected true or false"),
    ({"TAKO_INPUT_DEDUPE": "leaf"}, "input dedupe: expected one of none, root"),
    ({"TAKO_INPUT_REPOS": "acme/ok, not a repo"}, "input repos: 'not a repo' is not owner"),
    ({"TAKO_INPUT_API_URL": "ftp://x"}, "input api_url: expected an http(s) URL"),
    ({"GITHUB_REPOSITORY": ""}, "GITHUB_REPOSITORY is not set"),
    ({"TAKO_POLL_MIN_INTERVAL": "fast"}, "TAKO_POLL_MIN_INTERVAL: expected a number"),
    # bytes that are not UTF-8 (before: an internal error for org and config_path, and
    # an event type the CLI refuses was taken)
    ({"TAKO_INPUT_ORG": "ac\udcffme"}, "input org: character 3 is not valid Unicode"),
    ({"TAKO_INPUT_CONFIG_PATH": "t\udcff.yml"},
     "input config_path: character 2 is not valid Unicode"),
    ({"TAKO_INPUT_EVENT_TYPE": "ok\udcff"}, "input event_type: character 3 is not valid"),
    ({"TAKO_INPUT_TOKEN": "t\udcff"}, "input token: character 2 is not valid Unicode"),
])
def test_bad_inputs_are_named(extra: dict[str, str], needle: str) -> None:
    with pytest.raises(InputError, match=None) as info:
        read_inputs(_env(**extra))
    assert needle in str(info.value)


def test_bad_input_exits_2_with_an_error_command_after_masking(tmp_path: Path) -> None:
    out = io.StringIO()
    code = action.run(_env(TAKO_INPUT_TOKEN="t-in\nput", TAKO_INPUT_DEDUPE="leaf"), out)
    lines = out.getvalue().splitlines()
    assert code == 2
    assert lines[:3] == ["::add-mask::t-in", "::add-mask::put", "::add-mask::t-secret"]
    assert lines[3].startswith("::error title=tako-gha::input dedupe")
    assert "t-secret" not in "\n".join(lines[3:])


def test_every_bad_input_is_reported_at_once() -> None:
    env = _env(TAKO_INPUT_EVENT_TYPE="", TAKO_INPUT_PAYLOAD="{nope", TAKO_INPUT_TIMEOUT="soon",
               TAKO_INPUT_DEDUPE="leaf", TAKO_INPUT_REPOS="x, acme/ok, y",
               TAKO_INPUT_API_URL="https://me:hunter2@ghe.example", TAKO_MAX_CHILDREN="-1")
    with pytest.raises(InputError) as info:
        read_inputs(env)
    assert [p.split(":")[0].split(" is ")[0] for p in info.value.problems] == [
        "input event_type", "input payload", "input repos", "input repos", "input api_url",
        "input timeout", "input dedupe", "environment TAKO_MAX_CHILDREN"]
    out = io.StringIO()
    assert action.run(env, out) == 2
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert len(errors) == 8  # one annotation per bad input
    assert "hunter2" not in out.getvalue() and "https://***@ghe.example" in out.getvalue()


def test_missing_token_is_a_clear_error() -> None:
    env = _env()
    del env["GITHUB_TOKEN"]
    out = io.StringIO()
    assert action.run(env, out) == 2
    assert "::error title=tako-gha::no token" in out.getvalue()
    assert "GITHUB_TOKEN reaches only" in out.getvalue()


def test_module_entry_never_prints_a_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GITHUB_REPOSITORY": "acme/x",
           "TAKO_INPUT_EVENT_TYPE": "e", "TAKO_INPUT_PAYLOAD": "nope"}
    proc = subprocess.run([sys.executable, "-m", "tako_gha.surfaces.action"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stdout.startswith("::error title=tako-gha::input payload: line 1 column 1: "
                                  "not valid JSON")
    assert "Traceback" not in proc.stdout + proc.stderr


def test_publish_writes_outputs_summary_and_annotations(tmp_path: Path) -> None:
    output, summary = tmp_path / "out", tmp_path / "summary.md"
    output.write_text("earlier=1\n")
    out = io.StringIO()
    action.publish(sample_report(), {"GITHUB_OUTPUT": str(output),
                                     "GITHUB_STEP_SUMMARY": str(summary)}, out)
    values = parse_output_file(output.read_text())
    assert values["earlier"] == "1"
    assert values["root_id"] == "f00df00df00d"
    assert values["status"] == "failure"
    assert values["dispatched"] == "4"  # svc-a, svc-c, svc-b, svc-e (not the dedupe)
    assert values["failed"] == "2"
    tree = json.loads(values["tree"])
    assert tree["tree"]["children"][0]["children"][0]["state"] == "failure"
    assert summary.read_text().startswith("## ❌ tako cascade `f00df00df00d`")
    errors = out.getvalue().splitlines()
    assert errors[0] == ("::error title=tako%3A acme/svc-c failure::acme/core-lib → acme/svc-a"
                         " → acme/svc-c: failure — job build failed: exit 1 "
                         "(http://127.0.0.1:1/acme/svc-c/actions/runs/1003)")
    assert errors[1].startswith("::error title=tako%3A acme/svc-b not_started::")


def test_annotations_are_capped_and_timeouts_annotated() -> None:
    lines = action.annotation_lines(wide_report(30, failed_every=1))
    assert len(lines) == action.MAX_ANNOTATIONS + 1
    assert "20 more failed nodes" in lines[-1]
    origin = Node("acme/a", "1" * 12, NodeState.SUCCESS, children=[
        Node("acme/b", "2" * 12, NodeState.IN_PROGRESS)])
    timed_out = TreeReport("1" * 12, TreeStatus.TIMED_OUT, origin)
    assert action.annotation_lines(timed_out) == [
        "::error title=tako%3A timed out::the cascade timed out before every run finished"]


def test_tree_output_stays_under_the_output_limit() -> None:
    report = wide_report(12_000, reason="r" * 80, failed_every=3)
    text = action.tree_output(report)
    assert len(text.encode()) <= action.MAX_OUTPUT_BYTES
    data = json.loads(text)
    assert data["truncated"] is True and len(data["failed"]) == 1000


def test_cascade_context_only_inside_a_tako_dispatch(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    assert action.cascade_context("", "acme/x") is None
    event.write_text("{not json")
    assert action.cascade_context(str(event), "acme/x") is None
    event.write_text(json.dumps({"client_payload": {"event": {}}}))
    assert action.cascade_context(str(event), "acme/x") is None


def test_cascade_context_of_a_workflow_dispatch_run(tmp_path: Path) -> None:
    """Exact mode: the action continues the tree from the `tako` input."""
    event = tmp_path / "event.json"
    tako = {"root": "0123456789ab", "id": "ba9876543210", "depth": 1,
            "chain": ["acme/a", "acme/x"]}
    event.write_text(json.dumps({"inputs": {"tako": json.dumps(tako)}}))
    ctx = action.cascade_context(str(event), "acme/x")
    assert ctx is not None and (ctx.root, ctx.parent, ctx.depth) == (
        "0123456789ab", "ba9876543210", 2)
    event.write_text(json.dumps({"inputs": {"version": "1"}}))  # dispatched by hand
    assert action.cascade_context(str(event), "acme/x") is None


def test_an_altered_tako_input_is_named_as_the_run_has_it(tmp_path: Path) -> None:
    """A workflow dispatch's bad context names `inputs.tako` (the run has no
    client_payload), in the error the CLI shows."""
    from tako_gha.engine.context import context_from_environment

    event = tmp_path / "event.json"
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/x",
           "GITHUB_EVENT_NAME": "workflow_dispatch"}
    event.write_text(json.dumps({"inputs": {"tako": json.dumps({"root": "zz"})}}))
    with pytest.raises(ValueError, match=r"^inputs\.tako\.root is not a tako id: 'zz'$"):
        context_from_environment(env)
    event.write_text(json.dumps({"client_payload": {"tako": {"root": "zz"}}}))
    with pytest.raises(ValueError, match=r"^client_payload\.tako\.root is not a tako id"):
        context_from_environment({**env, "GITHUB_EVENT_NAME": "repository_dispatch"})


def test_a_hostile_event_file_is_not_a_crash(tmp_path: Path) -> None:
    """A dispatch whose client_payload is nested 30,000 deep (it fits GitHub's 64 KB)
    made json.loads hit the recursion limit: the step died with an internal error."""
    from tako_gha.engine.context import context_from_environment

    event = tmp_path / "event.json"
    event.write_text('{"client_payload": {"x": ' + "[" * 30_000 + "]" * 30_000 + "}}")
    assert action.cascade_context(str(event), "acme/x") is None
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "acme/x"}
    assert context_from_environment(env) is None
    event.write_text('{"client_payload": {"x": NaN, "tako": 1}}')
    assert action.cascade_context(str(event), "acme/x") is None


def test_workflow_command_escaping() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c\n") == "a%3Ab%2Cc%0A"
    assert command("warning", "m", {"title": "t", "file": ""}) == "::warning title=t::m"
    block = output_block("tree", "line1\nline2")
    assert parse_output_file(block) == {"tree": "line1\nline2"}


def test_skipped_repositories_become_warnings_errors_first(tmp_path: Path) -> None:
    notes = [f"skipped acme/r{i}: schema_version 1.0.0 is not in ^2" for i in range(12)]
    notes.append("skipped acme/broken: tako.yml could not be used: tako.yml:1:1: bad YAML")
    notes.append("warning: this fan-out is at depth 7")
    lines = action.note_annotations(notes)
    assert lines[0] == ("::warning title=tako%3A skipped acme/broken::tako.yml could not be "
                        "used: tako.yml:1:1: bad YAML")
    assert len(lines) == action.MAX_ANNOTATIONS + 1
    assert "3 more repositories skipped" in lines[-1]
    summary = tmp_path / "summary.md"
    out = io.StringIO()
    action.publish(sample_report(), {"GITHUB_STEP_SUMMARY": str(summary)}, out, notes)
    assert "### Notes (14)" in summary.read_text()
    assert "::warning title=tako%3A skipped acme/broken::" in out.getvalue()


# ------------------------------------------------------------------ in process, on the emulator
RECEIVER = receiver_workflow("built")
SUBSCRIBER = subscriber_config("acme/core", "built")


@pytest.fixture
def emulator(tmp_path: Path):  # type: ignore[no-untyped-def]
    from tako_gha.emulator import Emulator
    from tako_gha.emulator.worldgen import write_world

    world = write_world(tmp_path / "world", {
        "acme/core": {"tako.yml": "version: 1\nevents:\n  produces: [built]\n"},
        "acme/a": {"tako.yml": SUBSCRIBER, ".github/workflows/on-tako.yml": RECEIVER},
    }, {"tokens": {"t-ok": {"repos": ["*"]}}})
    with Emulator(world, port=0) as emu:
        yield emu


def _live_env(emu, tmp_path: Path, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"TAKO_INPUT_EVENT_TYPE": "built", "GITHUB_REPOSITORY": "acme/core",
            "TAKO_INPUT_TOKEN": "t-ok", "TAKO_INPUT_API_URL": emu.base_url,
            "TAKO_INPUT_TIMEOUT": "60s", "TAKO_POLL_MIN_INTERVAL": "0.1",
            "TAKO_SIBLING_GRACE": "0.2", "GITHUB_OUTPUT": str(tmp_path / "out"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), **extra}


def test_the_entry_fans_out_and_publishes(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    code = action.run(_live_env(emulator, tmp_path), out)
    log = out.getvalue()
    assert code == 0, log
    values = parse_output_file((tmp_path / "out").read_text())
    root, api = values["root_id"], emulator.base_url
    # Once checked, before anything is dispatched: the root_id output (written first)
    # and a notice naming the cascade and the commands that reach it.
    assert (tmp_path / "out").read_text().startswith("root_id<<")
    assert log.startswith("::add-mask::t-ok\n"
                          "tako: fanning out built from acme/core in acme (a new cascade)"), log
    assert (
        f"\n::notice title=tako cascade {root}::cascade {root}; follow it: tako-gha status "
        f"{root} --org acme --api-url {api} --wait; if this step stops early, send the "
        f"rest: tako-gha fan-out --event built --source acme/core --org acme --api-url {api} "
        f"--resume {root}\n") in log
    assert log.index("::notice") < log.index("dispatched")
    assert "acme/a: dispatched → " in log or "acme/a: planned → dispatched" in log
    assert (values["status"], values["dispatched"], values["failed"]) == ("success", "1", "0")
    (child,) = json.loads(values["tree"])["tree"]["children"]
    assert child["repo"] == "acme/a" and child["state"] == "success"
    assert "## ✅ tako cascade" in (tmp_path / "summary.md").read_text()


def test_a_dry_run_ends_with_a_final_status(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    code = action.run(_live_env(emulator, tmp_path, TAKO_INPUT_DRY_RUN="true"), out)
    assert code == 0, out.getvalue()
    values = parse_output_file((tmp_path / "out").read_text())
    # Nothing dispatched, nothing to wait on: "success", not "running".
    assert (values["status"], values["dispatched"], values["failed"]) == ("success", "0", "0")
    assert "dry run: nothing was dispatched" in (tmp_path / "summary.md").read_text()
    assert emulator.runs.all_runs() == []


def test_the_entry_continues_the_tree_it_runs_in(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "up_built", "client_payload": {
        "event": {"type": "up_built", "source": "acme/up", "payload": {}},
        "tako": {"root": "a1" * 6, "parent": None, "id": "b2" * 6, "depth": 1,
                 "chain": ["acme/up", "acme/core"], "deadline": None, "title": "t"}}}))
    out = io.StringIO()
    env = _live_env(emulator, tmp_path, GITHUB_EVENT_PATH=str(event),
                    GITHUB_EVENT_NAME="repository_dispatch")
    assert action.run(env, out) == 0, out.getvalue()
    assert f"(tree {'a1' * 6} at depth 2)" in out.getvalue()
    (run,) = emulator.runs.list_runs("acme/a")
    tako = run.client_payload["tako"]
    assert (tako["root"], tako["parent"], tako["depth"]) == ("a1" * 6, "b2" * 6, 2)
    assert tako["chain"] == ["acme/up", "acme/core", "acme/a"]


def test_a_malformed_tako_context_is_an_input_error(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"client_payload": {"tako": {"root": "nope", "id": "x"}}}))
    out = io.StringIO()
    assert action.run(_env(GITHUB_EVENT_PATH=str(event)), out) == 2
    assert "cannot continue the cascade this run belongs to: client_payload.tako.root" \
        in out.getvalue()


def test_a_token_the_api_refuses_is_a_clear_error(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    code = action.run(_live_env(emulator, tmp_path, TAKO_INPUT_TOKEN="t-unknown"), out)
    assert code == 2
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "t-unknown" not in errors[0]
    assert emulator.runs.all_runs() == []


def test_a_token_refused_mid_run_is_one_clear_error(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Revoked between the preflight and the dispatch: exit 2 like the CLI, the error
    # names the cascade and how to pick it up, and no tree claims a timeout.
    emulator.set_faults({"errors": [{"kind": "dispatch", "status": 401, "rate": 1.0}]})
    out = io.StringIO()
    code = action.run(_live_env(emulator, tmp_path), out)
    assert code == 2, out.getvalue()
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert "stopped waiting on cascade" in errors[0] and "401 Bad credentials" in errors[0]
    assert "1 planned dispatch(es) were not sent" in errors[0]
    assert "--resume" in errors[0] and "t-ok" not in errors[0]
    assert emulator.runs.all_runs() == []
    # A later `if: always()` step can follow the root; nothing claims a final status.
    written = (tmp_path / "out").read_text()
    root = errors[0].split("stopped waiting on cascade ", 1)[1].split(":", 1)[0]
    assert "root_id<<" in written and f"\n{root}\n" in written
    assert "dispatched<<" in written and "status<<" not in written


def test_main_turns_a_bug_into_one_error_line(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def broken(env: object, out: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(action, "run", broken)
    monkeypatch.delenv("RUNNER_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        action.main()
    assert info.value.code == 2
    assert capsys.readouterr().out == ("::error title=tako-gha internal error::internal error: "
                                       "RuntimeError: boom\n")


def test_tuning_numbers_must_be_positive() -> None:
    with pytest.raises(InputError, match="TAKO_MAX_CHILDREN: must be positive"):
        read_inputs(_env(TAKO_MAX_CHILDREN="0"))


def test_notes_keep_what_the_tree_does_not_show() -> None:
    from rich.console import Console

    from tako_gha.surfaces.reports import LiveTree
    from tako_gha.surfaces.reports.live import RecordingObserver

    recorder = RecordingObserver(LiveTree(Console(file=io.StringIO())))
    for text in ("dispatched built to acme/a", "found acme/b (depth 2) under acme/a",
                 "skipped acme/c: no match", "re-sent built to acme/d"):
        recorder.on_message(text)
    assert recorder.notes == ["skipped acme/c: no match", "re-sent built to acme/d"]


def test_publish_hands_runless_children_up_as_notices() -> None:
    """A cycle refused inside a child's action step must reach the root's tree:
    the root can only learn of it from this notice (the refused node has no run)."""
    from tako_gha.engine.handoff import node_from_annotation
    from tako_gha.forge.base import Annotation

    origin = Node("acme/b", "a" * 12, NodeState.IN_PROGRESS)
    refused = Node("acme/a", "b" * 12, NodeState.CYCLE, event_type="built", depth=2,
                   reason="cycle: acme/a → acme/b → acme/a")
    origin.children.append(refused)
    out = io.StringIO()
    action.publish(TreeReport("c" * 12, TreeStatus.FAILURE, origin), {}, out)
    notices = [line for line in out.getvalue().splitlines()
               if line.startswith("::notice title=tako-node::")]
    assert len(notices) == 1
    message = notices[0].split("::", 2)[2]
    node = node_from_annotation(Annotation("notice", message, "tako-node"))
    assert node is not None
    assert (node.repo, node.state, node.reason) == (
        "acme/a", NodeState.CYCLE, "cycle: acme/a → acme/b → acme/a")


def test_an_undeclared_event_is_refused_before_any_dispatch(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    code = action.run(_live_env(emulator, tmp_path, TAKO_INPUT_EVENT_TYPE="biult"), out)
    log = out.getvalue()
    assert code == 2, log
    assert "acme/core does not produce event type 'biult'" in log
    assert "did you mean 'built'?" in log and "allow_undeclared_event: true" in log
    # No cascade was announced: no notice, no root_id output, nothing sent.
    assert "::notice" not in log and not (tmp_path / "out").exists()
    assert emulator.runs.all_runs() == []


def test_an_undeclared_event_is_sent_when_the_input_allows_it(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    env = _live_env(emulator, tmp_path, TAKO_INPUT_EVENT_TYPE="biult",
                    TAKO_INPUT_ALLOW_UNDECLARED_EVENT="true")
    code = action.run(env, out)
    assert code == 0, out.getvalue()
    assert "nothing to dispatch" in out.getvalue()  # nobody subscribes to it: sent to none
    assert parse_output_file((tmp_path / "out").read_text())["status"] == "success"


def test_expected_skips_are_not_warnings() -> None:
    notes = ["skipped acme/broken: tako.yml could not be used: tako.yml:1:1: bad YAML",
             *[f"not for acme/r{i}: schema_version 1.0.0 is outside '^2'" for i in range(12)]]
    quiet = action.note_annotations(notes)
    assert quiet == ["::warning title=tako%3A skipped acme/broken::tako.yml could not be "
                     "used: tako.yml:1:1: bad YAML"]
    noticed = action.note_annotations(notes, expected="notice")
    assert noticed[1] == ("::notice title=tako%3A not for acme/r0::schema_version 1.0.0 is "
                          "outside '^2'")
    assert len(noticed) == 1 + action.MAX_ANNOTATIONS + 1
    assert noticed[-1].startswith("::notice ") and "2 more repositories" in noticed[-1]
    assert not any(line.startswith("::warning") for line in noticed[1:])


def test_expected_skips_input_is_checked() -> None:
    assert read_inputs(_env(TAKO_INPUT_EXPECTED_SKIPS="Notice")).expected_skips == "notice"
    with pytest.raises(InputError, match="input expected_skips: expected one of summary, "
                                         "notice, got 'warning'"):
        read_inputs(_env(TAKO_INPUT_EXPECTED_SKIPS="warning"))


def test_a_healthy_release_skipping_subscribers_raises_no_warning(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    code = action.run(_live_env(emulator, tmp_path, TAKO_INPUT_EVENT_TYPE="docs_built",
                                TAKO_INPUT_ALLOW_UNDECLARED_EVENT="true"), out)
    log = out.getvalue()
    assert code == 0, log
    # acme/a subscribes to built only: said in the log and the summary, not a warning.
    assert "not for acme/a: event type 'docs_built' is not in its events [built]" in log
    assert "::warning" not in log
    assert "not for acme/a" in (tmp_path / "summary.md").read_text()


def test_an_unreachable_api_is_named_by_the_input_the_action_has() -> None:
    # The forge's hints name the CLI's --api-url; a workflow sets the api_url input.
    out = io.StringIO()
    assert action.run(_env(), out) == 2  # nothing listens on 127.0.0.1:9
    text = out.getvalue()
    assert "api_url input" in text and "--api-url" not in text, text
