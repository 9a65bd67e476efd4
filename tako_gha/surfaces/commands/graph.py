"""``tako-gha graph``: who triggers whom, every subscription cycle, cascade depths."""

from __future__ import annotations

from collections.abc import Iterable

import click

from tako_gha.core.config import ConfigResult
from tako_gha.core.graph import SubscriptionGraph
from tako_gha.surfaces.commands.common import friendly
from tako_gha.surfaces.commands.sources import Source, default_org, discover_from, source_options
from tako_gha.surfaces.gitinfo import check_repo_name


@click.command("graph", short_help="Show who triggers whom, and every subscription cycle.")
@source_options
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
    source = Source(org or (None if workspace else default_org()), workspace, repos, names,
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
