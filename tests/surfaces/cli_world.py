"""Building blocks shared by the CLI tests: a receiver workflow, a subscription and
the outcome of one console run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tako_gha.emulator.worldgen import receiver_workflow, subscriber_config

# Re-exported under the short names these tests use.
receiver = receiver_workflow
subscription = subscriber_config


# What a GitHub Actions runner (or a developer's shell) sets that would steer a command
# under test: source, event file, the Actions switch and a second token.
RUNNER_ENV = ("GITHUB_REPOSITORY", "GITHUB_EVENT_PATH", "GITHUB_ACTIONS", "GH_TOKEN")


def outside_actions(monkeypatch: pytest.MonkeyPatch, cwd: Path, *also: str) -> None:
    """Run the command as from a plain shell in ``cwd``: none of ``RUNNER_ENV`` (nor
    ``also``) is set, and the working directory is no git checkout of ours."""
    for name in (*RUNNER_ENV, *also):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(cwd)


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
