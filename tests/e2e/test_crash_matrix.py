"""A fan-out killed mid-way and resumed never runs a child twice (the crash matrix's
representative subset; the full 200-child matrix is benchmarks/crash_matrix.py, whose
results are in benchmarks/RESULTS.md under "Crash matrix").

Real ``tako-gha fan-out`` processes on the emulator, stopped by SIGKILL, SIGTERM or
SIGINT at deterministic points (the journal's ``TAKO_JOURNAL_CRASH`` test seam), then
resumed with the exact command their first line printed."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tako_gha.emulator import Emulator

pytestmark = pytest.mark.e2e
CHILDREN = 6
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "crash_matrix.py"


def _load() -> ModuleType:
    if str(SCRIPT.parent) not in sys.path:  # the script imports benchmarks/results.py
        sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("crash_matrix", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_matrix"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cm = _load()
N = CHILDREN
CELLS = [  # (receivers, signal, kill point)
    ("strict", "SIGKILL", cm.Point(3 + 2 * 5, "mid-request, child 5")),
    ("strict", "SIGINT", cm.Point(2 + 2 * N + N // 2, "during waiting")),
    ("heuristic", "SIGKILL", cm.Point(3 + 2 * (N - 1), "mid-request, last child")),
    ("heuristic", "SIGKILL", cm.Point(2 + 2 * N + N // 2, "during waiting")),
    ("heuristic", "SIGTERM", cm.Point(2 + 2 * 3, "during dispatching, before child 3")),
    # exact mode: killed after child 2's POST, before its answer (the run id) is
    # recorded; and after child 3's answer is recorded
    ("exact", "SIGKILL", cm.Point(3 + 2 * 2, "mid-request, child 2")),
    ("exact", "SIGKILL", cm.Point(2 + 2 * 4, "after child 3's answer was recorded")),
]


TWO_PROCESS = [("heuristic", "together"), ("heuristic", "sending"), ("heuristic", "disk full")]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Any, Path]]:
    work = tmp_path_factory.mktemp("crash")
    names = cm.build(work / "world", CHILDREN, len(CELLS) + 1 + len(TWO_PROCESS))
    with Emulator(work / "world", port=0) as emu:
        yield emu, names, work / "state"


def test_the_kill_points_cover_every_phase() -> None:
    points = cm.kill_points(200, 10)
    assert len({p.record for p in points}) == 10
    assert [p.record for p in points][:3] == [1, 2, 3] and points[-1].record == 402 + 150
    phases = " ".join(p.phase for p in points)
    for phase in ("before dispatching", "during dispatching", "mid-request",
                  "after dispatching", "during waiting"):
        assert phase in phases
    assert len(cm.kill_points(200, 4)) == 4


@pytest.mark.parametrize(("index", "cell"), list(enumerate(CELLS)),
                         ids=[f"{k}-{s}-{p.record}" for k, s, p in CELLS])
def test_killed_then_resumed_every_child_runs_exactly_once(
        matrix: tuple[Emulator, Any, Path], index: int, cell: tuple[str, str, Any]) -> None:
    emu, names, state = matrix
    kind, sig, point = cell
    outcome = cm.scenario(emu, names, kind, sig, point, f"{kind}-{index}", state,
                          timeout=120)
    assert outcome.ok, outcome.problems
    assert outcome.first_exit == cm.EXPECTED_EXIT[sig] and outcome.resume_exit == 0
    assert outcome.runs == {1: CHILDREN} and outcome.states == {"success": CHILDREN}
    if kind == "exact":
        _exact_resume_reads_by_id(emu, names["exact"], state, outcome.root, point.record)
    emu.wait_idle(30)


def _exact_resume_reads_by_id(emu: Emulator, children: list[str], state: Path, root: str,
                              record: int) -> None:
    """Exact cells, from the emulator's request log: one workflow dispatch POST per
    child in all (the kill after the POST, before its answer was recorded, is never
    followed by a second POST), and the resume lists no repository whose answer the
    journal holds: only the one whose answer was lost is searched for."""
    import json
    from datetime import datetime

    lines = [json.loads(line) for line in
             (state / f"tako-journal-{root}.jsonl").read_text().splitlines() if line.strip()]
    first = next(r for r in lines if r.get("k") == "start" and not r.get("resumed"))
    resumed = next(r for r in lines if r.get("k") == "start" and r.get("resumed"))
    began = datetime.fromisoformat(first["at"]).timestamp()  # cells share the emulator
    since = datetime.fromisoformat(resumed["at"]).timestamp()
    repo_of = {r["id"]: r["repo"] for r in lines if r.get("k") == "intent"}
    answered = {repo_of[r["id"]] for r in lines
                if r.get("k") == "outcome" and r.get("run") is not None}
    log = emu.requests(since=began)
    for child in children:
        posts = [e for e in log if e["method"] == "POST"
                 and e["path"].startswith(f"/repos/{child}/actions/workflows/")]
        assert len(posts) == 1, (child, [e["status"] for e in posts])
    listed = {child for child in children for e in log
              if e["time"] >= since and e["method"] == "GET"
              and e["path"].startswith(f"/repos/{child}/actions/runs?")}
    lost = 1 if record % 2 == 1 else 0  # killed between a POST and its outcome record
    assert not listed & answered and len(listed) == lost, (sorted(listed), sorted(answered))


def test_the_check_sees_double_runs_when_the_journal_is_missing(
        matrix: tuple[Emulator, Any, Path]) -> None:
    """The control: the same crash resumed without the journal (as from another
    machine) sends untagged receivers' dispatches again, and the matrix says so."""
    emu, names, state = matrix
    point = cm.Point(2 + 2 * CHILDREN, "after dispatching")
    outcome = cm.scenario(emu, names, "heuristic", "SIGKILL", point,
                          f"heuristic-{len(CELLS)}", state, timeout=120, journal=False)
    assert not outcome.ok
    assert outcome.runs == {2: CHILDREN}
    assert any("children without exactly one run" in p for p in outcome.problems)
    emu.wait_idle(30)


@pytest.mark.parametrize(("index", "cell"), list(enumerate(TWO_PROCESS)),
                         ids=[how.replace(" ", "-") for _, how in TWO_PROCESS])
def test_two_senders_or_a_full_disk_never_run_a_child_twice(
        matrix: tuple[Emulator, Any, Path], index: int, cell: tuple[str, str]) -> None:
    """Two resumes started together, the printed resume started while the first
    process still sends, a disk that fills inside an intent line: one sender refuses
    (or stops before the POST), and every child has exactly one run. Untagged
    receivers: only the journal and the lock stand between them and a second run."""
    emu, names, state = matrix
    kind, how = cell
    outcome = cm.run_concurrent(emu, names, kind, how, f"{kind}-{len(CELLS) + 1 + index}",
                                state)
    assert outcome.ok, outcome.problems
    assert outcome.runs == {1: CHILDREN} and outcome.states == {"success": CHILDREN}
    assert outcome.resume_exit == 0
    assert outcome.first_exit == {"together": -9, "sending": 0, "disk full": 2}[how]
    emu.wait_idle(30)
