"""Open the GitHub forge for a command: API URL and credentials from the environment.

Every command that talks to GitHub takes ``--api-url`` (default
``GITHUB_API_URL``, else github.com's API) and reads credentials from the
environment only: ``GITHUB_TOKEN`` / ``GH_TOKEN``, or the GitHub App variables
``TAKO_APP_ID`` / ``TAKO_APP_PRIVATE_KEY`` / ``TAKO_APP_INSTALLATION_ID``.
``token=`` is for the action entry, whose ``token`` input is its own channel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from tako_gha.forge.auth import DISPATCH_NEEDS, credentials_from_env, no_credentials_hint
from tako_gha.forge.base import ForgeError
from tako_gha.forge.cache import default_cache_dir
from tako_gha.forge.github import DEFAULT_API_URL, GitHubForge
from tako_gha.forge.redact import redact_url
from tako_gha.forge.transport import RetryPolicy, WaitEvent
from tako_gha.surfaces.errors import UserError

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def resolve_api_url(api_url: str | None) -> str:
    return (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).strip()


def check_api_url(url: str) -> None:
    """Refuse an API URL that carries credentials (``https://user:pass@host``):
    tako authenticates with the token from the environment, and a password in a
    URL ends up in logs. The message shows the URL with them masked."""
    try:
        has_userinfo = "@" in (urlparse(url).netloc or "")
    except ValueError:
        has_userinfo = False  # GitHubForge says what is wrong with such a URL
    if has_userinfo:
        raise UserError(f"API URL {redact_url(url)} holds credentials (user:password@)",
                        hint="pass the API URL without them; the token comes from "
                             "GITHUB_TOKEN or GH_TOKEN (or the action's token input)")


def user_error(exc: ForgeError, *, exit_code: int = 2) -> UserError:
    """A ForgeError as the CLI's one-message error (messages never hold tokens)."""
    return UserError(exc.message, hint=exc.hint, exit_code=exit_code)


def open_forge(
    api_url: str | None,
    *,
    token: str | None = None,
    cache_dir: Path | str | None = None,
    prefer_rest: bool = False,
    on_wait: Callable[[WaitEvent], None] | None = None,
    policy: RetryPolicy | None = None,
    require_credentials: bool = True,
    needs: str = DISPATCH_NEEDS,
) -> GitHubForge:
    """A ``GitHubForge`` for ``api_url`` with the environment's credentials.

    Raises ``UserError`` (exit 2) with a hint when no credentials are set (unless
    ``require_credentials`` is False, for read-only use of public data) or the URL
    or App variables are unusable; ``needs`` is the permission that hint names.
    ``cache_dir`` defaults to ``TAKO_CACHE_DIR``.
    """
    url = resolve_api_url(api_url)
    check_api_url(url)
    try:
        creds = credentials_from_env(token=token)
    except ForgeError as exc:
        raise user_error(exc) from None
    if creds is None and require_credentials:
        raise UserError("no GitHub credentials found in the environment",
                        hint=no_credentials_hint(needs))
    try:
        host = urlparse(url).hostname or ""
    except ValueError:
        host = ""  # GitHubForge below says what is wrong with the URL
    try:
        return GitHubForge(
            url,
            credentials=creds,
            cache_dir=cache_dir if cache_dir is not None else default_cache_dir(),
            prefer_rest=prefer_rest,
            on_wait=on_wait,
            policy=policy,
            # GitHub asks for >= 1 s between writes; a loopback emulator does not.
            write_interval=0.0 if host in LOOPBACK else 1.0,
        )
    except ForgeError as exc:
        raise user_error(exc) from None
