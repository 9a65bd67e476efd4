"""Command-line text that is not UTF-8 (Python hands such bytes over as lone
surrogates): refused with the flag and the place, before anything else. Before: a
non-UTF-8 ``--event`` went on to an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_world import run_console

from tako_gha.surfaces.cli import main
from tako_gha.surfaces.flags import undecodable_at

WORKSPACE = str(Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "cascade")


def test_where_a_text_stops_being_unicode() -> None:
    assert undecodable_at("library_built") is None
    assert undecodable_at("lib\udcffbuilt") == 3
    assert undecodable_at("\ud800") == 0


@pytest.mark.parametrize("command", ["plan", "fan-out"])
def test_a_non_utf8_event_is_refused_naming_the_flag(command: str,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_EVENT_PATH", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    where = ["--workspace", WORKSPACE] if command == "plan" else ["--org", "my-org"]
    done = run_console(main, [command, *where, "--source", "my-org/core-lib",
                              "--event", "lib\udcffbuilt"], capsys)
    assert done.exit_code == 2
    assert done.stderr.startswith("error: --event: character 4 is not valid Unicode")
    assert "internal error" not in done.output and done.stdout == ""


@pytest.mark.parametrize("args", [
    ["discover", "--org", "ac\udcffme"],
    ["graph", "--org", "ac\udcffme"],
    ["plan", "--org", "ac\udcffme", "--source", "acme/a", "--event", "ok"],
    ["fan-out", "--org", "ac\udcffme", "--source", "acme/a", "--event", "ok"],
    ["status", "0123456789ab", "--org", "ac\udcffme"],
    ["wait", "0123456789ab", "--org", "ac\udcffme"],
    ["cancel", "0123456789ab", "--org", "ac\udcffme"],
    ["rerun", "0123456789ab", "--org", "ac\udcffme"],
    ["discover", "--org", "acme", "--config-path", "ta\udcffko.yml"],
    ["fan-out", "--org", "acme", "--source", "acme/a", "--event", "ok",
     "--config-path", "ta\udcffko.yml"],
], ids=lambda args: f"{args[0]}-{next(a for a in args if chr(0xdcff) in a)[:2]}")
def test_a_non_utf8_org_or_config_path_is_refused_naming_the_flag(
        args: list[str], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: an internal error (UnicodeEncodeError) where the text met the API's URL."""
    for name in ("GITHUB_EVENT_PATH", "GITHUB_ACTIONS", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    # a token and an API nobody answers: the refusal must come before any request
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    flag = args[args.index(next(a for a in args if "\udcff" in a)) - 1]
    done = run_console(main, args, capsys)
    assert done.exit_code == 2, done.output
    assert done.stderr.startswith(f"error: {flag}: character 3 is not valid Unicode"), \
        done.stderr
    assert "internal error" not in done.output and done.stdout == ""
