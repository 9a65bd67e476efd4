"""``lint``, ``discover``, ``graph``, ``plan``: the commands that read configs (docs/cli.md).

They work offline on a workspace (``--workspace DIR`` laid out ``DIR/<owner>/<repo>/``)
or against GitHub (``--org ORG``, token from the environment). Exit codes: 0 fine,
1 lint found errors (or warnings with ``--strict``), 2 usage/configuration error.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from tako_gha.core.config import DEFAULT_CONFIG_PATH, ConfigResult, RepoConfig
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.core.events import Event
from tako_gha.core.graph import SubscriptionGraph
from tako_gha.core.lint import WorkflowText, lint_graph, lint_workflows, listening_warnings
from tako_gha.core.matching import Plan, plan_fanout
from tako_gha.forge.base import Discovery, ForgeError, RepoMeta, RepoSelection
from tako_gha.forge.workspace import Traits, WorkspaceForge, read_config_file
from tako_gha.surfaces import gitinfo
from tako_gha.surfaces.errors import UserError, report_error
from tako_gha.surfaces.flags import read_event_type, read_payload, read_schema_version
from tako_gha.surfaces.gitinfo import check_repo_name, origin_repo

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv"}

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn known errors into ``error: …`` + hint and an exact exit code, under both
    the console entry and click's test runner."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            report_error(exc)
            raise click.exceptions.Exit(exc.exit_code) from None
        except ForgeError as exc:
            report_error(UserError(exc.message, hint=exc.hint))
            raise click.exceptions.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


# ================================================================ lint
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


def _is_workspace(path: Path, config_path: str) -> bool:
    return any(True for _ in path.glob(f"*/*/{config_path}"))


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
        elif _is_workspace(path, config_path):
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
        for problem in problems:
            click.echo(problem.format())
        for note in run.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(_summary(len(run.files), problems))
    if errors or (strict and problems):
        raise click.exceptions.Exit(EXIT_FAILED)


# ================================================================ discovery
def _source_options(func: F) -> F:
    options = [
        click.option("--org", help="GitHub organization to read (token from GITHUB_TOKEN/"
                     "GH_TOKEN).  [default: plan: the source's owner; discover, graph: "
                     "the owner of $GITHUB_REPOSITORY, else of the origin remote]"),
        click.option("--workspace", type=click.Path(),
                     help="local workspace DIR/<owner>/<repo>/ instead of GitHub"),
        click.option("--repo", "repos", multiple=True, metavar="OWNER/REPO",
                     help="only these repositories (repeatable)"),
        click.option("--name", "names", multiple=True, metavar="GLOB",
                     help="only repos whose name matches (repeatable)"),
        click.option("--topic", "topics", multiple=True, metavar="TOPIC",
                     help="only repos with every given topic (repeatable)"),
        click.option("--config-path", default=DEFAULT_CONFIG_PATH, show_default=True,
                     help="config file path inside each repository"),
        click.option("--api-url", envvar="GITHUB_API_URL", default=None, metavar="URL",
                     help="GitHub API base URL, for GitHub Enterprise Server or the "
                          "emulator.  [default: $GITHUB_API_URL, else api.github.com]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@dataclass(frozen=True)
class Source:
    org: str | None
    workspace: str | None
    repos: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    config_path: str = DEFAULT_CONFIG_PATH
    api_url: str | None = None


def discover_from(source: Source) -> Discovery:
    """Run discovery on the workspace or the org (lazy import: the GitHub forge is
    only needed for --org)."""
    for name in source.repos:
        check_repo_name(name, "--repo")
    org = source.org or ""
    selection = RepoSelection(org=org, repos=source.repos, topics=source.topics,
                              name_globs=source.names, config_path=source.config_path)
    if source.workspace is not None:
        if not Path(source.workspace).is_dir():
            raise UserError(f"--workspace {source.workspace}: not a directory",
                            hint="pass a directory laid out as DIR/<owner>/<repo>/tako.yml")
        if (Path(source.workspace) / source.config_path).is_file():
            raise UserError(f"--workspace {source.workspace} holds a {source.config_path} "
                            "itself: it looks like one repository, not a workspace",
                            hint="a workspace is DIR/<owner>/<repo>/tako.yml; to check one "
                                 "checkout run tako-gha lint DIR")
        _check_workspace_level(Path(source.workspace), source.config_path)
        traits = world_traits(Path(source.workspace))
        return WorkspaceForge(Path(source.workspace), traits).discover(selection)
    if not org:
        raise UserError("say where the repositories are: --org ORG or --workspace DIR",
                        hint="e.g. --workspace ./examples or --org my-org")
    from tako_gha.surfaces.connect import open_forge  # lazy: only --org needs GitHub

    return open_forge(source.api_url, needs=READ_NEEDS).discover(selection)


# discover, graph and plan only read: listing the org and each repo's tako.yml.
READ_NEEDS = "Contents: read on the organization's repositories"


def world_traits(workspace: Path) -> Traits | None:
    """Repo traits (archived, fork, disabled, topics) from an emulator world's
    ``emulator.yml``, so ``--workspace`` on a world plans what the emulator serving
    it would: an archived repo is skipped in both. None for a plain workspace."""
    from tako_gha.emulator.settings import WORLD_FILE, WorldError, load_settings

    if not (workspace / WORLD_FILE).is_file():
        return None
    try:
        settings = load_settings(workspace)
    except WorldError as exc:
        raise UserError(f"--workspace {workspace}: {exc}",
                        hint=f"fix {WORLD_FILE} (its repos: section says which repositories "
                             "are archived, forks or have topics)") from None

    def traits(full_name: str) -> RepoMeta:
        meta = settings.repo_meta(full_name)
        return RepoMeta(full_name=full_name, archived=meta.archived, fork=meta.fork,
                        disabled=meta.disabled, topics=list(meta.topics))

    return traits


def _check_workspace_level(workspace: Path, config_path: str) -> None:
    """An owner directory given as the workspace (DIR/<repo>/tako.yml) would read as
    an empty organization and plan nothing, silently: say which directory to pass."""
    if _is_workspace(workspace, config_path):
        return
    if any(True for _ in workspace.glob(f"*/{config_path}")):
        raise UserError(f"--workspace {workspace} holds repositories directly "
                        f"(<repo>/{config_path}); it looks like one owner's directory",
                        hint=f"pass its parent: --workspace {workspace.resolve().parent} "
                             "(the layout is DIR/<owner>/<repo>/)")


def _default_org() -> str | None:
    """The owner of ``GITHUB_REPOSITORY``, else of the ``origin`` remote (the same
    default as ``status`` and ``cancel``)."""
    repository = os.environ.get("GITHUB_REPOSITORY", "") or origin_repo(Path.cwd()) or ""
    return repository.split("/", 1)[0] if "/" in repository else None


def _config_state(result: ConfigResult | None) -> str:
    if result is None or result.missing:
        return "missing"
    if result.config is None:
        return "invalid"
    errors = sum(1 for d in result.diagnostics if d.is_error)
    return f"{errors} error(s)" if errors else "ok"


def discovery_json(discovery: Discovery) -> dict[str, Any]:
    repos = []
    for repo in discovery.repos:
        result = repo.config
        config = result.config if result else None
        repos.append({
            "repo": repo.full_name,
            "config": _config_state(result),
            "config_oid": repo.config_oid,
            "produces": [{"type": p.type, "schema_version": p.schema_version}
                         for p in (config.produces if config else [])],
            "subscriptions": [{
                "index": s.index, "artifact": s.artifact_ref, "events": list(s.events),
                "schema_version": s.schema_range.text if s.schema_range else None,
                "filters": [f.source for f in s.filters], "workflow": s.workflow,
                "inputs": {k: t.source for k, t in s.inputs.items()},
            } for s in (config.subscriptions if config else [])],
            "diagnostics": [d.to_json() for d in (result.diagnostics if result else [])],
        })
    return {"org": discovery.org, "repos": repos,
            "skipped": [{"repo": r, "reason": why} for r, why in discovery.skipped]}


def discovery_table(discovery: Discovery) -> str:
    rows = [("REPO", "CONFIG", "SUBSCRIPTIONS", "PRODUCES")]
    for repo in discovery.repos:
        config = repo.config.config if repo.config else None
        subs = ", ".join(f"{s.producer}[{','.join(s.events)}]"
                         for s in config.subscriptions) if config else ""
        produces = ", ".join(p.type for p in config.produces) if config else ""
        rows.append((repo.full_name, _config_state(repo.config), subs or "-", produces or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
    with_config = sum(1 for r in discovery.repos if r.config and not r.config.missing)
    lines.append(f"\n{len(discovery.repos)} repositories, {with_config} with a tako.yml")
    lines.extend(f"skipped {name}: {why}" for name, why in discovery.skipped)
    return "\n".join(lines)


@click.command("discover")
@_source_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True,
              help="table: one line per repository; json: repositories, subscriptions "
                   "and diagnostics")
@friendly
def discover_command(org: str | None, workspace: str | None, repos: tuple[str, ...],
                     names: tuple[str, ...], topics: tuple[str, ...], config_path: str,
                     api_url: str | None, fmt: str) -> None:
    """List the repositories and what their tako.yml subscribes to.

    Archived, disabled and fork repositories are skipped (and listed as skipped).
    Exit 0, also when some tako.yml files are broken (shown in the CONFIG column);
    2 on bad arguments, credentials or an unreachable API.

    \b
    Examples:
      tako-gha discover --workspace ./workspace
      tako-gha discover --org my-org --name 'svc-*' --format json
    """
    source = Source(org or (None if workspace else _default_org()), workspace, repos, names,
                    topics, config_path, api_url)
    discovery = discover_from(source)
    if fmt == "json":
        click.echo(json.dumps(discovery_json(discovery), indent=2))
    else:
        click.echo(discovery_table(discovery))


@click.command("graph", short_help="Show who triggers whom, and every subscription cycle.")
@_source_options
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot", "json"]),
              default="text", show_default=True,
              help="mermaid renders in GitHub Markdown (```mermaid fence); dot for Graphviz")
@click.option("--from", "start", metavar="OWNER/REPO",
              help="only what a cascade from this repository can reach")
@friendly
def graph_command(org: str | None, workspace: str | None, repos: tuple[str, ...],
                  names: tuple[str, ...], topics: tuple[str, ...], config_path: str,
                  api_url: str | None, fmt: str, start: str | None) -> None:
    """Show who triggers whom: producer -> subscriber edges labelled with event types,
    every subscription cycle as a path (a → b → a), and the depth of the longest
    cascade each producer can start.

    Exit 0, cycles included (`tako-gha lint --strict` fails on them); 2 on bad
    arguments, credentials or an unreachable API.

    \b
    Examples:
      tako-gha graph --workspace ./workspace
      tako-gha graph --org my-org --format mermaid > graph.md
      tako-gha graph --workspace ./workspace --format dot | dot -Tsvg > graph.svg
      tako-gha graph --workspace ./workspace --from my-org/core-lib
    """
    if start is not None:
        check_repo_name(start, "--from")
    source = Source(org or (None if workspace else _default_org()), workspace, repos, names,
                    topics, config_path, api_url)
    configs = discover_from(source).configs()
    graph = SubscriptionGraph.from_configs(configs)
    if start is not None:
        graph = graph.reachable_from(start)
    click.echo(graph.render(fmt))
    # On stderr, so mermaid/dot/json on stdout stay parseable.
    for note in _graph_gaps(configs):
        click.echo(note, err=True)


def _graph_gaps(configs: Iterable[ConfigResult]) -> list[str]:
    """Repos whose tako.yml errors keep subscriptions out of the graph: without a
    word, a cycle behind a broken file would read as "acyclic"."""
    notes = []
    for result in configs:
        errors = [d for d in result.diagnostics if d.is_error]
        if result.missing or not errors:
            continue
        if result.config is None:
            first = errors[0]
            notes.append(f"warning: {result.repo}: tako.yml could not be used, so it is not "
                         f"in the graph: {first.location()}: {first.message}")
        else:
            notes.append(f"warning: {result.repo}: tako.yml has {len(errors)} error(s); the "
                         "subscriptions they drop are not in the graph")
    if notes:
        notes.append("  hint: run tako-gha lint on the workspace or checkouts to see every "
                     "problem")
    return notes


# ================================================================ plan
def resolve_source(value: str | None) -> str:
    """``--source``, else ``GITHUB_REPOSITORY``, else the ``origin`` remote (docs/cli.md)."""
    return gitinfo.resolve_source(value, os.environ, Path.cwd())


def _source_config(where: Source, configs: list[ConfigResult], source: str
                   ) -> RepoConfig | None:
    """The source's config, read separately when the selection left it out (its
    ``produces`` gives the event's default schema_version)."""
    found = next((c for c in configs if c.repo.lower() == source.lower()), None)
    if found is None and (where.repos or where.names or where.topics):
        only_source = Source(where.org or source.split("/")[0], where.workspace, (source,),
                             config_path=where.config_path, api_url=where.api_url)
        found = next(iter(discover_from(only_source).configs()), None)
    return found.config if found else None


