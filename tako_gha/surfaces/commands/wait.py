"""``tako-gha wait``: wait until a cascade's whole tree has finished (status --wait)."""

from __future__ import annotations

import click

from tako_gha.surfaces.commands.cascade_common import API_URL, FORMAT, TREE_ORG
from tako_gha.surfaces.commands.status import show_status


@click.command("wait", short_help="Wait until the tree of cascade ROOT has finished.")
@click.argument("root")
@TREE_ORG
@click.option("--timeout", default="30m", show_default=True, metavar="DUR",
              help="The longest wait.")
@API_URL
@FORMAT
def wait_cmd(root: str, org: str | None, timeout: str, api_url: str | None, fmt: str) -> None:
    """Wait until the whole tree of cascade ROOT has finished (same as status --wait):
    picks up a fire-and-forget fan-out (--no-wait) from any machine.

    \b
    Exit 0 when every node succeeded, 1 when one failed, 2 on bad arguments
    or credentials, 3 when the wait timed out.

    \b
    Examples:
      tako-gha wait 5210ea35be12 --org my-org
      tako-gha wait 5210ea35be12 --org my-org --timeout 2h --format json
    """
    show_status(root, org, True, timeout, api_url, fmt)
