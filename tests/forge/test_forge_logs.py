"""GitHubForge.job_log_tail against the emulator (302 to the log, downloaded without
the token), and the pure reading of a failing step's lines from a job log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import yaml

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.forge.base import ForgeError
from tako_gha.forge.github import GitHubForge
from tako_gha.forge.logtail import parse_time, step_tail
from tako_gha.forge.transport import RetryPolicy

pytestmark = pytest.mark.timeout(120)


def workflow(event: str, steps: list[dict]) -> str:
    return yaml.safe_dump({"name": event, "on": {"repository_dispatch": {"types": [event]}},
                           "jobs": {"ok": {"steps": [{"run": "echo fine"}]},
                                    "bad": {"steps": steps}}})


FAILING = [{"name": "prepare", "run": "echo preparing"},
           {"name": "check", "run": 'echo "reading tako.yml"\necho "error: no such key: evnets"'
                                    '\necho "token ${{ secrets.S }}"\nexit 2'},
           {"name": "report", "if": "always()", "run": "echo report after the failure"}]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("forge-logs") / "world"
    write_world(root, {"acme/app": {".github/workflows/f.yml": workflow("fail", FAILING),
                                    ".github/workflows/p.yml": workflow(
                                        "pass", [{"run": "echo all good"}])}},
                {"secrets": {"S": "hush-hush-42"}})
    with Emulator(root, port=0) as emulator:
        yield emulator


def forge_for(emu: Emulator, token: str | None = None) -> GitHubForge:
    return GitHubForge(emu.base_url, token=token or emu.admin_token, write_interval=0.0,
                       policy=RetryPolicy(max_retries=0))


def finished_run(emu: Emulator, event: str) -> int:
    (run,) = emu.runner.dispatch("acme/app", event, {}, "tester")
    assert emu.wait_idle(60)
    return run.id


def test_the_tail_of_the_failing_step_comes_from_the_job_log(emu: Emulator) -> None:
    run_id = finished_run(emu, "fail")
    forge = forge_for(emu)
    before = dict(forge.ledger.calls)
    tail = forge.job_log_tail("acme/app", run_id, lines=5)
    # the failing step's lines only: not the step before, not the always() step after,
    # not the runner's markers or its generic exit-code line; secrets stay masked
    assert tail == ["reading tako.yml", "error: no such key: evnets", "token ***"]
    assert forge.ledger.calls["poll"] - before.get("poll", 0) == 2  # jobs + log link
    assert forge.job_log_tail("acme/app", run_id, lines=1) == ["token ***"]


def test_no_failed_job_means_no_tail(emu: Emulator) -> None:
    run_id = finished_run(emu, "pass")
    assert forge_for(emu).job_log_tail("acme/app", run_id) == []


def test_a_refused_listing_is_a_forge_error(emu: Emulator) -> None:
    run_id = finished_run(emu, "pass")
    with pytest.raises(ForgeError):
        forge_for(emu).job_log_tail("acme/ghost", run_id)


def test_an_expired_log_is_no_tail(emu: Emulator) -> None:
    run_id = finished_run(emu, "fail")
    emu.set_faults({"errors": [{"kind": "logs", "status": 410, "next": 1}]})
    try:
        assert forge_for(emu).job_log_tail("acme/app", run_id) == []
    finally:
        emu.set_faults({})


# ----------------------------------------------------------------------------- pure

LOG = """2026-01-02T03:04:04.1000000Z ##[group]Run prepare
2026-01-02T03:04:04.1100000Z ##[endgroup]
2026-01-02T03:04:04.2000000Z preparing
2026-01-02T03:04:05.1000000Z ##[group]Run check
2026-01-02T03:04:05.1100000Z check --all
2026-01-02T03:04:05.2000000Z ##[endgroup]
2026-01-02T03:04:05.3000000Z first
2026-01-02T03:04:05.4000000Z ##[group]a group the step printed
2026-01-02T03:04:05.5000000Z inside

2026-01-02T03:04:05.6000000Z ##[endgroup]
2026-01-02T03:04:06.9000000Z second
2026-01-02T03:04:06.9500000Z ##[error]Process completed with exit code 1.
2026-01-02T03:04:08.1000000Z ##[group]Run report
2026-01-02T03:04:08.1100000Z ##[endgroup]
2026-01-02T03:04:08.2000000Z report
"""


def at(second: int) -> datetime:
    return datetime(2026, 1, 2, 3, 4, second, tzinfo=timezone.utc)


def test_step_tail_reads_back_from_the_exit_code_line_to_the_step_header() -> None:
    # the command in the header group, the step before and the step after are left out
    assert step_tail(LOG, at(5), at(6)) == ["first", "inside", "second"]
    assert step_tail(LOG, at(5), at(6), count=1) == ["second"]
    assert step_tail(LOG, None, None) == ["first", "inside", "second"]
    assert step_tail(LOG, at(30), at(31), count=2) == ["inside", "second"]
    assert step_tail(LOG, at(5), at(6), count=0) == []


def test_step_tail_without_an_exit_code_line_uses_the_window_or_the_end() -> None:
    timed_out = "\n".join(line for line in LOG.splitlines() if "exit code" not in line)
    assert step_tail(timed_out, at(8), at(8)) == ["report"]
    assert step_tail(timed_out, None, None, count=2) == ["second", "report"]
    assert step_tail("no stamps here\n" + "x" * 400, None, None)[-1].endswith("…")


def test_parse_time() -> None:
    assert parse_time("2026-01-02T03:04:05Z") == at(5)
    assert parse_time(None) is None and parse_time("yesterday") is None
