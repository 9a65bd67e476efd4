"""CLI commands; see tako_gha.surfaces.cli."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
