"""What ``fan-out``, ``status``, ``wait`` and ``cancel`` share: reading their inputs,
opening the forge, and the options they have in common (docs/cli.md).

Exit codes: 0 success, 1 a node failed, 2 usage or configuration error, 3 timed out,
4 still running (``status`` without --wait). Credentials come from the environment
only (``surfaces.connect.open_forge``).

Polling and pacing knobs that are not flags (tests, impatient people) are read from
the environment like the action entry does: ``TAKO_POLL_MIN_INTERVAL``,
``TAKO_POLL_MAX_INTERVAL``, ``TAKO_SIBLING_GRACE`` (seconds),
``TAKO_DISPATCHES_PER_MINUTE``, ``TAKO_DISPATCHES_PER_HOUR``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from tako_gha.core.ids import is_id
from tako_gha.core.names import is_repo_name
from tako_gha.core.settings import OPTION_SETTINGS, SettingError, read_number
from tako_gha.engine.api import CascadeContext, FanOutOptions
from tako_gha.forge.base import ForgeError
from tako_gha.surfaces import gitinfo
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.flags import read_duration, utf8_option

EXIT_RUNNING = 4  # status: the tree has not finished (scripts poll on it)
# The fan-out settings of the environment, but TAKO_MAX_CHILDREN: the CLI has a flag.
ENV_KNOBS = {name: option for name, option in OPTION_SETTINGS.items()
             if name != "TAKO_MAX_CHILDREN"}


# ------------------------------------------------------------------ inputs
def duration(value: str | None, flag: str) -> float | None:
    return None if value is None else read_duration(value, flag)


def repo_from_remote(cwd: Path) -> str | None:
    """``owner/repo`` of the ``origin`` remote of the git checkout at ``cwd``."""
    return gitinfo.origin_repo(cwd)


def resolve_source(source: str | None, env: Mapping[str, str], cwd: Path) -> str:
    return gitinfo.resolve_source(source, env, cwd)


def resolve_org(org: str | None, source: str | None) -> str:
    if org:
        return org
    if source:
        return source.split("/", 1)[0]
    raise UserError("cannot tell which organization to look in", hint="pass --org ORG")


def tree_org(org: str | None, env: Mapping[str, str]) -> str:
    """The organisation a tree command (status, cancel, rerun) looks in: ``--org``, else
    the owner of ``GITHUB_REPOSITORY``, else of this checkout's origin remote."""
    source = env.get("GITHUB_REPOSITORY") or (None if org else repo_from_remote(Path.cwd()))
    return resolve_org(org, source)


def repo_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    repos = tuple(r.strip() for r in value.split(",") if r.strip())
    bad = [r for r in repos if not is_repo_name(r)]
    if bad:
        raise UserError(f"--repos: {', '.join(bad)} not OWNER/REPO",
                        hint="a comma-separated list: --repos acme/a,acme/b")
    return repos


def env_tuning(options: FanOutOptions, env: Mapping[str, str]) -> FanOutOptions:
    changes: dict[str, Any] = {}
    for name, field_name in ENV_KNOBS.items():
        raw = env.get(name)
        if not raw:
            continue
        try:  # finite and in its range (core.settings), or refused with its name
            changes[field_name] = read_number(name, raw)
        except SettingError as exc:
            raise UserError(str(exc)) from None
    return replace(options, **changes) if changes else options


def inherited_context(env: Mapping[str, str]) -> CascadeContext | None:
    from tako_gha.engine.context import context_from_environment

    try:
        return context_from_environment(env)
    except ValueError as exc:
        raise UserError(f"cannot continue the cascade this run belongs to: {exc}",
                        hint="the run's cascade context (client_payload.tako, or the tako "
                             "input of a workflow dispatch) was altered; start a new root "
                             "outside it") from None


def resume_context(root: str, source: str,
                    inherited: CascadeContext | None) -> CascadeContext:
    """The context of a root fan-out being run again: same root, so the same
    deterministic dispatch ids, and the engine adopts runs that already exist."""
    from tako_gha.core.ids import is_id

    if inherited is not None:
        raise UserError("--resume: this run already continues tree "
                        f"{inherited.root}; --resume is for a root fan-out")
    if not is_id(root.strip()):
        raise UserError(f"--resume: {root!r} is not a tako root id",
                        hint="use the 12-hex-digit root id the first fan-out printed")
    return CascadeContext(root=root.strip(), parent=None, depth=1, chain=(source,),
                          deadline=None)


# What each command's token needs, for the hint when none is set.
STATUS_NEEDS = "Actions: read and Contents: read on the organization's repositories"
CANCEL_NEEDS = "Actions: write and Contents: read on the organization's repositories"


def open_cascade_forge(api_url: str | None, needs: str | None = None) -> Any:
    """The forge for a cascade command; ``needs`` (default: a fan-out's) is the
    permission the no-credentials hint names. Lazy: PyGithub loads only here."""
    from tako_gha.forge.auth import DISPATCH_NEEDS
    from tako_gha.surfaces.connect import open_forge

    return open_forge(api_url, needs=needs or DISPATCH_NEEDS)


def forge_error(exc: ForgeError) -> UserError:
    return UserError(exc.message, hint=exc.hint, exit_code=2)


FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True,
                      help="Final report on stdout: a text tree, or the tree JSON.")
API_URL = click.option("--api-url", default=None, metavar="URL",
                       help="GitHub API base URL, for GitHub Enterprise Server or the "
                            "emulator.  [default: $GITHUB_API_URL, else api.github.com]")
ORG = click.option("--org", default=None, callback=utf8_option,
                   help="Organization whose repositories are discovered.  "
                        "[default: the source's owner]")
# status, wait and cancel have no --source: the owner comes from the checkout.
TREE_ORG = click.option("--org", default=None, callback=utf8_option,
                        help="Organization the cascade ran in.  [default: owner of "
                             "$GITHUB_REPOSITORY, else of the origin remote]")


def local_journal(root: str, env: Mapping[str, str]) -> Any:
    """This machine's journal of ``root`` (the default place), when it has one:
    ``status``, ``wait`` and ``cancel`` then see the dispatches sent to receivers
    without the run-name tag too. Unreadable: said, and the tree is rebuilt from tags."""
    from tako_gha.engine.journal import JournalError, default_path, read

    if not is_id(root):
        return None
    path = default_path(root, env)
    try:
        state = read(path, root)
    except JournalError as exc:
        click.echo(f"warning: {exc}; the tree is rebuilt from run titles only", err=True)
        return None
    return state if state.known else None


class MessageObserver:
    """Prints the engine's messages (a one-look ``status`` has no live tree)."""

    def on_update(self, report: Any) -> None:
        pass

    def on_message(self, text: str) -> None:
        click.echo(text, err=True)
