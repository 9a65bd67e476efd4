"""``tako-gha lint``: find the tako.yml files and workflows the PATH arguments name,
read them, and print what the rules in ``core/lint.py`` find (docs/cli.md).

Exit 0 fine, 1 errors (or warnings with ``--strict``), 2 usage error or nothing to lint.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click

from tako_gha.core.config import DEFAULT_CONFIG_PATH, ConfigResult
from tako_gha.core.diagnostics import Diagnostic
from tako_gha.core.lint import WorkflowText, lint_graph, lint_workflows, listening_warnings
from tako_gha.forge.workspace import WorkspaceForge, read_config_file
from tako_gha.surfaces.commands.common import EXIT_FAILED, friendly
from tako_gha.surfaces.commands.sources import is_workspace
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.gitinfo import origin_repo

SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv"}


@dataclass
class LintFile:
    path: Path
    repo: str | None = None  # "owner/repo" when known (workspace layout)
    checkout: Path | None = None  # the repository directory, when the file is its config


@dataclass
class LintRun:
    files: list[LintFile] = field(default_factory=list)
    workspaces: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _config_name(config_path: str) -> str:
    return Path(config_path).name


def _find_configs(root: Path, name: str) -> list[Path]:
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        if name in files:
            found.append(Path(current) / name)
    return sorted(found)


def collect_lint_targets(paths: Iterable[str], config_path: str) -> LintRun:
    """Files to lint from the PATH arguments (see the ``lint`` help)."""
    run = LintRun()
    name = _config_name(config_path)
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            # ``lint tako.yml`` inside a checkout also checks that checkout's workflows.
            run.files.append(LintFile(path, checkout=path.parent if path.name == name else None))
        elif not path.is_dir():
            raise UserError(f"{raw}: no such file or directory",
                            hint="pass tako.yml files, repository checkouts or a workspace DIR")
        elif (path / config_path).is_file():
            # A checkout's own name lets the loader flag subscriptions to itself.
            run.files.append(LintFile(path / config_path,
                                      repo=origin_repo(path, search_parents=False),
                                      checkout=path))
        elif is_workspace(path, config_path):
            run.workspaces.append(path)
            for full_name, repo_dir in WorkspaceForge(path).repo_dirs():
                if (repo_dir / config_path).is_file():
                    run.files.append(LintFile(repo_dir / config_path, repo=full_name,
                                              checkout=repo_dir))
        else:
            found = _find_configs(path, name)
            others = 0
            if not found:
                # A directory of config files named freely (good.yml, bad-range.yml…);
                # other YAML (workflows, compose files) is not a tako config.
                candidates = sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
                found = [p for p in candidates if _looks_like_tako_config(p)]
                others = len(candidates) - len(found)
            if not found:
                run.notes.append(f"{raw}: no {name} found" + (
                    f" ({others} other YAML file{'s' if others != 1 else ''} there "
                    f"{'are' if others != 1 else 'is'} not a tako config: not linted)"
                    if others else ""))
            run.files.extend(LintFile(p, checkout=p.parent if p.name == name else None)
                             for p in found)
    # The same file named twice (``lint . tako.yml``) is linted once.
    unique: dict[Path, LintFile] = {}
    for item in run.files:
        unique.setdefault(item.path.resolve(), item)
    run.files = list(unique.values())
    return run


# A tako config names one of its top-level keys at the start of a line; a workflow
# (on:, jobs:), an action (runs:) or a compose file never does.
_TAKO_TOP_KEY = re.compile(r"^(?:version|artifacts|events)\s*:", re.MULTILINE)


def _looks_like_tako_config(path: Path) -> bool:
    try:
        head = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return True  # lint says why it cannot be read
    return bool(_TAKO_TOP_KEY.search(head))




def read_workflow_files(repo_dir: Path) -> list[WorkflowText]:
    """A checkout's ``.github/workflows/*.yml|yaml`` files, each its text or why it
    could not be read (the rules in core/lint.py say what that means)."""
    folder = repo_dir / ".github" / "workflows"
    files: list[WorkflowText] = []
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        try:
            files.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            files.append((path, exc))
    return files


def run_lint(paths: Iterable[str], config_path: str = DEFAULT_CONFIG_PATH
             ) -> tuple[LintRun, list[Diagnostic]]:
    """Lint everything the PATH arguments name; diagnostics in file order."""
    run = collect_lint_targets(paths, config_path)
    problems: list[Diagnostic] = []
    results: dict[Path, ConfigResult] = {}
    for item in run.files:
        result, _ = read_config_file(item.path, repo=item.repo)
        results[item.path] = result
        problems.extend(result.diagnostics)
        checkout = item.checkout
        if checkout is not None and (checkout / ".github").is_dir():
            workflows, found = lint_workflows(read_workflow_files(checkout))
            problems.extend(found)
            if (checkout / ".github" / "workflows").is_dir():
                problems.extend(listening_warnings(result, workflows))
    for workspace in run.workspaces:
        members = [results[f.path] for f in run.files
                   if f.repo and workspace in f.path.parents]
        problems.extend(lint_graph(members))
    return run, problems


def styled(problem: Diagnostic) -> str:
    """``Diagnostic.format()`` with colour: the place in bold, the severity red or
    yellow, the hint's label in cyan (same text without the styles)."""
    severity = click.style(problem.severity.value, fg="red" if problem.is_error else "yellow",
                           bold=True)
    text = f"{click.style(problem.location(), bold=True)}: {severity}: {problem.message}"
    if problem.hint:
        text += f"\n  {click.style('hint:', fg='cyan')} {problem.hint}"
    return text


