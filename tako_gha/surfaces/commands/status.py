"""``tako-gha status``: the tree of a cascade, rebuilt from run titles, from any machine."""

from __future__ import annotations

import os

import click

from tako_gha.core.tree import TreeStatus
from tako_gha.engine.api import FanOutOptions
from tako_gha.forge.base import ForgeError
from tako_gha.surfaces.cascade_run import emit_report, live_observer
from tako_gha.surfaces.commands.cascade_common import (
    API_URL,
    EXIT_RUNNING,
    FORMAT,
    STATUS_NEEDS,
    TREE_ORG,
    MessageObserver,
    duration,
    env_tuning,
    forge_error,
    local_journal,
    open_cascade_forge,
    tree_org,
)


@click.command("status", short_help="Show the tree of cascade ROOT, from any machine.")
@click.argument("root")
@TREE_ORG
@click.option("--wait", is_flag=True, help="Wait until the whole tree has finished.")
@click.option("--timeout", default="30m", show_default=True, metavar="DUR",
              help="With --wait: the longest wait.")
@API_URL
@FORMAT
def status_cmd(root: str, org: str | None, wait: bool, timeout: str, api_url: str | None,
               fmt: str) -> None:
    """Show the tree of cascade ROOT (the root id a fan-out printed), rebuilt from the
    run titles in the runs API: it works from any machine, any time later.

    \b
    Exit 0 when the tree succeeded, 1 when a node failed, 2 on bad arguments
    or credentials, 3 when --wait timed out, 4 when the tree is still running
    (without --wait).

    \b
    Examples:
      tako-gha status 5210ea35be12 --org my-org
      tako-gha status 5210ea35be12 --org my-org --wait --timeout 1h
      tako-gha status 5210ea35be12 --org my-org --format json > tree.json
    """
    show_status(root, org, wait, timeout, api_url, fmt)


def show_status(root: str, org: str | None, wait: bool, timeout: str, api_url: str | None,
            fmt: str) -> None:
    from tako_gha.engine.watch import watch

    env = os.environ
    organisation = tree_org(org, env)
    options = env_tuning(FanOutOptions(wait=wait, timeout=duration(timeout, "--timeout") or 0),
                         env)
    forge = open_cascade_forge(api_url, STATUS_NEEDS)
    observer = live_observer() if wait else MessageObserver()
    journal = local_journal(root.strip(), env)
    try:
        report = watch(forge, root.strip(), organisation, options, observer, journal=journal)
    except ForgeError as exc:
        raise forge_error(exc) from None
    finally:
        if wait:
            observer.close()
    emit_report(report, fmt, None, None)
    if report.status is TreeStatus.RUNNING:
        raise SystemExit(EXIT_RUNNING)
    raise SystemExit(report.status.exit_code)