def _unknown_source(where: Source, discovery: Discovery, plan: Plan) -> Diagnostic | None:
    """A --source that is not among the repositories and that nothing subscribes to is
    almost always a typo; the plan would just list every repo as "no subscription"."""
    if where.repos or where.names or where.topics:
        return None  # a selection leaves repos out on purpose
    source = plan.event.source
    known = [r.full_name for r in discovery.repos] + [name for name, _ in discovery.skipped]
    if source.lower() in {name.lower() for name in known}:
        return None
    if plan.targets or any(s.kind not in ("no-subscription", "no-config", "config-error")
                           for s in plan.skipped):
        return None  # someone subscribes to it: an outside producer, fine
    place = f"workspace {where.workspace}" if where.workspace is not None else \
        f"organization {where.org}"
    close = difflib.get_close_matches(source, known, n=1)
    hint = (f"did you mean --source {close[0]}?" if close
            else "check the spelling of --source OWNER/REPO")
    return Diagnostic(Severity.WARNING,
                      f"{source} is not a repository of the {place}, and nothing there "
                      "subscribes to it", file="--source", code="unknown-source", hint=hint)


def plan_text(plan: Plan) -> str:
    event = plan.event
    version = event.schema_version or "none"
    lines = [f"plan: {event.type} from {event.source} (schema_version {version})"]
    lines.append(f"targets ({len(plan.targets)}):")
    width = max((len(t.repo) for t in [*plan.targets, *plan.skipped]), default=0)
    for target in plan.targets:
        extra = f"  workflow {target.workflow}" if target.workflow else ""
        lines.append(f"  {target.repo.ljust(width)}  {target.subscription.describe()}{extra}")
        lines.extend(f"      {name} = {value}" for name, value in target.inputs.items())
        if target.also_matched:
            others = ", ".join(f"subscriptions[{i}]" for i in target.also_matched)
            lines.append(f"      (also matched: {others}; the first one wins)")
    lines.append(f"skipped ({len(plan.skipped)}):")
    for skip in plan.skipped:
        mark = "error: " if skip.error else ""
        lines.append(f"  {skip.repo.ljust(width)}  {mark}{skip.reason}")
    for problem in plan.diagnostics:
        lines.append(problem.format())
    return "\n".join(lines)


