"""The README's promises: the two Quickstart commands, and links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quickstart() -> str:
    return README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]


def test_quickstart_is_exactly_the_two_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", _quickstart(), flags=re.DOTALL)
    assert [b.strip() for b in blocks] == ['pip install -e . && tako-gha demo',
                                           'pip install -e ".[test]" && pytest']


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -e ".[test]" && pytest' in ci.splitlines()


def test_every_relative_link_resolves() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for doc in docs:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_every_command_the_readme_names_exists() -> None:
    from click.testing import CliRunner

    from tako_gha.surfaces.cli import cli

    named = set(re.findall(r"(?:^|`)tako-gha ([a-z-]+)", README, flags=re.MULTILINE))
    for command in sorted(named):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0, f"tako-gha {command}: {result.output}"
