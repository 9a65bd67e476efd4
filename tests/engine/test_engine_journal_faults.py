"""A journal that cannot lie: every fault of the file itself (short write, a flipped
bit, a torn line, a read-only journal, a FIFO, a lost directory entry) ends with each
child run exactly once, counted on the forge, or with nothing sent at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import EPOCH, FakeClock, FakeForge, FakeWorkflow

from tako_gha.core.events import Event
from tako_gha.core.ids import dispatch_id
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.engine import journal as journal_module
from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest
from tako_gha.engine.errors import FanOutError
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.journal import SENT, UNKNOWN, Journal, JournalError, clean, read
from tako_gha.engine.planning import StaticPlanner, Target

SOURCE = "acme/a"
ROOT = "0123456789ab"
FAST = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 600.0}


def _world(n: int = 3, run_name: bool = True) -> tuple[FakeForge, FakeClock, list[str]]:
    clock = FakeClock()
    repos = [f"acme/r{i}" for i in range(n)]
    return FakeForge(clock, {r: [FakeWorkflow(run_name=run_name)] for r in repos}), clock, repos


def _fan_out(forge: FakeForge, clock: FakeClock, repos: list[str], journal: Journal | None,
             *, resume: bool = False, payload: dict | None = None,
             **opts: Any) -> TreeReport:
    ctx = CascadeContext(root=ROOT, parent=None, depth=1, chain=(SOURCE,), deadline=None)
    request = FanOutRequest(event=Event("built", SOURCE, payload or {}), org="acme",
                            context=ctx if resume else None, root=None if resume else ROOT)
    messages: list[str] = []

    class Notes:
        def on_update(self, report: TreeReport) -> None:
            pass

        def on_message(self, text: str) -> None:
            messages.append(text)

    report = fan_out(forge, request, FanOutOptions(**{**FAST, **opts}), Notes(),
                     planner=StaticPlanner([Target(r) for r in repos], {}), clock=clock,
                     journal=journal)
    report.cost["messages"] = messages
    return report


def _runs(forge: FakeForge, repos: list[str]) -> list[int]:
    return [sum(1 for r in forge.runs if r.repo == repo) for repo in repos]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_a_short_write_of_an_intent_sends_nothing_for_it(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills inside child r1's intent: os.write returns short, no error.
    That dispatch is not POSTed, the partial line is taken back off, and the resume
    sends r1 and r2 once each."""
    forge, clock, repos = _world()
    path = tmp_path / "j.jsonl"
    real_write = os.write
    intents = {"n": 0}

    def full_disk(fd: int, data: bytes) -> int:
        if b'"k":"intent"' in data:
            intents["n"] += 1
            if intents["n"] == 2:
                return real_write(fd, data[:17])  # short, no error: what a full disk does
        return real_write(fd, data)

    monkeypatch.setattr(journal_module.os, "write", full_disk)
    with pytest.raises(JournalError, match="short write"):
        _fan_out(forge, clock, repos, Journal(path))
    monkeypatch.setattr(journal_module.os, "write", real_write)
    assert forge.calls["dispatch"] == 1 and _runs(forge, repos) == [1, 0, 0]
    assert path.read_text().endswith("\n")  # the partial line was taken back off
    state = read(path, ROOT)
    assert [e.repo for e in state.entries.values()] == ["acme/r0"] and not state.unreadable
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert _runs(forge, repos) == [1, 1, 1] and report.status is TreeStatus.SUCCESS


