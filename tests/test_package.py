"""Smoke: the package imports and the CLI answers --help with exit 0."""

from click.testing import CliRunner

from tako_gha.surfaces.cli import cli


def test_help_lists_usage() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "tako-gha demo" in result.output


def test_unknown_command_is_usage_error() -> None:
    result = CliRunner().invoke(cli, ["fan-outt"])
    assert result.exit_code == 2
