"""What a platform engineer meets at the command line, bad inputs included.

Each test runs the real console entry (``main``, or the installed ``tako-gha`` in a
subprocess where a signal is involved) and asserts what the user sees: the exit
code, one ``error:`` line with a hint, never a traceback, never the token.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_world import Outcome, outside_actions, receiver, run_console, subscription

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.forge.base import NotFoundError
from tako_gha.surfaces import hook
from tako_gha.surfaces.cli import main

# Distinctive, so a leak into any output is found by a plain substring search.
TOKEN = "ghp_QAjourneySecret4242"
READER = "ghp_QAjourneyReader7777"


def _workflow(event: str, work: str) -> str:
    return receiver(event, work, timeout_minutes=2)


def _sub(event: str) -> str:
    return subscription("qa/src", event)


WORLD = {
    "qa/src": {"tako.yml": "version: 1\nevents:\n  produces:\n    - type: ok\n"
                           "      schema_version: 1.0.0\n    - type: hang\n"},
    "qa/ok": {"tako.yml": _sub("ok"), ".github/workflows/w.yml": _workflow("ok", "echo ok")},
    "qa/hang": {"tako.yml": _sub("hang"),
                ".github/workflows/w.yml": _workflow("hang", "sleep 60")},
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = write_world(tmp_path_factory.mktemp("journeys") / "world", WORLD,
                       {"tokens": {TOKEN: {"repos": ["*"]},
                                   READER: {"repos": ["*"], "dispatch": False}},
                        "admin_token": TOKEN, "runner": {"capacity": 4}})
    emulator = Emulator(root, port=0).start()
    yield emulator
    emulator.stop()


def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    outside_actions(monkeypatch, tmp_path, "GITHUB_TOKEN", "GITHUB_API_URL", "TAKO_APP_ID",
                    "TAKO_APP_PRIVATE_KEY")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Any:
    """``run(*args, env={...})``: the console entry; asserts the rules every outcome
    must keep (no traceback, no token) and returns exit code and output."""
    _clean_env(monkeypatch, tmp_path)
    base = {"GITHUB_TOKEN": TOKEN, "TAKO_CACHE_DIR": str(tmp_path / "cache"),
            "TAKO_POLL_MIN_INTERVAL": "0.1", "TAKO_POLL_MAX_INTERVAL": "0.3",
            "TAKO_SIBLING_GRACE": "0.2"}

    def _run(*args: str, env: dict[str, str | None] | None = None) -> Outcome:
        with monkeypatch.context() as patch:
            for name, value in {**base, **(env or {})}.items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            result = run_console(main, args, capsys)
        assert "Traceback" not in result.output
        assert TOKEN not in result.output and READER not in result.output
        return result

    return _run


def _one_error(result: Outcome, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# ---------------------------------------------------------------- durations
@pytest.mark.parametrize("value", ["inf", "nan", "99999999999h", "1e400"])
def test_absurd_timeouts_are_usage_errors_not_overflows(run: Any, emu: Emulator,
                                                        value: str) -> None:
    # Used to reach datetime arithmetic and die with OverflowError (nan was accepted).
    result = run("fan-out", "--event", "ok", "--source", "qa/src", "--timeout", value,
                 "--api-url", emu.base_url)
    _one_error(result, 2, "--timeout")
    status = run("status", "0123456789ab", "--org", "qa", "--wait", "--timeout", value,
                 "--api-url", emu.base_url)
    _one_error(status, 2, "--timeout")


def test_unreadable_duration_states_its_examples_once(run: Any) -> None:
    result = run("fan-out", "--event", "ok", "--source", "qa/src", "--timeout", "5x")
    _one_error(result, 2, "--timeout", "'5x'")
    assert result.stderr.count("1h30m") == 1


def test_demo_timeout_zero_is_named_before_anything_starts(run: Any) -> None:
    result = run("demo", "--timeout", "0")
    _one_error(result, 2, "--timeout: must be more than zero")
    assert "emulator at" not in result.output  # refused before the emulator started


# ---------------------------------------------------------------- payloads
def test_payload_files_that_are_not_text(run: Any, tmp_path: Path) -> None:
    binary = tmp_path / "payload.bin"
    binary.write_bytes(b'{"a": "\xff\xfe"}')
    fan = run("fan-out", "--event", "ok", "--source", "qa/src", "--payload", f"@{binary}")
    _one_error(fan, 2, "not UTF-8")
    plan = run("plan", "--workspace", str(tmp_path), "--source", "qa/src", "--event", "ok",
               "--payload", f"@{binary}")
    _one_error(plan, 2, "not UTF-8")
    missing = run("plan", "--workspace", str(tmp_path), "--source", "qa/src", "--event", "ok",
                  "--payload", "@nope.json")
    _one_error(missing, 2, "No such file or directory")
    assert "FileNotFoundError" not in missing.stderr  # no Python class names


def test_dry_run_shows_an_oversize_payload_as_the_error_it_would_be(
        run: Any, emu: Emulator, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * 70_000}), encoding="utf-8")
    dispatches = _dispatch_count(emu)
    result = run("fan-out", "--event", "ok", "--source", "qa/src", "--payload", f"@{big}",
                 "--dry-run", "--format", "json", "--api-url", emu.base_url)
    assert result.exit_code == 1, result.output
    [node] = json.loads(result.stdout)["tree"]["children"]
    assert node["state"] == "error" and "64 KB" in node["reason"]
    assert _dispatch_count(emu) == dispatches


def _dispatch_count(emu: Emulator) -> int:
    return sum(1 for r in emu.requests() if r["method"] == "POST"
               and r["path"].endswith("/dispatches"))


# ---------------------------------------------------------------- where the API is
@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://[::1"])
def test_malformed_api_urls(run: Any, url: str) -> None:
    # urlparse raised ValueError out of PyGithub / connect: a traceback.
    for args in (["discover", "--org", "qa"], ["fan-out", "--event", "ok", "--source",
                                               "qa/src"], ["cancel", "0123456789ab",
                                                           "--org", "qa"]):
        result = run(*args, "--api-url", url)
        _one_error(result, 2, "is not a valid URL", "hint: pass --api-url")


def test_missing_token(run: Any) -> None:
    # (A closed port is a clean error too, but only after ~24 s of transport retries.)
    no_token = run("status", "0123456789ab", "--org", "qa", "--api-url",
                   "http://127.0.0.1:9", env={"GITHUB_TOKEN": None})
    _one_error(no_token, 2, "no GitHub credentials", "GITHUB_TOKEN", "Actions: read")


@pytest.mark.parametrize(("args", "needs"), [
    (("discover", "--org", "qa"), "Contents: read on the organization's repositories"),
    (("cancel", "0123456789ab", "--org", "qa"), "Actions: write"),
    (("fan-out", "--event", "ok", "--source", "qa/src"), "Contents: write on the target"),
])
def test_missing_token_hint_names_what_the_command_needs(run: Any, args: tuple[str, ...],
                                                         needs: str) -> None:
    # A reader asking to list repos should not be told to mint a write token.
    result = run(*args, "--api-url", "http://127.0.0.1:9", env={"GITHUB_TOKEN": None})
    _one_error(result, 2, "no GitHub credentials", needs)


def test_token_with_a_line_break_is_named_not_retried(run: Any, emu: Emulator) -> None:
    # A pasted token with a newline used to be retried six times as "InvalidHeader"
    # with the hint "the API host is unreachable".
    started = time.monotonic()
    result = run("discover", "--org", "qa", "--api-url", emu.base_url,
                 env={"GITHUB_TOKEN": f"{TOKEN} \r\nX-Other: 1"})
    _one_error(result, 2, "GITHUB_TOKEN holds a space, line break")
    assert time.monotonic() - started < 5


def test_a_token_that_cannot_dispatch(run: Any, emu: Emulator) -> None:
    result = run("fan-out", "--event", "ok", "--source", "qa/src", "--api-url", emu.base_url,
                 env={"GITHUB_TOKEN": READER})
    _one_error(result, 2, "cannot dispatch", "Contents: write")


def test_an_org_that_does_not_exist(run: Any, emu: Emulator) -> None:
    result = run("plan", "--org", "ghost", "--source", "ghost/x", "--event", "ok",
                 "--api-url", emu.base_url)
    _one_error(result, 2, "organization ghost was not found")


# ---------------------------------------------------------------- workspaces, worlds
def test_an_owner_directory_given_as_workspace(run: Any, tmp_path: Path) -> None:
    owner = tmp_path / "ws" / "qa"
    for repo in ("src", "app"):
        (owner / repo).mkdir(parents=True)
        (owner / repo / "tako.yml").write_text(_sub("ok"), encoding="utf-8")
    # Used to plan against an empty organization: "targets (0)", exit 0.
    result = run("plan", "--workspace", str(owner), "--source", "qa/src", "--event", "ok")
    _one_error(result, 2, "one owner's directory", f"--workspace {owner.parent.resolve()}")
    fine = run("plan", "--workspace", str(owner.parent), "--source", "qa/src", "--event", "ok")
    assert fine.exit_code == 0 and "qa/app" in fine.stdout


def test_emulator_world_file_with_broken_yaml(run: Any, tmp_path: Path) -> None:
    world = tmp_path / "world"
    (world / "qa" / "a").mkdir(parents=True)
    (world / "emulator.yml").write_text("tokens:\n  a: b\n c: d\n", encoding="utf-8")
    result = run("emulator", "serve", "--world", str(world))
    _one_error(result, 2, "emulator.yml:3:2: invalid YAML")
    assert "<unicode string>" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2  # the error and its hint


# ---------------------------------------------------------------- the hook
def test_hook_note_speaks_in_messages_not_class_names() -> None:
    out = io.StringIO()

    def failing() -> None:
        raise NotFoundError("organization qa was not found", hint="check the remote")

    hook._run_bounded(failing, 2.0, out)
    note = out.getvalue()
    assert "organization qa was not found (check the remote)" in note
    assert "NotFoundError" not in note and "the push goes on" in note


# ---------------------------------------------------------------- a whole journey
def test_fan_out_reports_and_status_never_show_the_token(run: Any, emu: Emulator,
                                                         tmp_path: Path) -> None:
    tree, summary = tmp_path / "tree.json", tmp_path / "summary.md"
    result = run("fan-out", "--event", "ok", "--source", "qa/src", "--payload",
                 '{"version": "1.0.0"}', "--tree-json", str(tree), "--summary", str(summary),
                 "--timeout", "30s", "--api-url", emu.base_url)
    assert result.exit_code == 0, result.output
    root = json.loads(tree.read_text(encoding="utf-8"))["root"]
    for written in (tree, summary):
        text = written.read_text(encoding="utf-8")
        assert TOKEN not in text and "qa/ok" in text
    status = run("status", root, "--org", "qa", "--format", "json", "--api-url", emu.base_url)
    assert status.exit_code == 0 and json.loads(status.stdout)["status"] == "success"
    waited = run("wait", root, "--org", "qa", "--timeout", "10s", "--api-url", emu.base_url)
    assert waited.exit_code == 0 and "qa/ok  success" in waited.stdout


def test_ctrl_c_during_the_wait_names_the_root_to_follow(run: Any, emu: Emulator,
                                                         tmp_path: Path) -> None:
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "TAKO_CACHE_DIR": str(tmp_path / "cache"),
           "TAKO_POLL_MIN_INTERVAL": "0.1", "TAKO_POLL_MAX_INTERVAL": "0.3"}
    env.pop("GITHUB_REPOSITORY", None)
    command = [sys.executable, "-c", "from tako_gha.surfaces.cli import main; main()",
               "fan-out", "--event", "hang", "--source", "qa/src", "--timeout", "60s",
               "--api-url", emu.base_url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    assert proc.stderr is not None
    try:
        seen = ""
        # The run is going (a busy machine may show planned → in_progress in one step).
        while "→ in_progress" not in seen:  # interrupt now
            line = proc.stderr.readline()
            assert line, f"fan-out ended early: {seen}"
            seen += line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test fails
            proc.kill()
    assert proc.returncode == 130, seen + err
    assert "Traceback" not in err and TOKEN not in seen + err + out
    assert "interrupted: 1 dispatched in cascade" in err and "not dispatched yet" not in err
    hint = next(line for line in err.splitlines() if "tako-gha status" in line)
    root = hint.split("tako-gha status ", 1)[1].split()[0]
    # What the hint says works: the hanging run is found and cancelled.
    cancelled = run("cancel", root, "--org", "qa", "--api-url", emu.base_url)
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled qa/hang run" in cancelled.stdout


def test_an_unexpected_exception_is_one_line_not_a_traceback(
        run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tako_gha.surfaces.commands import discover as cmd_config

    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cmd_config, "discover_from", broken)
    result = run("discover", "--workspace", ".")
    _one_error(result, 2, "internal error: ZeroDivisionError: division by zero",
               "TAKO_DEBUG=1")
    monkeypatch.setenv("TAKO_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["discover", "--workspace", "."])


def test_ctrl_c_before_every_child_went_out_says_how_to_send_the_rest() -> None:
    from tako_gha.core.tree import Node, NodeState, TreeReport, TreeStatus
    from tako_gha.surfaces.cascade_run import interrupted as _interrupted

    origin = Node(repo="qa/src", id="0123456789ab", state=NodeState.IN_PROGRESS, children=[
        Node(repo="qa/ok", id="a" * 12, state=NodeState.IN_PROGRESS),
        Node(repo="qa/hang", id="b" * 12, state=NodeState.PLANNED)])
    report = TreeReport(root="0123456789ab", status=TreeStatus.RUNNING, origin=origin)
    error = _interrupted(report, "qa", dry_run=False)
    assert error.exit_code == 130
    assert "1 dispatched" in error.message and "1 of 2 children were not dispatched" in \
        error.message
    assert "--resume 0123456789ab" in error.hint