def test_a_short_write_that_cannot_be_taken_back_is_marked_torn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The partial line stays (the truncate fails too): the next writer marks it,
    so it neither swallows the next record nor reads as a sent dispatch."""
    forge, clock, repos = _world(n=2)
    path = tmp_path / "j.jsonl"
    real_write = os.write

    def short(fd: int, data: bytes) -> int:
        if b'"k":"intent"' in data and b"acme/r1" in data:
            return real_write(fd, data[:30])
        return real_write(fd, data)

    def no_truncate(fd: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", short)
    monkeypatch.setattr(journal_module.os, "ftruncate", no_truncate)
    with pytest.raises(JournalError, match="short write"):
        _fan_out(forge, clock, repos, Journal(path))
    monkeypatch.undo()
    assert not path.read_text().endswith("\n")
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert _runs(forge, repos) == [1, 1] and report.status is TreeStatus.SUCCESS
    state = read(path, ROOT)
    assert state.torn and not state.unreadable and state.origin is not None
    assert any("was left unfinished by a write that never completed" in m
               for m in report.cost["messages"])


def test_a_torn_last_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    """A process killed inside its intent write for r1 (nothing POSTed) leaves a torn
    last line; the resume marks it before appending, so its own start record and
    every record after are read back whole."""
    forge, clock, repos = _world(n=2, run_name=False)
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos[:1], Journal(path), wait=False)
    r1 = dispatch_id(ROOT, None, "acme/r1", "built")
    with path.open("a") as handle:
        handle.write('{"k":"intent","root":"' + ROOT + '","id":"' + r1 + '","re')
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert _runs(forge, repos) == [1, 1] and report.status is TreeStatus.SUCCESS
    state = read(path, ROOT)
    assert state.torn == [4] and not state.unreadable and not state.damaged
    assert state.entries[r1].status == SENT
    starts = [x for x in _lines_after_torn(path) if x.get("k") == "start"]
    assert len(starts) == 2  # the resume's start was not swallowed


def _lines_after_torn(path: Path) -> list[dict[str, Any]]:
    out = []
    for raw in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(raw))
    return out


@pytest.mark.parametrize("run_name", [True, False], ids=["strict", "heuristic"])
def test_a_flipped_bit_is_reported_and_its_target_not_sent_again(
        tmp_path: Path, run_name: bool) -> None:
    """One bit of r1's intent flips on disk (in its dispatch id, so even the id is
    wrong): the line is reported with its number, and no target whose record it
    might be is sent again — every child keeps exactly one run."""
    forge, clock, repos = _world(run_name=run_name)
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos, Journal(path), wait=False)
    r1 = dispatch_id(ROOT, None, "acme/r1", "built")
    raw = bytearray(path.read_bytes())
    at = raw.index(f'"id":"{r1}","repo"'.encode()) + 6
    raw[at] ^= 0x01  # '0'<->'1', 'a'<->'`' ...: the JSON may even stay valid
    path.write_bytes(bytes(raw))
    clock.t += 5
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert _runs(forge, repos) == [1, 1, 1]
    assert forge.calls["dispatch"] == 3
    state = read(path, ROOT)
    assert state.unreadable == [4]  # start, r0 intent, r0 outcome, *r1 intent*
    note = next(m for m in report.cost["messages"] if "unreadable line" in m)
    assert "1 unreadable line(s) (line 4)" in note
    r1_node = next(n for n in report.origin.children if n.repo == "acme/r1")
    assert r1_node.state is NodeState.SUCCESS and r1_node.runs
    if run_name:
        assert "journal line 4 is unreadable" in (r1_node.reason or "")


def test_a_flipped_outcome_never_reads_as_not_sent(tmp_path: Path) -> None:
    """"sent" -> "rent": valid JSON, wrong fact. The checksum sees it; the intent
    alone says the answer is unknown, so r0 is not sent again."""
    forge, clock, repos = _world(n=1, run_name=False)
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos, Journal(path), wait=False)
    text = path.read_text().replace('"result":"sent"', '"result":"held"')
    path.write_text(text)
    state = read(path, ROOT)
    (entry,) = state.entries.values()
    assert entry.status == UNKNOWN and state.unreadable == [3]
    _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert _runs(forge, repos) == [1]


def test_a_read_only_journal_is_read_and_nothing_more_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forge, clock, repos = _world(n=3, run_name=False)
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos[:2], Journal(path), wait=False)
    real_open = os.open

    def read_only_mount(file: Any, flags: int, *args: Any) -> int:
        if str(file) == str(path) and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(file, flags, *args)

    monkeypatch.setattr(journal_module.os, "open", read_only_mount)
    journal = Journal.open(path)
    assert not journal.writable and "Read-only file system" in (journal.read_only_why or "")
    with pytest.raises(JournalError) as info:
        _fan_out(forge, clock, repos, journal, resume=True)
    message = str(info.value)
    assert "records 2 dispatch(es)" in message and "1 target(s) are still to be sent" in message
    assert "acme/r2" in message and "nothing is sent without a record" in message
    assert _runs(forge, repos) == [1, 1, 0] and forge.calls["dispatch"] == 2
    # Everything already sent: a read-only journal is enough to follow the tree.
    report = _fan_out(forge, clock, repos[:2], Journal.open(path), resume=True)
    assert report.status is TreeStatus.SUCCESS and _runs(forge, repos) == [1, 1, 0]


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_only_a_regular_file_is_a_journal(tmp_path: Path, kind: str) -> None:
    """A FIFO at the journal's path is refused at once (opening it to read or write
    would wait for a partner for ever)."""
    path = tmp_path / "j.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    done: list[str] = []

    def attempt() -> None:
        for opener in (lambda: Journal.open(path), lambda: read(path, ROOT)):
            try:
                opener()
            except JournalError as exc:
                done.append(str(exc))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "opening a FIFO as a journal hung"
    expected = "a FIFO" if kind == "fifo" else "a directory"
    assert len(done) == 2 and all(f"is {expected}, not a regular file" in d for d in done)


def test_a_new_journal_syncs_its_directory(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the directory's fsync, a crash can lose the new file's name, and
    with it every record synced into it."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file")
        if stat.S_ISDIR(mode):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", recording)
    path = tmp_path / "new" / "j.jsonl"
    journal = Journal(path)
    assert str(path.parent) in synced and str(tmp_path) in synced
    synced.clear()
    journal.start(ROOT, source=SOURCE, event_type="e", at=EPOCH, resumed=False)
    assert synced == ["file"]
    journal.close()
    synced.clear()
    Journal(path).close()  # exists: nothing new to name
    assert synced == []


def test_a_resume_with_another_payload_or_event_is_refused(tmp_path: Path) -> None:
    forge, clock, repos = _world(n=2)
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos, Journal(path), wait=False, payload={"v": "1"})
    with pytest.raises(FanOutError, match="another payload") as info:
        _fan_out(forge, clock, repos, Journal(path), resume=True, payload={"v": "2"})
    assert "nothing was dispatched" in str(info.value)
    assert forge.calls["dispatch"] == 2
    # Key order is not a different payload.
    _fan_out(forge, clock, repos, Journal(path), resume=True, payload={"v": "1"}, wait=False)
    assert _runs(forge, repos) == [1, 1]


def test_a_resumed_untagged_dispatch_keeps_its_watermark(tmp_path: Path) -> None:
    """Killed before any run was matched. The intent recorded the repo's highest run
    id seen before the POST; another cascade's untagged run created in the same
    window, below that mark, is not adopted."""
    forge, clock, repos = _world(n=1, run_name=False)
    forge.dispatch("acme/r0", "built", {})  # someone else's run, id 101
    path = tmp_path / "j.jsonl"
    node_id = dispatch_id(ROOT, None, "acme/r0", "built")
    journal = Journal(path)
    journal.start(ROOT, source=SOURCE, event_type="built", at=EPOCH, resumed=False)
    journal.intent(ROOT, node_id, "acme/r0", "built", EPOCH, watermark=101)
    journal.close()
    forge.dispatch("acme/r0", "built", {})  # ours, 102 (its request had left)
    clock.t += 5
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    (node,) = report.origin.children
    assert [r.run_id for r in node.runs] == [102] and "ambiguous" not in (node.reason or "")


def test_an_intent_records_the_highest_run_seen_before_it(tmp_path: Path) -> None:
    forge, clock, repos = _world(n=1, run_name=False)
    forge.dispatch("acme/r0", "built", {})  # 101, there before the resume
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos, Journal(path), resume=True, wait=False)
    intent = next(x for x in _lines(path) if x["k"] == "intent")
    assert intent["watermark"] == 101


def test_old_finished_journals_are_cleaned(tmp_path: Path) -> None:
    def journal(name: str, *, ended: bool, days: int) -> Path:
        path = tmp_path / f"tako-journal-{name}.jsonl"
        j = Journal(path)
        j.start(name, source=SOURCE, event_type="e", at=EPOCH, resumed=False)
        if ended:
            j.end(name, "success", EPOCH)
        j.close()
        old = time.time() - days * 86400
        os.utime(path, (old, old))
        return path

    done = journal("a" * 12, ended=True, days=20)
    resumed = journal("e" * 12, ended=True, days=20)
    with resumed.open("a") as handle:  # a resume started after the end, then stopped
        handle.write(next(x for x in resumed.read_text().splitlines() if '"start"' in x)
                     + "\n")
    old_time = time.time() - 20 * 86400
    os.utime(resumed, (old_time, old_time))
    running = journal("b" * 12, ended=False, days=20)
    recent = journal("c" * 12, ended=True, days=2)
    held = journal("d" * 12, ended=True, days=20)
    now = _now()
    removed = clean(tmp_path, now, in_use=lambda root: root == "d" * 12)
    assert removed == [done]
    assert running.exists() and recent.exists() and held.exists() and not done.exists()
    assert resumed.exists()
    assert clean(tmp_path, now, max_age=timedelta(days=1)) == [recent, held]


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
