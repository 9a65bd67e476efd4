"""Errors the engine raises before anything is dispatched."""

from __future__ import annotations

from tako_gha.forge.base import ForgeError


class FanOutError(ForgeError):
    """A fan-out refused as a whole (bad options, too many children, bad event):
    nothing was dispatched. ``hint`` names the fix."""


class TreeNotFoundError(ForgeError):
    """No run of the org carries this root id in its title."""
