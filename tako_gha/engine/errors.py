"""Errors the engine raises: refusals before anything is dispatched, and the one
failure that stops a fan-out or a wait midway (the token stopped working)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tako_gha.forge.base import AuthError, ForgeError

if TYPE_CHECKING:
    from tako_gha.core.tree import TreeReport


class FanOutError(ForgeError):
    """A fan-out refused as a whole (bad options, too many children, bad event):
    nothing was dispatched. ``hint`` names the fix."""


class TreeNotFoundError(ForgeError):
    """No run of the org carries this root id in its title."""


class CredentialsLostError(AuthError):
    """GitHub stopped accepting the token (401: revoked or expired) after the tree
    was under way. Waiting on is pointless — every request would be refused until
    the timeout — so the fan-out or wait stops here: nothing more is dispatched, the
    runs already started keep going. ``report`` is the tree as last seen (nodes
    keep the states they had; none is marked timed out)."""

    def __init__(self, message: str, *, hint: str, report: TreeReport) -> None:
        super().__init__(message, hint=hint, status=401)
        self.report = report
