"""Building blocks shared by the CLI tests: a receiver workflow, a subscription and
the outcome of one console run."""

from __future__ import annotations

from dataclasses import dataclass

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
