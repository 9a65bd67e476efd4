"""``tako-gha discover``: the repositories and what their tako.yml subscribes to."""

from __future__ import annotations

import json
from typing import Any

import click

from tako_gha.core.config import ConfigResult
from tako_gha.forge.base import Discovery
from tako_gha.surfaces.commands.common import friendly
from tako_gha.surfaces.commands.sources import Source, default_org, discover_from, source_options


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
@source_options
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
    source = Source(org or (None if workspace else default_org()), workspace, repos, names,
                    topics, config_path, api_url)
    discovery = discover_from(source)
    if fmt == "json":
        click.echo(json.dumps(discovery_json(discovery), indent=2))
    else:
        click.echo(discovery_table(discovery))
