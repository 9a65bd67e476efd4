"""Building blocks shared by the CLI tests: a receiver workflow, a subscription and
the outcome of one console run."""

from __future__ import annotations

from dataclasses import dataclass


def receiver(event: str, work: str, *, timeout_minutes: int | None = None) -> str:
    """A workflow that runs ``work`` on a ``repository_dispatch`` of ``event`` and
    names its run by the tako title (strict correlation)."""
    limit = f"    timeout-minutes: {timeout_minutes}\n" if timeout_minutes else ""
    return (
        "name: on-tako\n"
        "run-name: ${{ github.event.client_payload.tako.title || github.workflow }}\n"
        f"on:\n  repository_dispatch:\n    types: [{event}]\n"
        f"jobs:\n  work:\n    runs-on: ubuntu-latest\n{limit}    steps:\n"
        f"      - name: work\n        run: {work}\n"
    )


def subscription(artifact: str, event: str) -> str:
    return (f"version: 1\nevents:\n  subscriptions:\n    - artifact: {artifact}\n"
            f"      events: [{event}]\n")


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr
