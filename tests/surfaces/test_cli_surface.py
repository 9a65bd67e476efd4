"""Small things a first-day operator meets: bare ``tako-gha``, lint's colour, the CEL
hint for ``=``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tako_gha.core.cel import FilterError, compile_filter
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.surfaces.cli import cli
from tako_gha.surfaces.commands.lint import styled

BAD = "version: 1\nevents:\n  subscriptions:\n    - artifact: acme/core\n      events: [built]\n" \
      "      filters: ['event.type = \"built\"']\n"


def test_bare_tako_gha_prints_help_and_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "tako_gha"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: ") and "fan-out" in done.stdout
    assert done.stderr == ""


def test_the_cel_hint_for_a_single_equals_names_double_equals() -> None:
    with pytest.raises(FilterError) as info:
        compile_filter('event.payload.channel = "stable"')
    assert "==" in info.value.hint and "not =" in info.value.hint


def _lint(tmp_path: Path, *, color: bool, env: dict[str, str] | None = None) -> str:
    (tmp_path / "tako.yml").write_text(BAD)
    result = CliRunner().invoke(cli, ["lint", str(tmp_path / "tako.yml")], color=color,
                                env=env or {})
    assert result.exit_code == 1, result.output
    return result.output


def test_lint_colours_on_a_terminal(tmp_path: Path) -> None:
    out = _lint(tmp_path, color=True, env={"NO_COLOR": ""})
    assert click.style("error", fg="red", bold=True) in out
    assert "CEL compares with ==, not =" in click.unstyle(out)


def test_lint_has_no_colour_with_no_color_or_off_a_terminal(tmp_path: Path) -> None:
    assert "\x1b[" not in _lint(tmp_path, color=True, env={"NO_COLOR": "1"})
    assert "\x1b[" not in _lint(tmp_path, color=False)


def test_styled_is_the_plain_format_plus_colour() -> None:
    diag = Diagnostic(Severity.WARNING, "m", file="t.yml", line=2, col=3, hint="h")
    assert click.unstyle(styled(diag)) == diag.format()
