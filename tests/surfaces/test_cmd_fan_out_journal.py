"""``tako-gha fan-out`` and its journal, in process on the emulator: no journal, no
dispatch (unless --no-journal); one sender per root; a journal that is not a
regular file or cannot be written stops it before anything is sent. Each test counts
the runs every child got, from the emulator."""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_world import Outcome, outside_actions, receiver, run_console, subscription

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.engine import journal as journal_module
from tako_gha.engine.lock import RootLock, lock_path
from tako_gha.surfaces.cli import main

TOKEN = "t-admin"
ROOT = "00c0ffee0001"
CHILDREN = ("acme/b", "acme/c")
UNTAGGED = ("acme/u1", "acme/u2")  # receivers without the run-name tag
WORLD = {
    "acme/a": {"tako.yml": "version: 1\n"},
    **{repo: {"tako.yml": subscription("acme/a", "ok"),
              ".github/workflows/w.yml": receiver("ok", "echo ok")} for repo in CHILDREN},
    **{repo: {"tako.yml": subscription("acme/a", "plain"),
              ".github/workflows/w.yml": "\n".join(
                  line for line in receiver("plain", "echo ok").splitlines()
                  if not line.startswith("run-name:")) + "\n"} for repo in UNTAGGED},
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = write_world(tmp_path_factory.mktemp("journal-cli") / "world", WORLD,
                       {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN,
                        "runner": {"capacity": 6}})
    with Emulator(root, port=0) as emulator:
        yield emulator


@pytest.fixture
def fan_out(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> Any:
    outside_actions(monkeypatch, tmp_path, "GITHUB_API_URL")
    base = {"GITHUB_TOKEN": TOKEN, "TAKO_CACHE_DIR": str(tmp_path / "cache"),
            "TAKO_STATE_DIR": str(tmp_path / "state"), "TAKO_POLL_MIN_INTERVAL": "0.1",
            "TAKO_POLL_MAX_INTERVAL": "0.5", "TAKO_SIBLING_GRACE": "0.2"}

    def _run(*args: str, env: dict[str, str] | None = None) -> Outcome:
        with monkeypatch.context() as patch:
            for name, value in {**base, **(env or {})}.items():
                patch.setenv(name, value)
            return run_console(main, ["fan-out", "--event", "ok", "--source", "acme/a",
                                      "--timeout", "1m", *args, "--api-url", emu.base_url],
                               capsys)

    return _run


def _runs(emu: Emulator, root: str, repos: tuple[str, ...] = CHILDREN) -> list[int]:
    emu.wait_idle(30)
    per = Counter(r.repo for r in emu.runs.all_runs()
                  if (r.client_payload or {}).get("tako", {}).get("root") == root)
    return [per.get(repo, 0) for repo in repos]


def _all_runs(emu: Emulator) -> int:
    emu.wait_idle(30)
    return len(emu.runs.all_runs())


def test_no_journal_no_dispatch_unless_no_journal_says_so(fan_out: Any, emu: Emulator,
                                                          tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    before = _all_runs(emu)
    result = fan_out(env={"TAKO_STATE_DIR": str(blocker / "state")})
    assert result.exit_code == 2, result.output
    assert "no dispatch journal can be written" in result.stderr
    assert "nothing was dispatched" in result.stderr and "--no-journal" in result.stderr
    assert "tako: cascade" not in result.stderr and _all_runs(emu) == before
    result = fan_out("--no-journal", "--format", "json",
                     env={"TAKO_STATE_DIR": str(blocker / "state")})
    assert result.exit_code == 0, result.output
    assert "--no-journal: nothing records what is sent" in result.stderr
    assert _all_runs(emu) == before + len(CHILDREN)


def test_a_second_sender_for_a_root_is_refused_at_once(fan_out: Any, emu: Emulator,
                                                       tmp_path: Path) -> None:
    journal = tmp_path / "state" / f"tako-journal-{ROOT}.jsonl"
    before = _all_runs(emu)
    with RootLock.acquire(lock_path(journal, ROOT), what=f"root {ROOT}"):
        result = fan_out("--resume", ROOT)
    assert result.exit_code == 2, result.output
    assert f"another process is sending for root {ROOT}: process pid {os.getpid()}" \
        in result.stderr
    assert "nothing was dispatched" in result.stderr and _all_runs(emu) == before
    result = fan_out("--resume", ROOT, "--format", "json")  # the lock is free again
    assert result.exit_code == 0, result.output
    assert _runs(emu, ROOT) == [1, 1]


def test_a_fifo_as_the_journal_is_refused_not_waited_on(fan_out: Any, emu: Emulator,
                                                        tmp_path: Path) -> None:
    fifo = tmp_path / "j.fifo"
    os.mkfifo(fifo)
    before = _all_runs(emu)
    result = fan_out("--state", str(fifo))
    assert result.exit_code == 2, result.output
    assert "is a FIFO, not a regular file" in result.stderr and _all_runs(emu) == before


def test_a_resume_on_a_read_only_journal_says_what_it_records_and_sends_nothing(
        fan_out: Any, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = "00c0ffee0002"
    journal = tmp_path / "state" / f"tako-journal-{root}.jsonl"
    first = fan_out("--resume", root, "--repos", "acme/b", "--no-wait")
    assert first.exit_code == 0, first.output
    real_open = os.open

    def read_only(file: Any, flags: int, *args: Any) -> int:
        if str(file) == str(journal) and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(file, flags, *args)

    monkeypatch.setattr(journal_module.os, "open", read_only)
    result = fan_out("--resume", root)
    assert result.exit_code == 2, result.output
    assert "Read-only file system" in result.stderr
    assert "the journal records 1 dispatch(es)" in result.stderr
    assert "1 target(s) are still to be sent (acme/c)" in result.stderr
    assert "run the same resume to send the rest" in result.stderr
    assert _runs(emu, root) == [1, 0]


def test_an_interrupted_fan_out_says_what_the_journal_records_and_what_to_run(
        fan_out: Any, emu: Emulator, tmp_path: Path) -> None:
    """Ctrl-C while the first dispatch is on its way: it is recorded, then the fan-out
    stops naming what the journal holds and the exact command that sends the rest."""
    root = "00c0ffee0003"
    result = fan_out("--resume", root, "--concurrency", "1",
                     env={"TAKO_JOURNAL_CRASH": "2:SIGINT"})
    assert result.exit_code == 130, result.output
    journal = tmp_path / "state" / f"tako-journal-{root}.jsonl"
    assert f"the journal {journal} records 1 dispatch(es) accepted" in result.stderr
    assert "1 of 2 children were not dispatched yet" in result.stderr
    assert "dispatch the rest: tako-gha fan-out --source acme/a --org acme" in result.stderr
    assert f"--state {journal} --resume {root}" in result.stderr
    assert _runs(emu, root) in ([1, 0], [0, 1])


def test_a_flipped_bit_in_the_journal_never_sends_its_target_again(
        fan_out: Any, emu: Emulator, tmp_path: Path) -> None:
    """Untagged receivers: only the journal knows what was sent. One bit of u1's
    intent flips on disk; the resume reports the line and sends nothing again."""
    root = "00c0ffee0004"
    first = fan_out("--event", "plain", "--resume", root, "--no-wait")
    assert first.exit_code == 0, first.output
    journal = tmp_path / "state" / f"tako-journal-{root}.jsonl"
    lines = journal.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if '"k":"intent"' in line
              and "acme/u1" in line)
    raw = bytearray(lines[at].encode())
    raw[raw.index(b'"id":"') + 8] ^= 0x01
    lines[at] = raw.decode()
    journal.write_text("\n".join(lines) + "\n")
    again = fan_out("--event", "plain", "--resume", root, "--format", "json")
    assert again.exit_code == 0, again.output
    assert f"1 unreadable line(s) (line {at + 1})" in again.stderr
    assert _runs(emu, root, UNTAGGED) == [1, 1]


def test_a_torn_last_line_then_a_resume_sends_each_target_once(
        fan_out: Any, emu: Emulator, tmp_path: Path) -> None:
    """A process died inside u2's intent write (its POST never left): the resume marks
    the torn line before appending, reads every whole record, and sends u2 once."""
    from tako_gha.core.ids import dispatch_id
    from tako_gha.engine.journal import read

    root = "00c0ffee0005"
    first = fan_out("--event", "plain", "--resume", root, "--repos", "acme/u1", "--no-wait")
    assert first.exit_code == 0, first.output
    journal = tmp_path / "state" / f"tako-journal-{root}.jsonl"
    u2 = dispatch_id(root, None, "acme/u2", "plain")
    with journal.open("a") as handle:
        handle.write('{"k":"intent","root":"' + root + '","id":"' + u2 + '","rep')
    again = fan_out("--event", "plain", "--resume", root, "--format", "json")
    assert again.exit_code == 0, again.output
    assert "was left unfinished by a write that never completed" in again.stderr
    assert _runs(emu, root, UNTAGGED) == [1, 1]
    state = read(journal, root)
    assert state.torn and not state.unreadable and state.entries[u2].status == "sent"
