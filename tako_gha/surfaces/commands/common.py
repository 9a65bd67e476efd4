"""What every config-reading command shares: exit codes and the error wrapper."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tako_gha.forge.base import ForgeError
from tako_gha.surfaces.errors import UserError, report_error

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn known errors into ``error: …`` + hint and an exact exit code, under both
    the console entry and click's test runner."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            report_error(exc)
            raise click.exceptions.Exit(exc.exit_code) from None
        except ForgeError as exc:
            report_error(UserError(exc.message, hint=exc.hint))
            raise click.exceptions.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]
