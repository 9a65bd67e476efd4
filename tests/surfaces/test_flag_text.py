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
