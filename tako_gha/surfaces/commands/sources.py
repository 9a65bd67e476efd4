"""Where the config-reading commands (discover, graph, plan) find repositories:
a local workspace ``DIR/<owner>/<repo>/`` or a GitHub organization, with the same
selection flags everywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from tako_gha.core.config import DEFAULT_CONFIG_PATH
from tako_gha.forge.base import Discovery, RepoMeta, RepoSelection
from tako_gha.forge.workspace import Traits, WorkspaceForge
from tako_gha.surfaces.commands.common import F
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.flags import utf8_option
from tako_gha.surfaces.gitinfo import check_repo_name, origin_repo


def is_workspace(path: Path, config_path: str) -> bool:
    return any(True for _ in path.glob(f"*/*/{config_path}"))


def source_options(func: F) -> F:
    options = [
        click.option("--org", callback=utf8_option,
                     help="GitHub organization to read (token from GITHUB_TOKEN/"
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
                     callback=utf8_option,
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
    if is_workspace(workspace, config_path):
        return
    if any(True for _ in workspace.glob(f"*/{config_path}")):
        raise UserError(f"--workspace {workspace} holds repositories directly "
                        f"(<repo>/{config_path}); it looks like one owner's directory",
                        hint=f"pass its parent: --workspace {workspace.resolve().parent} "
                             "(the layout is DIR/<owner>/<repo>/)")


def default_org() -> str | None:
    """The owner of ``GITHUB_REPOSITORY``, else of the ``origin`` remote (the same
    default as ``status`` and ``cancel``)."""
    repository = os.environ.get("GITHUB_REPOSITORY", "") or origin_repo(Path.cwd()) or ""
    return repository.split("/", 1)[0] if "/" in repository else None
