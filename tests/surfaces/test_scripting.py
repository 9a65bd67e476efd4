"""Scripting and editors: what a shell script or an editor relies on, against the
emulator where it matters. Each test failed before its fix:
--no-wait printed a text tree on stdout; fan-out dispatched with --schema-version x
and checked --tree-json only after the cascade; --source acme/nope "succeeded" with
no word; credentials in --api-url were echoed; there was no schema command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from cli_world import Outcome, outside_actions, receiver, run_console, subscription

from tako_gha.core.config import schema
from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.surfaces.cli import cli, main

TOKEN = "t-script"
ROOT_DIR = Path(__file__).resolve().parents[2]
WORLD = {
    "acme/a": {"tako.yml": "version: 1\n"},
    "acme/b": {"tako.yml": subscription("acme/a", "ok"),
               ".github/workflows/w.yml": receiver("ok", "echo ok")},
    "acme/h": {"tako.yml": subscription("acme/a", "hang"),
               ".github/workflows/w.yml": receiver("hang", "sleep 30")},
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = write_world(tmp_path_factory.mktemp("scripting") / "world", WORLD,
                       {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN,
                        "runner": {"capacity": 4}})
    emulator = Emulator(root, port=0).start()
    yield emulator
    emulator.stop()


def _env(emu: Emulator, tmp_path: Path) -> dict[str, str]:
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": emu.base_url,
            "TAKO_CACHE_DIR": str(tmp_path / "cache"), "TAKO_POLL_MIN_INTERVAL": "0.1",
            "TAKO_POLL_MAX_INTERVAL": "0.5", "TAKO_SIBLING_GRACE": "0.2"}


@pytest.fixture
def invoke(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Any:
    """The real console entry, in process, pointed at the emulator by GITHUB_API_URL."""
    outside_actions(monkeypatch, tmp_path)

    def _invoke(*args: str, env: dict[str, str] | None = None) -> Outcome:
        with monkeypatch.context() as patch:
            for name, value in {**_env(emu, tmp_path), **(env or {})}.items():
                patch.setenv(name, value)
            return run_console(main, args, capsys)

    return _invoke


def _runs(emu: Emulator) -> int:
    return len(emu.runs.all_runs())


# ------------------------------------------------------------------ --no-wait
def test_no_wait_prints_exactly_the_root_id_on_stdout(invoke: Any) -> None:
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--no-wait")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"[0-9a-f]{12}\n", result.stdout)
    root = result.stdout.strip()
    assert "acme/b" in result.stderr  # the report moved to stderr
    assert f"follow it: tako-gha status {root} --org acme --wait" in result.stderr
    waited = invoke("status", root, "--org", "acme", "--wait", "--timeout", "60s",
                    "--format", "json")
    assert waited.exit_code == 0 and json.loads(waited.stdout)["status"] == "success"
    # With --format json, stdout is the tree JSON (its root field), for jq.
    as_json = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--no-wait",
                     "--format", "json")
    assert re.fullmatch(r"[0-9a-f]{12}", json.loads(as_json.stdout)["root"])


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("tako-gha") is None,
                    reason="needs bash and the installed console script")
def test_the_shell_idiom_from_the_docs_works(emu: Emulator, tmp_path: Path) -> None:
    script = ('ROOT=$(tako-gha fan-out --event ok --source acme/a --no-wait) && '
              'tako-gha wait "$ROOT" --org acme --timeout 60s --format json')
    env = {**os.environ, **_env(emu, tmp_path), "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    env.pop("GITHUB_REPOSITORY", None)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    assert tree["status"] == "success" and tree["tree"]["children"][0]["repo"] == "acme/b"


# ------------------------------------------------------------------ status exit 4
def test_status_has_its_own_exit_code_while_the_tree_runs(invoke: Any, emu: Emulator) -> None:
    root = invoke("fan-out", "--event", "hang", "--source", "acme/a", "--no-wait").stdout.strip()
    try:
        running = invoke("status", root, "--org", "acme")
        assert running.exit_code == 4, running.output
        assert "running" in running.stdout
    finally:
        assert invoke("cancel", root, "--org", "acme").exit_code == 0
    help_text = invoke("status", "--help").stdout
    assert "4 when the tree is still running" in " ".join(help_text.split())
    table = (ROOT_DIR / "docs" / "cli.md").read_text(encoding="utf-8")
    assert "| 4 | `status` (without `--wait`): the tree is still running |" in table
    assert "3 timed out, 4 still running" in " ".join(invoke("--help").stdout.split())


# ------------------------------------------------------------------ checks before dispatch
@pytest.mark.parametrize(("args", "message"), [
    (["--schema-version", "x"], "error: --schema-version 'x' is not a version"),
    (["--schema-version", "latest"], "error: --schema-version 'latest' is not a version"),
    (["--event", " "], "must be 1 to 100 characters"),
    (["--event", "e" * 101], "must be 1 to 100 characters, got 101"),
    (["--payload", '{"v": NaN}'], "error: --payload: line 1 column 7 ($.v): NaN is not JSON"),
    (["--source", "nope"], "error: --source 'nope' is not OWNER/REPO"),
])
def test_fan_out_refuses_what_plan_refuses_before_any_dispatch(
        invoke: Any, emu: Emulator, args: list[str], message: str) -> None:
    flags = {"--event": "ok", "--source": "acme/a"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        flags[flag] = value
    argv = [word for pair in flags.items() for word in pair]
    before = _runs(emu)
    fanned = invoke("fan-out", *argv)
    planned = invoke("plan", "--org", "acme", *argv)
    assert (fanned.exit_code, planned.exit_code) == (2, 2)
    assert message in fanned.stderr.splitlines()[0]
    assert fanned.stderr.splitlines()[0] == planned.stderr.splitlines()[0]
    assert _runs(emu) == before


def test_report_paths_are_checked_before_the_first_dispatch(invoke: Any, emu: Emulator,
                                                            tmp_path: Path) -> None:
    before = _runs(emu)
    missing_dir = tmp_path / "no-such-dir" / "tree.json"
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a",
                    "--tree-json", str(missing_dir))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --tree-json: cannot write {missing_dir}: "
                                    "No such file or directory")
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a",
                    "--summary", str(tmp_path))
    assert result.exit_code == 2 and f"--summary: {tmp_path} is a directory" in result.stderr
    # An existing report is left alone, a new path is not left behind.
    kept, fresh = tmp_path / "tree.json", tmp_path / "fresh.md"
    kept.write_text("keep")
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--tree-json",
                    str(kept), "--summary", str(fresh), "--concurrency", "0")
    assert result.exit_code == 2 and "--concurrency" in result.stderr
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--tree-json",
                    str(kept), "--summary", str(tmp_path / "x" / "s.md"))
    assert result.exit_code == 2 and kept.read_text() == "keep" and not fresh.exists()
    assert _runs(emu) == before


# ------------------------------------------------------------------ --source
def test_a_source_that_does_not_exist_is_an_error_with_a_hint(invoke: Any,
                                                              emu: Emulator) -> None:
    before = _runs(emu)
    result = invoke("fan-out", "--event", "ok", "--source", "acme/completely-different")
    assert result.exit_code == 2, result.output
    assert ("\nerror: acme/completely-different is not a repository of acme (or the token "
            "cannot see it), and nothing there subscribes to it; nothing was dispatched\n"
            "  hint: check the spelling of --source OWNER/REPO") in result.stderr
    typo = invoke("fan-out", "--event", "ok", "--source", "acme/bb", "--dry-run")
    assert typo.exit_code == 2 and "did you mean --source acme/b?" in typo.stderr
    # A real repository nothing subscribes to is not an error: there is just nothing to do.
    quiet = invoke("fan-out", "--event", "nobody-listens", "--source", "acme/b")
    assert quiet.exit_code == 0, quiet.output
    assert "nothing to dispatch" in quiet.stderr
    assert _runs(emu) == before


# ------------------------------------------------------------------ --api-url
def test_credentials_in_the_api_url_are_never_printed(invoke: Any) -> None:
    for command in (["fan-out", "--event", "ok", "--source", "acme/a"],
                    ["status", "5210ea35be12", "--org", "acme"],
                    ["discover", "--org", "acme"]):
        result = invoke(*command, "--api-url", "https://me:hunter2@127.0.0.1:9/api")
        assert result.exit_code == 2, result.output
        assert "hunter2" not in result.output
        assert "API URL https://***@127.0.0.1:9/api holds credentials" in result.stderr


def test_an_api_url_that_cannot_work_fails_at_once(invoke: Any) -> None:
    started = time.perf_counter()
    result = invoke("fan-out", "--event", "ok", "--source", "acme/a",
                    "--api-url", "http://exa mple.com")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot use the GitHub API" in result.stderr
    assert "the API URL is not a valid URL" in result.stderr
    assert time.perf_counter() - started < 8  # was six retries, about 25 s


# ------------------------------------------------------------------ --format json
# hook install writes a file (and says where): nothing to report as JSON.
NOT_REPORTS = {("emulator", "serve"), ("hook", "pre-push"), ("hook", "install"), ("schema",)}


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found.extend(_leaves(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_that_reports_has_format_json() -> None:
    """emulator serve prints its URL, the hook talks to git, schema is JSON already."""
    for path in _leaves(cli):
        if path in NOT_REPORTS:
            continue
        command: Any = cli
        for name in path:
            command = command.commands[name]
        formats = [p for p in command.params if p.name == "fmt"]
        assert formats and "json" in formats[0].type.choices, f"tako-gha {' '.join(path)}"


# ------------------------------------------------------------------ editors, shells
def test_schema_prints_the_json_schema_with_a_stable_id(invoke: Any) -> None:
    result = invoke("schema")
    assert result.exit_code == 0 and result.stderr == ""
    printed = json.loads(result.stdout)
    assert printed == schema()
    assert printed["$id"] == "urn:tako-gha:tako.schema.json"
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    guide = (ROOT_DIR / "docs" / "tako-yml.md").read_text(encoding="utf-8")
    assert "# yaml-language-server: $schema=./.tako.schema.json" in guide
    assert "tako-gha schema > .tako.schema.json" in guide


def test_the_printed_schema_checks_real_files(invoke: Any, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    validator = jsonschema.Draft202012Validator(json.loads(invoke("schema").stdout))
    good = yaml.safe_load(subscription("acme/a", "ok"))
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({"version": 1, "colour": "red"}))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_as_documented(shell: str, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    guide = (ROOT_DIR / "docs" / "cli.md").read_text(encoding="utf-8")
    assert f"_TAKO_GHA_COMPLETE={shell}_source tako-gha" in guide
    monkeypatch.setenv("_TAKO_GHA_COMPLETE", f"{shell}_source")
    with pytest.raises(SystemExit) as done:
        main([])
    assert done.value.code == 0
    assert "_tako_gha_completion" in capsys.readouterr().out


def test_completion_completes_commands_and_options(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("_TAKO_GHA_COMPLETE", "bash_complete")
    for words, cword, expected in (("tako-gha fa", "1", "plain,fan-out"),
                                   ("tako-gha fan-out --sch", "2", "plain,--schema-version"),
                                   ("tako-gha cancel R --format ", "4", "plain,json")):
        monkeypatch.setenv("COMP_WORDS", words)
        monkeypatch.setenv("COMP_CWORD", cword)
        with pytest.raises(SystemExit):
            main([])
        assert expected in capsys.readouterr().out.splitlines()


def test_no_python_traceback_escapes_the_entry_for_scripting_flags() -> None:
    """The real process, once: a broken --payload and a bad --api-url give exit 2."""
    exe = shutil.which("tako-gha")
    command = [exe] if exe else [sys.executable, "-m", "tako_gha"]
    done = subprocess.run([*command, "fan-out", "--event", "e", "--source", "a/b",
                           "--payload", "[" * 100_000], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "nested deeper than 64 levels" in done.stderr