@click.command("plan", short_help="Dry run of a fan-out: who would receive the event, and why "
                                  "not.")
@_source_options
@click.option("--source", metavar="OWNER/REPO", help="repository publishing the event  "
              "[default: $GITHUB_REPOSITORY, else the origin remote]")
@click.option("--event", "event_type", required=True, metavar="TYPE",
              help="event type, e.g. library_built")
@click.option("--schema-version", metavar="V", help="event schema version  "
              "[default: what the source declares in events.produces]")
@click.option("--payload", metavar="JSON|@FILE",
              help="event payload: a JSON object in standard JSON (no NaN, <= 64 levels), "
                   "@FILE, or @- for stdin  [default: {}]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help='json: {"targets": [{repo, subscription, inputs}], "skipped": '
                   '[{repo, reason}], ...}')
@friendly
def plan_command(org: str | None, workspace: str | None, repos: tuple[str, ...],
                 names: tuple[str, ...], topics: tuple[str, ...], config_path: str,
                 api_url: str | None, source: str | None, event_type: str,
                 schema_version: str | None, payload: str | None, fmt: str) -> None:
    """Dry run of a fan-out: which repositories would receive the event, with which
    inputs, and why every other repository would not. Nothing is dispatched.

    The event's schema_version defaults to what the source declares in its
    events.produces. A repository whose tako.yml is broken, or whose input template
    names a missing field, is listed with an error and the plan goes on (exit 0);
    bad arguments exit 2.

    \b
    Examples:
      tako-gha plan --workspace ./workspace --source my-org/core-lib \\
          --event library_built --payload '{"version": "2.1.0"}'
      tako-gha plan --org my-org --source my-org/core-lib --event library_built \\
          --payload @event.json --format json
    """
    source_repo = resolve_source(source)
    read_event_type(event_type)
    read_schema_version(schema_version)
    event = Event(type=event_type, source=source_repo, payload=read_payload(payload),
                  schema_version=schema_version)
    where = Source(org or (None if workspace else source_repo.split("/")[0]), workspace, repos,
                   names, topics, config_path, api_url)
    discovery = discover_from(where)
    configs = discovery.configs()
    plan = plan_fanout(event, configs, source_config=_source_config(where, configs, source_repo))
    unknown = _unknown_source(where, discovery, plan)
    if unknown is not None:
        plan.diagnostics.insert(0, unknown)
    if fmt == "json":
        data = plan.to_json()
        data["skipped"].extend({"repo": name, "reason": why, "kind": "not-selected",
                                "subscription_index": None, "error": False}
                               for name, why in discovery.skipped)
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(plan_text(plan))
        for name, why in discovery.skipped:
            click.echo(f"not selected: {name}: {why}")


# ================================================================ schema
@click.command("schema", short_help="Print the JSON Schema of tako.yml (for editors).")
def schema_command() -> None:
    """Print the JSON Schema of tako.yml (draft 2020-12, $id
    urn:tako-gha:tako.schema.json) on stdout, for editors and validators.

    Save it next to your tako.yml and point the YAML language server at it with a
    first line `# yaml-language-server: $schema=./tako.schema.json` (docs/tako-yml.md).
    The schema checks the shape; `tako-gha lint` also checks filters, templates,
    ranges and the workflows. Exit 0.

    \b
    Examples:
      tako-gha schema > tako.schema.json
      tako-gha schema > s.json && check-jsonschema --schemafile s.json tako.yml
    """
    from tako_gha.core.config import schema_text

    click.echo(schema_text(), nl=False)


COMMANDS: list[click.Command] = [lint_command, discover_command, graph_command, plan_command,
                                 schema_command]
