"""Building blocks shared by the CLI tests: a receiver workflow, a subscription and
the outcome of one console run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from tako_gha.emulator.worldgen import receiver_workflow, subscriber_config

# Re-exported under the short names these tests use.
receiver = receiver_workflow
subscription = subscriber_config


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_console(main: Callable[[list[str]], object], args: Sequence[str],
                capsys: pytest.CaptureFixture[str]) -> Outcome:
    """``main(args)`` in this process, with its exit status as the shell would see it
    (None 0, an int itself, a message 1) and what it printed."""
    capsys.readouterr()
    code: int = 0
    try:
        main(list(args))
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else int(done.code is not None)
    out, err = capsys.readouterr()
    return Outcome(code, out, err)