def _summary(files: int, problems: list[Diagnostic]) -> str:
    errors = sum(1 for d in problems if d.is_error)
    warnings = len(problems) - errors
    noun = "file" if files == 1 else "files"
    if not problems:
        return f"checked {files} {noun}: no problems"
    return (f"checked {files} {noun}: {errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}")


@click.command("lint", short_help="Check tako.yml files and the workflows that receive "
                                  "dispatches.")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for machines")
@click.option("--strict", is_flag=True, help="exit 1 on warnings too")
@click.option("--config-path", default=DEFAULT_CONFIG_PATH, show_default=True,
              help="config file name inside each repository")
@friendly
def lint_command(paths: tuple[str, ...], fmt: str, strict: bool, config_path: str) -> None:
    """Check tako.yml files: one line per problem, `file:line:col: error: message`,
    then a hint.

    PATH may be a tako.yml file, a repository checkout (a directory with tako.yml;
    its .github/workflows are checked for the run-name tako needs), or a workspace
    DIR/<owner>/<repo>/ (also checked for subscription cycles). A directory that is
    none of these is searched for tako.yml files, else its *.yml files that look
    like tako configs (a top-level version:, events: or artifacts:) are linted;
    workflows and other YAML are not. Default: the current directory.

    Exit 0 when there are no errors (warnings do not fail unless --strict), 1 when
    there are errors, 2 on bad arguments or when there is no tako.yml to lint.

    \b
    Examples:
      tako-gha lint                         # the checkout you are in
      tako-gha lint tako.yml other/tako.yml
      tako-gha lint ./workspace --format json
    """
    run, problems = run_lint(paths or (".",), config_path)
    if not run.files:
        # Nothing to lint is a mistake (wrong directory, wrong --config-path), not a
        # pass: CI running `tako-gha lint` in a repository without one must say so.
        raise UserError("nothing to lint: " + "; ".join(run.notes),
                        hint=f"run it in a checkout that has {_config_name(config_path)}, "
                             "on a workspace DIR/<owner>/<repo>/, or name the files: "
                             f"tako-gha lint path/to/{_config_name(config_path)}")
    errors = sum(1 for d in problems if d.is_error)
    if fmt == "json":
        click.echo(json.dumps({
            "files": [str(f.path) for f in run.files],
            "diagnostics": [d.to_json() for d in problems],
            "errors": errors, "warnings": len(problems) - errors,
        }, indent=2))
    else:
        # Colour only on a terminal (click strips it elsewhere), never with NO_COLOR set.
        color = False if os.environ.get("NO_COLOR") else None
        for problem in problems:
            click.echo(styled(problem), color=color)
        for note in run.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(_summary(len(run.files), problems))
    if errors or (strict and problems):
        raise click.exceptions.Exit(EXIT_FAILED)
