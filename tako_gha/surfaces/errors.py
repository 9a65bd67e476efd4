"""Errors the CLI reports as one clean message (never a traceback)."""

from __future__ import annotations

import click

from tako_gha.forge.redact import redact


class UserError(Exception):
    """A problem the user can fix: bad flag value, unreadable file, API refusal.

    Commands raise this (or convert ForgeError into it) with ``exit_code`` 2 for
    usage/configuration errors.
    """

    def __init__(self, message: str, *, hint: str = "", exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


def report_error(exc: UserError) -> None:
    """``error: …`` and the hint on stderr; credentials in any URL (``--api-url
    https://user:pass@host``) and token-shaped strings are masked first."""
    click.echo(f"error: {redact(exc.message)}", err=True)
    if exc.hint:
        click.echo(f"  hint: {redact(exc.hint)}", err=True)


def api_url_named(text: str, name: str) -> str:
    """The forge's hints name the CLI's ``--api-url``; the action and the hook have
    another way to set it (``name``: "the api_url input", "GITHUB_API_URL")."""
    return text.replace("--api-url / GITHUB_API_URL", name).replace(
        "pass --api-url like", f"set {name} like").replace(
        "is --api-url a GitHub API endpoint?", f"is {name} a GitHub API endpoint?")
