"""Credentials: a token, or a GitHub App (app id + private key + installation).

Secrets live only inside ``Credentials`` (excluded from its repr) and PyGithub's
``Auth`` objects; nothing here logs or formats them into messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import github
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, GithubException
from github.GithubException import BadAttributeException

from tako_gha.forge.base import AuthError, ForgeError, NotFoundError
from tako_gha.forge.redact import redact_url

TOKEN_VARS = ("GITHUB_TOKEN", "GH_TOKEN")
APP_ID_VAR = "TAKO_APP_ID"
APP_KEY_VAR = "TAKO_APP_PRIVATE_KEY"
APP_INSTALLATION_VAR = "TAKO_APP_INSTALLATION_ID"
DISPATCH_NEEDS = "Contents: write on the target repositories"


def no_credentials_hint(needs: str = DISPATCH_NEEDS) -> str:
    """What to set when no credentials are found; ``needs`` names the permission
    the command at hand needs (reading commands need less than a fan-out)."""
    return (f"set GITHUB_TOKEN or GH_TOKEN to a token with {needs}, or {APP_ID_VAR}, "
            f"{APP_KEY_VAR} and {APP_INSTALLATION_VAR} for a GitHub App")


NO_CREDENTIALS_HINT = no_credentials_hint()


@dataclass(frozen=True)
class Credentials:
    """How to authenticate. ``repr`` never shows a secret."""

    token: str | None = field(default=None, repr=False)
    app_id: str | None = None
    private_key: str | None = field(default=None, repr=False)
    installation_id: int | None = None
    source: str = ""  # where they came from, e.g. "GITHUB_TOKEN" (safe to show)

    @property
    def is_app(self) -> bool:
        return self.app_id is not None

    def describe(self) -> str:
        if self.is_app:
            return f"GitHub App {self.app_id}"
        return f"token from {self.source or 'input'}"


def _read_private_key(value: str) -> str:
    """Accept the PEM itself (also with literal ``\\n``s, as CI variables often hold
    it) or a path to a PEM file."""
    text = value.strip()
    if "-----BEGIN" in text:
        return _checked_key(text.replace("\\n", "\n").strip() + "\n", "")
    path = Path(text).expanduser()
    try:
        if path.is_file():
            return _checked_key(path.read_text(encoding="utf-8"), f" (file {path})")
    except (OSError, UnicodeDecodeError):
        pass
    raise AuthError(
        f"{APP_KEY_VAR} is neither a PEM private key nor a readable key file",
        hint="set it to the app's private key (-----BEGIN ... KEY-----) or a path to the .pem file",
    )


def _checked_key(pem: str, where: str) -> str:
    """The PEM if it is an unencrypted RSA private key (what GitHub Apps sign their
    JWTs with). Checked here because PyJWT only parses it at the first request and
    fails there with an exception no user should see. The message never quotes it."""
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AuthError(
            f"{APP_KEY_VAR}{where} is not a readable, unencrypted PEM private key",
            hint="use the .pem file GitHub generated for the app, unchanged "
                 "(-----BEGIN RSA PRIVATE KEY----- ...)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError(f"{APP_KEY_VAR}{where} is not an RSA private key",
                        hint="use the .pem file GitHub generated for the app")
    return pem


def credentials_from_env(env: Mapping[str, str] | None = None,
                         token: str | None = None) -> Credentials | None:
    """An explicit ``token`` first, then GITHUB_TOKEN / GH_TOKEN, then the App
    variables. None when nothing is set."""
    env = os.environ if env is None else env
    if token:
        return Credentials(token=_checked_token(token.strip(), "the token input"),
                           source="input")
    for name in TOKEN_VARS:
        value = env.get(name, "").strip()
        if value:
            return Credentials(token=_checked_token(value, name), source=name)
    app_id = env.get(APP_ID_VAR, "").strip()
    key = env.get(APP_KEY_VAR, "").strip()
    if app_id or key:
        if not (app_id and key):
            missing = APP_KEY_VAR if app_id else APP_ID_VAR
            raise AuthError(f"GitHub App credentials are incomplete: {missing} is not set",
                            hint=NO_CREDENTIALS_HINT)
        raw_installation = env.get(APP_INSTALLATION_VAR, "").strip()
        installation: int | None = None
        if raw_installation:
            if not raw_installation.isdigit():
                raise AuthError(f"{APP_INSTALLATION_VAR} must be a number",
                                hint="copy the id from the app's installation settings URL")
            installation = int(raw_installation)
        return Credentials(app_id=app_id, private_key=_read_private_key(key),
                           installation_id=installation, source="app")
    return None


def _checked_token(token: str, where: str) -> str:
    """A token is printable ASCII without spaces; anything else (a pasted line break,
    ``Bearer xyz``) cannot go into an HTTP header and would only fail as a retried
    transport error. The message names the variable, never the value."""
    if all(33 <= ord(char) < 127 for char in token):
        return token
    raise AuthError(f"{where} holds a space, line break or other character no token has",
                    hint="set it to the token alone (no 'Bearer ', quotes or newline)")


def token_auth(token: str) -> Auth.Auth:
    return Auth.Token(token)


def find_installation(app_auth: Auth.AppAuth, owner: str, *, base_url: str,
                      user_agent: str, timeout: int) -> int:
    """The installation id of the App on ``owner`` (an organization or a user)."""
    integration = github.GithubIntegration(auth=app_auth, base_url=base_url, retry=None,
                                           user_agent=user_agent, timeout=timeout)
    try:
        try:
            return int(integration.get_org_installation(owner).id)
        except GithubException as exc:
            if exc.status != 404:
                raise
            return int(integration.get_user_installation(owner).id)
    except GithubException as exc:
        if exc.status == 404:
            raise NotFoundError(
                f"the GitHub App is not installed on {owner}",
                hint=f"install the app on {owner} or set {APP_INSTALLATION_VAR}",
                status=404) from None
        if exc.status == 401:
            raise AuthError(
                "GitHub rejected the App's JWT (401)",
                hint=f"check {APP_ID_VAR} and that {APP_KEY_VAR} is this app's current key",
                status=401) from None
        raise ForgeError(f"could not find the GitHub App installation on {owner}: "
                         f"HTTP {exc.status}", status=exc.status) from None
    except (RuntimeError, AssertionError, BadAttributeException, TypeError, ValueError,
            KeyError, AttributeError) as exc:
        # PyGithub's object layer raises these on an answer that is not an
        # installation (HTML, wrong types) or on a redirect it refuses to follow.
        raise ForgeError(f"unexpected answer from {redact_url(base_url)} while looking up "
                         "the GitHub "
                         f"App installation on {owner} ({type(exc).__name__})",
                         hint=f"check --api-url / GITHUB_API_URL, or set "
                              f"{APP_INSTALLATION_VAR}") from None
    finally:
        integration.close()


def app_installation_auth(creds: Credentials, owner: str | None, *, base_url: str,
                          user_agent: str, timeout: int) -> Auth.Auth:
    """An installation auth that PyGithub refreshes before the token expires."""
    assert creds.app_id is not None and creds.private_key is not None
    app_auth = Auth.AppAuth(creds.app_id, creds.private_key)
    installation = creds.installation_id
    if installation is None:
        if owner is None:
            raise AuthError(
                "the GitHub App installation is unknown",
                hint=f"set {APP_INSTALLATION_VAR}, or pass --org so it can be looked up")
        installation = find_installation(app_auth, owner, base_url=base_url,
                                         user_agent=user_agent, timeout=timeout)
    return Auth.AppInstallationAuth(app_auth, installation)
