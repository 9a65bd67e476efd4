"""``tako-gha hook pre-push``: the git pre-push hook (see ``surfaces.hook``).

Installed by ``tako-gha hook install`` or ``hooks/pre-push`` (plain git), or the
``tako-plan`` hook of ``.pre-commit-hooks.yaml`` (pre-commit, stage pre-push).
"""

from __future__ import annotations

import os
import sys

import click

from tako_gha.core.config import DEFAULT_CONFIG_PATH
from tako_gha.core.links import doc_url


@click.group("hook", help="Git hooks: check the tako.yml being pushed "
                           f"({doc_url('hook.md')}).")
def hook() -> None:
    pass


@hook.command("pre-push", short_help="Lint the tako.yml being pushed; block only on errors.")
@click.argument("remote", required=False, default="")
@click.argument("url", required=False, default="")
@click.option("--config-path", default=DEFAULT_CONFIG_PATH, show_default=True,
              help="Path of the subscription file inside the repository.")
@click.option("--plan/--no-plan", default=True, show_default=True,
              help="With a token (GITHUB_TOKEN/GH_TOKEN), print the cascade the pushed "
                   "produces events would start.")
def pre_push(remote: str, url: str, config_path: str, plan: bool) -> None:
    """Lint the tako.yml of the commits being pushed (read from git's objects, not
    the work tree); block the push only on errors. With a token in the environment,
    also print the cascade the pushed produces events would start.

    \b
    git calls it with REMOTE and URL and the pushed refs on stdin; under
    pre-commit the refs come from PRE_COMMIT_TO_REF. Offline it never blocks
    for lack of network. Exit 1 blocks the push (errors), 0 lets it through.
    The repository is taken from URL, or TAKO_REPOSITORY.

    \b
    Examples:
      tako-gha hook install                    # the hook runs: tako-gha hook pre-push "$@"
      git push --no-verify                     # skip it once
      tako-gha hook pre-push origin git@github.com:my-org/app.git --no-plan < refs.txt
    """
    from tako_gha.surfaces.hook import run_pre_push

    stdin_text = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    # Hooks report on stderr (git shows it; stdout is not always passed through).
    code = run_pre_push(stdin_text, [remote, url], os.environ, sys.stderr,
                        config_path=config_path, plan=plan)
    sys.stderr.flush()
    click.get_current_context().exit(code)



@hook.command("install", short_help="Install the pre-push hook in this repository.")
@click.option("--force", is_flag=True,
              help="Replace a different pre-push hook that is already there.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the hook script to standard output instead of installing it.")
def install(force: bool, print_only: bool) -> None:
    """Install tako-gha's pre-push hook in the git repository around the current
    directory: the script shipped in the package (the same as hooks/pre-push in
    tako-gha's repository), written where git runs hooks from (core.hooksPath
    honoured), executable. Another pre-push hook already there is kept unless
    --force is given. Exit 0 installed (or already there), 2 not in a git
    repository, another hook there, or the hooks directory not writable.

    \b
    Examples:
      tako-gha hook install
      tako-gha hook install --force
      tako-gha hook install --print > my-hooks/pre-push
    """
    from pathlib import Path

    from tako_gha.surfaces.hook_install import hook_text, install_hook

    if print_only:
        click.echo(hook_text().decode("utf-8"), nl=False)
        return
    done = install_hook(Path.cwd(), force=force)
    if done.unchanged:
        click.echo(f"the tako-gha pre-push hook is already installed in {done.path}")
    else:
        verb = "replaced the pre-push hook in" if done.replaced else "installed the tako-gha " \
            "pre-push hook in"
        click.echo(f"{verb} {done.path}; `git push --no-verify` skips it once")
