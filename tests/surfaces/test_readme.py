"""The README's and the docs' promises: the two Quickstart commands, links that resolve,
every `tako-gha` command they show parses with the real CLI, and every --help teaches."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tako_gha.surfaces.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# The coverage gate lives in the command, not in pytest's addopts, so that any subset of
# the tests (pytest tests/core/test_x.py) runs on its own.
TEST_COMMAND = 'pip install -e ".[test]" && pytest -n 2 --cov=tako_gha --cov-fail-under=90'


def _quickstart() -> str:
    return README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]


def test_quickstart_is_exactly_the_two_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", _quickstart(), flags=re.DOTALL)
    assert [b.strip() for b in blocks] == ['pip install -e . && tako-gha demo', TEST_COMMAND]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert TEST_COMMAND in ci.splitlines()


def test_every_relative_link_resolves() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for doc in docs:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_every_command_the_readme_names_exists() -> None:
    named = set(re.findall(r"(?:^|`)tako-gha ([a-z-]+)", README, flags=re.MULTILINE))
    for command in sorted(named):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0, f"tako-gha {command}: {result.output}"


# ------------------------------------------------------------ commands in the docs
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BREAKS = {"|", ">", "<", "&", "&&", ";", "2>"}


def _shell_lines(text: str) -> list[str]:
    """Lines of fenced code blocks that run tako-gha, continuations joined."""
    lines = []
    for lang, block in _fenced_blocks(text):
        if lang not in ("bash", "console", ""):
            continue
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if lang != "bash":  # a transcript: only the prompt lines are commands
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if re.match(r"^(?:[A-Z_]+=\S+ )*tako-gha ", line):
                lines.append(line)
            # A captured command: ROOT=$(tako-gha fan-out --no-wait ...)
            lines.extend(re.findall(r"\$\((tako-gha [^)]*)\)", line))
    return lines


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, fences paired in order."""
    blocks, lang, body = [], None, []
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if lang is None:
                lang, body = line.strip()[3:], []
            else:
                blocks.append((lang, "\n".join(body) + "\n"))
                lang = None
        elif lang is not None:
            body.append(line)
    return blocks


def _tako_args(line: str) -> list[str]:
    """The argument list a shell would pass to tako-gha; placeholders made concrete."""
    words = shlex.split(line.replace("ROOT", "5210ea35be12"), comments=True)
    words = words[words.index("tako-gha") + 1:]
    cut = next((i for i, w in enumerate(words) if w in SHELL_BREAKS), len(words))
    return [w for w in words[:cut] if w != "..."]


def _leaf(args: list[str]) -> tuple[click.Command, list[str], str]:
    command: click.Command = cli
    name = "tako-gha"
    while isinstance(command, click.Group):
        assert args, f"{name} needs a subcommand"
        sub = command.get_command(click.Context(command), args[0])
        assert sub is not None, f"{name} has no command {args[0]!r}"
        name, command, args = f"{name} {args[0]}", sub, args[1:]
    return command, args, name


def _parses(args: list[str], where: str) -> None:
    command, rest, name = _leaf(args)
    try:
        command.make_context(name, list(rest), resilient_parsing=False)
    except click.ClickException as exc:
        raise AssertionError(f"{where}: `{name} {' '.join(rest)}`: "
                             f"{exc.format_message()}") from None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_shown_in_the_docs_parses_with_the_real_options(doc: Path) -> None:
    for line in _shell_lines(doc.read_text(encoding="utf-8")):
        _parses(_tako_args(line), doc.name)


def test_every_example_in_the_help_texts_parses() -> None:
    for path in _leaf_paths(cli):
        text = CliRunner().invoke(cli, [*path, "--help"]).output
        examples = _shell_lines(f"```bash\n{text}```")
        assert examples, f"tako-gha {' '.join(path)} --help shows no example"
        for line in examples:
            _parses(_tako_args(line), f"tako-gha {' '.join(path)} --help")


def _leaf_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths.extend(_leaf_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


def test_the_cli_reference_synopsis_lists_every_command_and_option() -> None:
    """docs/cli.md's synopsis names each command with options that exist, and every
    command and option of the CLI appears in docs/cli.md."""
    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    synopsis = reference.split("```\n", 2)[1]
    entries = re.split(r"\n(?=tako-gha )", synopsis.strip())
    documented = {}
    for entry in entries:
        words = entry.split()
        path = tuple(w for w in words[1:3] if re.fullmatch(r"[a-z][a-z-]*", w))
        path = path[:2] if path and path[0] in ("emulator", "hook") else path[:1]
        documented[path] = set(re.findall(r"--[a-z][a-z-]*", entry))
    assert set(documented) == set(_leaf_paths(cli))
    for path, flags in documented.items():
        command, _, name = _leaf(list(path))
        real = {opt for p in command.params if isinstance(p, click.Option)
                for opt in (*p.opts, *p.secondary_opts)}
        assert flags <= real, f"{name}: docs/cli.md names {sorted(flags - real)}"
        # Options the synopsis leaves out are named in the text after it.
        missing = {flag for flag in real - flags - {"--help"} if flag not in reference}
        assert not missing, f"{name}: {sorted(missing)} not in docs/cli.md"


def test_every_help_explains_each_option_and_the_exit_codes() -> None:
    for path in _leaf_paths(cli):
        command, _, name = _leaf(list(path))
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"{name} {param.opts[0]} has no help text"
        text = CliRunner().invoke(cli, [*path, "--help"]).output
        assert re.search(r"[Ee]xit (codes|0|1)", text), f"{name} --help names no exit code"


def test_the_plan_transcript_in_filters_md_is_what_plan_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/filters.md shows why subscriptions did not match; the words must be real.
    The workspace: the page's first example, plus the two skipped repos it names."""
    doc = (ROOT / "docs" / "filters.md").read_text(encoding="utf-8")
    subscriber = next(body for lang, body in _fenced_blocks(doc) if lang == "yaml")
    transcript = next(body for lang, body in _fenced_blocks(doc)
                      if lang == "" and body.startswith("$ tako-gha plan"))
    repos = {
        "core-lib": "version: 1\nevents:\n  produces:\n"
                    "    - {type: library_built, schema_version: 1.2.0}\n",
        "user-service": "version: 1\n" + subscriber,
        "billing": ("version: 1\nevents:\n  subscriptions:\n    - artifact: my-org/core-lib\n"
                    "      events: [library_built]\n      filters:\n"
                    "        - event.payload.build_status == \"success\"\n"
                    "        - event.payload.channel == \"stable\"\n"),
        "search": ("version: 1\nevents:\n  subscriptions:\n    - artifact: my-org/core-lib\n"
                   "      events: [library_built]\n      filters:\n"
                   "        - semver.major(event.payload.version) >= 3\n"),
    }
    for name, text in repos.items():
        (tmp_path / "ws" / "my-org" / name).mkdir(parents=True)
        (tmp_path / "ws" / "my-org" / name / "tako.yml").write_text(text)
    monkeypatch.chdir(tmp_path)
    command, _, expected = transcript.partition("\n")
    while command.endswith("\\"):
        more, _, expected = expected.partition("\n")
        command = command[:-1] + more
    result = CliRunner().invoke(cli, _tako_args(command[2:]))
    assert result.exit_code == 0, result.output
    assert result.output == expected
