"""``tako-gha rerun``: continue a cascade whose children failed, from a shell: re-run
their failed runs (the next attempt of each, followed as the same node) and wait on
the tree (docs/cli.md)."""

from __future__ import annotations

import os

import click

from tako_gha.engine.api import FanOutOptions
from tako_gha.forge.base import ForgeError
from tako_gha.surfaces.cascade_run import emit_report, live_observer
from tako_gha.surfaces.commands.cascade_common import (
    API_URL,
    CANCEL_NEEDS,
    FORMAT,
    TREE_ORG,
    MessageObserver,
    duration,
    env_tuning,
    forge_error,
    local_journal,
    open_cascade_forge,
    tree_org,
)


@click.command("rerun", short_help="Re-run the failed runs of cascade ROOT and wait on it.")
@click.argument("root")
@TREE_ORG
@click.option("--failed", "failed_only", is_flag=True,
              help="Re-run only the failed jobs of each failed run (GitHub's \"Re-run "
                   "failed jobs\"); without it, every job of those runs.")
@click.option("--timeout", default="30m", show_default=True, metavar="DUR",
              help="The longest wait for the tree afterwards.")
@API_URL
@FORMAT
def rerun_cmd(root: str, org: str | None, failed_only: bool, timeout: str,
              api_url: str | None, fmt: str) -> None:
    """Re-run the failed runs of cascade ROOT, then wait until its tree has finished.

    Each failed run starts its next attempt (same run id, the same node in the
    tree); children that succeeded are left as they are. A child whose run failed
    because one of its own children did is re-run itself: its fan-out step resumes
    its part of the tree. Children that were never sent have no run to re-run:
    send them with the fan-out's own command and --resume ROOT.

    The token needs Actions: write on the repositories of the tree.

    \b
    Exit 0 when every node succeeded, 1 when one failed, 2 on bad arguments
    or credentials (or nothing to re-run), 3 when the wait timed out.

    \b
    Examples:
      tako-gha rerun 5210ea35be12 --org my-org --failed
      tako-gha rerun 5210ea35be12 --org my-org --timeout 1h --format json
    """
    from tako_gha.engine.watch import rerun_tree, watch

    env = os.environ
    root = root.strip()
    organisation = tree_org(org, env)
    options = env_tuning(FanOutOptions(wait=True, timeout=duration(timeout, "--timeout") or 0),
                         env)
    forge = open_cascade_forge(api_url, CANCEL_NEEDS)
    journal = local_journal(root, env)
    try:
        started = rerun_tree(forge, root, organisation, failed_only=failed_only,
                             journal=journal, observer=MessageObserver())
    except ForgeError as exc:
        raise forge_error(exc) from None
    for repo, run_id, attempt in started:
        click.echo(f"re-running {repo} run {run_id} (attempt {attempt})", err=True)
    if not started:
        click.echo(f"nothing to re-run in tree {root}: no failed run", err=True)
    observer = live_observer()
    try:
        # The runs re-run now have time of their own: the root's old deadline does
        # not end this wait (--timeout does).
        report = watch(forge, root, organisation, options, observer, journal=journal,
                       follow_deadline=False)
    except ForgeError as exc:
        raise forge_error(exc) from None
    finally:
        observer.close()
    emit_report(report, fmt, None, None)
    raise SystemExit(report.status.exit_code)
