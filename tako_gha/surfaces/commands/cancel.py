"""``tako-gha cancel``: cancel every still-running run of a cascade."""

from __future__ import annotations

import json
import os

import click

from tako_gha.forge.base import ForgeError
from tako_gha.surfaces.commands.cascade_common import (
    API_URL,
    CANCEL_NEEDS,
    TREE_ORG,
    MessageObserver,
    forge_error,
    local_journal,
    open_cascade_forge,
    tree_org,
)


@click.command("cancel")
@click.argument("root")
@TREE_ORG
@API_URL
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help='text: one line per cancelled run and a count; json: {"root", "org", '
                   '"cancelled": [{"repo", "run_id"}], "count"}.')
def cancel_cmd(root: str, org: str | None, api_url: str | None, fmt: str) -> None:
    """Cancel every still-running run of cascade ROOT.

    The token needs Actions: write on the repositories of the tree. Prints one line
    per cancelled run and a count. Exit 0 when done, 2 on bad arguments or
    credentials.

    \b
    Examples:
      tako-gha cancel 5210ea35be12 --org my-org
      tako-gha cancel 5210ea35be12 --org my-org --format json
    """
    from tako_gha.engine.watch import cancel_tree

    env = os.environ
    organisation = tree_org(org, env)
    forge = open_cascade_forge(api_url, CANCEL_NEEDS)
    try:
        cancelled = cancel_tree(forge, root.strip(), organisation,
                                journal=local_journal(root.strip(), env),
                                observer=MessageObserver())
    except ForgeError as exc:
        raise forge_error(exc) from None
    if fmt == "json":
        click.echo(json.dumps({"root": root.strip(), "org": organisation,
                               "cancelled": [{"repo": repo, "run_id": run_id}
                                             for repo, run_id in cancelled],
                               "count": len(cancelled)}, indent=2))
        return
    for repo, run_id in cancelled:
        click.echo(f"cancelled {repo} run {run_id}")
    click.echo(f"{len(cancelled)} run(s) cancelled in tree {root.strip()}")
