"""Crash matrix: a fan-out killed at many points, then resumed, never runs a child twice.

    python benchmarks/crash_matrix.py [--children 200] [--points 10]
        [--signals SIGKILL,SIGTERM,SIGINT] [--kinds strict,heuristic] [--write]
    python benchmarks/crash_matrix.py --quick   # 3 children, 2 cells: seconds

For every (receiver kind, signal, kill point): ``tako-gha fan-out`` (a real process)
fans out to N children on the emulator and is stopped at the kill point; then the
exact resume command it printed as its first line runs to the end. Checked:

- the first process ended by that signal (SIGKILL: killed; SIGTERM/SIGINT: exit 143
  / 130, after recording the dispatch it was sending);
- the resume exits 0, its tree has every child ``success``;
- every child repository has exactly one run of that cascade (the emulator knows
  each run's ``client_payload``, whatever the run's title says);
- the first process's ``--tree-json`` is whole JSON naming the cascade.

Receivers: *strict* workflows set the ``run-name`` tag; *heuristic* ones do not, so
only the dispatch journal can tell the resume what was sent; *exact* ones listen on
``workflow_dispatch`` and their subscription names the workflow file, so each dispatch's
answer names its run (exact mode; no run-name either): killed mid-request, the answer
is lost and the resume looks for the run; killed after it was recorded, the resume
reads the answered run by id. Their journal has no ``run`` records (the answers are
in the outcomes), so their cells stop at the *after dispatching* point.

Kill points are deterministic, through the journal's test seam
``TAKO_JOURNAL_CRASH=N:SIGNAL`` (the process sends itself SIGNAL just before its N-th
journal record). The journal holds one ``start`` record, then per child an intent
(before the POST) and an outcome (after it) — dispatching runs all children in one
go here (concurrency and pacing above N) — then one ``run`` record per matched run
while waiting. So with N children: record 1 is the start (kill *before dispatching*),
``2 + 2k`` child k's intent (*during dispatching*, the request not sent), ``3 + 2k``
its outcome (*mid-request*: GitHub accepted it, the answer not yet recorded),
``2 + 2N`` the first run record (*after dispatching*) and beyond it *during waiting*.

Beyond one process, per receiver kind:

- *two senders, resumes together*: the fan-out is killed mid-request, then the
  printed resume is started twice at the same instant: one must refuse (exit 2,
  naming the process that holds the root's lock), the other finish (exit 0). Each
  resume pauses itself before its first journal record (``1:SIGSTOP``), which only
  the lock's holder reaches, and is let go once the other has answered: on a loaded
  machine one resume could otherwise finish before the other has even started;
- *two senders, while sending*: the printed resume is started while the first
  process still dispatches (it pauses itself, ``TAKO_JOURNAL_CRASH=N:SIGSTOP``, just
  before child N/2's intent, and goes on once the resume has answered): the resume
  must refuse, the first process finish;
- *disk full*: the first process may write journal files of at most a few hundred
  bytes (``RLIMIT_FSIZE``, ``SIGXFSZ`` ignored: ``write()`` returns short, as on a
  full disk), cut inside a child's intent line: it must stop before that child's
  POST (exit 2), and the resume send the rest.

In every cell each child has exactly one run.

``--write`` replaces the "Crash matrix" section of benchmarks/RESULTS.md. The test
suite runs a small subset through ``run_matrix`` (tests/e2e/test_crash_matrix.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import results

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import build_bare_world

TOKEN = "t-crash"
ORIGIN = "acme/origin"
KINDS = ("strict", "heuristic", "exact")
SIGNALS = ("SIGKILL", "SIGTERM", "SIGINT")
RUN_NAME = "run-name: ${{ github.event.client_payload.tako.title || github.workflow }}\n"
FIRST_LINE = re.compile(r"^tako: cascade ([0-9a-f]{12}); .*send the rest: (.+)$")


@dataclass(frozen=True)
class Point:
    """A kill point: before the ``record``-th journal record."""

    record: int
    phase: str  # before dispatching / during dispatching / mid-request / ...


def kill_points(children: int, count: int) -> list[Point]:
    """``count`` points spread over every phase of an N-child fan-out (at least 10
    distinct ones for N >= 5)."""
    n = children
    last = n - 1
    picks = [
        Point(1, "before dispatching (no record yet)"),
        Point(2, "before dispatching (started, nothing sent)"),
        Point(3, "mid-request, first child"),
        Point(2 + 2 * (n // 4), f"during dispatching, before child {n // 4}"),
        Point(3 + 2 * (n // 2), f"mid-request, child {n // 2}"),
        Point(2 + 2 * (3 * n // 4), f"during dispatching, before child {3 * n // 4}"),
        Point(3 + 2 * last, "mid-request, last child"),
        Point(2 + 2 * n, "after dispatching, before any run was matched"),
        Point(2 + 2 * n + n // 4, "during waiting, a quarter of the runs matched"),
        Point(2 + 2 * n + (3 * n) // 4, "during waiting, three quarters matched"),
    ]
    seen: dict[int, Point] = {}
    for point in picks:
        seen.setdefault(point.record, point)
    points = sorted(seen.values(), key=lambda p: p.record)
    if count >= len(points):
        return points
    # Fewer points: keep them spread over the phases.
    step = (len(points) - 1) / max(1, count - 1)
    return [points[round(i * step)] for i in range(count)]


def points_for(kind: str, points: list[Point], children: int) -> list[Point]:
    """Exact receivers' runs come in the dispatch answers (the outcome records carry
    them): no ``run`` record is written while waiting, so the waiting points do not
    exist for them."""
    if kind != "exact":
        return points
    return [p for p in points if p.record <= 2 + 2 * children]


def _workflow(kind: str, types: list[str]) -> str:
    if kind == "exact":
        return ("name: release\non:\n  workflow_dispatch:\n    inputs:\n"
                "      tako: {required: false}\n"
                "jobs:\n  work:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - name: work\n        run: 'true'\n")
    return ("name: on-tako\n" + (RUN_NAME if kind == "strict" else "")
            + f"on:\n  repository_dispatch:\n    types: [{', '.join(types)}]\n"
            "jobs:\n  work:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - name: work\n        run: 'true'\n")


def _tako_yml(types: list[str], kind: str = "strict") -> str:
    workflow = "      workflow: on-tako.yml\n" if kind == "exact" else ""
    return (f"version: 1\nevents:\n  subscriptions:\n    - artifact: {ORIGIN}\n"
            f"      events: [{', '.join(types)}]\n{workflow}")


def run_root(run: Any) -> str | None:
    """The cascade a run belongs to: ``client_payload.tako.root``, or for a workflow
    dispatch the ``tako`` input's root (whatever the run's title says)."""
    tako = (run.client_payload or {}).get("tako")
    if tako is None and run.inputs and run.inputs.get("tako"):
        tako = json.loads(run.inputs["tako"])
    return tako.get("root") if isinstance(tako, dict) else None


def build(root: Path, children: int, scenarios: int) -> dict[str, list[str]]:
    """The world: per kind, ``children`` receivers, each subscribed to the event types
    of that kind (one type per scenario, so each scenario's runs are its own)."""
    repos: dict[str, Any] = {ORIGIN: {"tako.yml": "version: 1\n"}}
    names: dict[str, list[str]] = {}
    for kind in KINDS:
        types = [f"{kind}-{i}" for i in range(scenarios)]
        names[kind] = [f"acme/{kind[0]}{i:03d}" for i in range(children)]
        for name in names[kind]:
            repos[name] = {"tako.yml": _tako_yml(types, kind),
                           ".github/workflows/on-tako.yml": _workflow(kind, types)}
    settings = {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN,
                "limits": {"enabled": False}, "runner": {"capacity": 64}}
    build_bare_world(root, repos, settings)
    return names


@dataclass
class Outcome:
    kind: str
    signal: str
    point: Point
    root: str = ""
    first_exit: int | None = None
    resume_exit: int | None = None
    runs: Counter[int] = field(default_factory=Counter)  # runs per child -> how many
    states: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _env(state_dir: Path, crash: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "TAKO_", "GH_", "RUNNER_"))}
    env.update({"GITHUB_TOKEN": TOKEN, "TAKO_STATE_DIR": str(state_dir),
                "TAKO_POLL_MIN_INTERVAL": "0.2", "TAKO_POLL_MAX_INTERVAL": "1",
                "TAKO_SIBLING_GRACE": "0.2", "TAKO_DISPATCHES_PER_MINUTE": "100000",
                "TAKO_DISPATCHES_PER_HOUR": "100000"})
    if crash:
        env["TAKO_JOURNAL_CRASH"] = crash
    return env


def _cli(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tako_gha", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)


EXPECTED_EXIT = {"SIGKILL": -9, "SIGTERM": 143, "SIGINT": 130}


def scenario(emu: Emulator, names: dict[str, list[str]], kind: str, sig: str, point: Point,
             event: str, state_dir: Path, *, timeout: float = 300.0,
             journal: bool = True) -> Outcome:
    """One cell of the matrix (see the module doc). ``journal=False`` resumes as
    another machine would, without the journal (the control: untagged receivers then
    get a second run, and the checks must say so)."""
    out = Outcome(kind, sig, point)
    started = time.monotonic()
    children = names[kind]
    args = ["fan-out", "--event", event, "--source", ORIGIN, "--org", "acme",
            "--api-url", emu.base_url, "--concurrency", str(len(children) + 10),
            "--max-children", str(len(children) + 10), "--timeout", "5m",
            "--discovery-timeout", "1m", "--format", "json"]
    tree_file = state_dir / f"{event}.tree.json"
    state_dir.mkdir(parents=True, exist_ok=True)
    first = _cli([*args, "--tree-json", str(tree_file)], _env(state_dir, f"{point.record}:{sig}"),
                 timeout)
    out.first_exit = first.returncode
    match = announcement(first.stderr)
    if match is None:
        out.problems.append(f"stderr names no cascade: {first.stderr[:300]!r}")
        return out
    out.root = match.group(1)
    try:  # a killed process leaves its latest tree, whole (rewritten atomically)
        left = json.loads(tree_file.read_text(encoding="utf-8"))
        if left.get("root") != out.root:
            out.problems.append(f"--tree-json names root {left.get('root')!r}")
    except (OSError, ValueError) as exc:
        out.problems.append(f"--tree-json left unreadable: {exc}")
    if first.returncode != EXPECTED_EXIT[sig]:
        out.problems.append(f"first run exited {first.returncode}, expected "
                            f"{EXPECTED_EXIT[sig]}: {first.stderr[-500:]!r}")
    resume = shlex.split(match.group(2))
    assert resume[:2] == ["tako-gha", "fan-out"], resume
    if not journal:
        at = resume.index("--state")
        del resume[at:at + 2]
        state_dir = state_dir / "elsewhere"
    again = _cli([*resume[1:], "--format", "json"], _env(state_dir, None), timeout)
    out.resume_exit = again.returncode
    if again.returncode != 0:
        out.problems.append(f"resume exited {again.returncode}: {again.stderr[-800:]!r}")
    _count(emu, out, children, again.stdout, who="the resume", settle=False)
    out.seconds = time.monotonic() - started
    return out


def _args(emu: Emulator, event: str, children: list[str], *extra: str) -> list[str]:
    return ["fan-out", "--event", event, "--source", ORIGIN, "--org", "acme",
            "--api-url", emu.base_url, "--max-children", str(len(children) + 10),
            "--timeout", "5m", "--discovery-timeout", "1m", "--format", "json", *extra]


def _count(emu: Emulator, out: Outcome, children: list[str], tree_text: str, *,
           who: str = "the finishing process", settle: bool = True) -> None:
    """Runs per child (by client_payload) and the child states ``who`` printed;
    ``settle`` first waits for the emulator's runs to be idle."""
    if settle:
        emu.wait_idle(60)
    try:
        out.states = Counter(c["state"] for c in json.loads(tree_text)["tree"]["children"])
    except (ValueError, KeyError, TypeError):
        out.problems.append(f"{who} printed no tree: {tree_text[:300]!r}")
    per_repo = Counter(r.repo for r in emu.runs.all_runs()
                       if run_root(r) == out.root)
    out.runs = Counter(per_repo.get(name, 0) for name in children)
    if set(out.runs) != {1}:
        bad = {n: per_repo.get(n, 0) for n in children if per_repo.get(n, 0) != 1}
        out.problems.append(f"children without exactly one run: {dict(list(bad.items())[:8])}")
    if out.states and set(out.states) != {"success"}:
        out.problems.append(f"child states after {who}: {dict(out.states)}")


def announcement(stderr: str) -> re.Match | None:
    """The fan-out's announcement (``tako: cascade ROOT; … send the rest: …``): it comes
    once the fan-out is planned and checked, before its first dispatch, after the
    lines that say what it plans."""
    line = next((text for text in stderr.splitlines() if text.startswith("tako: ")), "")
    return FIRST_LINE.match(line)


def _first_line(path: Path, proc: subprocess.Popen, timeout: float) -> re.Match | None:
    """The announcement of a process writing its stderr to ``path``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        start = ("\n" + text).find("\ntako: ")
        if start >= 0 and "\n" in text[start:]:  # the whole announcement line is there
            return announcement(text)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    return None


def _stopped(pid: int, timeout: float) -> bool:
    """True once process ``pid`` is stopped (state T in /proc)."""
    end = time.monotonic() + timeout
    while True:  # looked at once at least, however short the timeout
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[1].split()[0] == "T":
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)


def _answers(racers: list[subprocess.Popen], timeout: float
             ) -> tuple[list[tuple[Any, str, str]], bool]:
    """Each racer's (process, stdout, stderr), and whether one paused holding the lock
    while the others had ended (the overlap shown). The pipes are read from the start
    (a racer blocked on a full pipe before its first record hung a cell for 300 s).
    Whenever every racer still running has paused itself (the seam), they are let go:
    the lone one left is the lock's holder, and a cell ends in a verdict, never a hang
    (were two ever paused at once, both would have written a record under the lock:
    the counts of runs per child then show it)."""
    import threading

    found: dict[int, tuple[str, str]] = {}

    def read(proc: subprocess.Popen) -> None:
        found[proc.pid] = proc.communicate()

    readers = [threading.Thread(target=read, args=(p,), daemon=True) for p in racers]
    for reader in readers:
        reader.start()
    overlap, end = False, time.monotonic() + timeout
    while any(r.is_alive() for r in readers) and time.monotonic() < end:
        running = [p for p in racers if p.poll() is None]
        if running and all(_stopped(p.pid, 0.0) for p in running):
            overlap |= len(running) == 1 and len(racers) > 1
            for proc in running:
                proc.send_signal(signal.SIGCONT)
        time.sleep(0.02)
    for proc in racers:
        if proc.poll() is None:
            proc.kill()
    for reader in readers:
        reader.join(10)
    return [(p, *found.get(p.pid, ("", "timed out"))) for p in racers], overlap


def _refused(proc_exit: int, stderr: str) -> bool:
    return proc_exit == 2 and "another process is sending for root" in stderr


def two_senders(emu: Emulator, names: dict[str, list[str]], kind: str, how: str,
                event: str, state_dir: Path, *, timeout: float = 300.0) -> Outcome:
    """Two processes for one root (see the module doc): ``how`` is ``together`` (two
    resumes of a killed fan-out started at once) or ``sending`` (the printed resume
    started while the first process still dispatches)."""
    children = names[kind]
    phase = ("two resumes started together" if how == "together"
             else "the printed resume started while the first still sends")
    out = Outcome(kind, "two senders", Point(0, phase))
    started = time.monotonic()
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"{event}.first.err"
    n = len(children)
    # Together: killed mid-request. Sending: paused (SIGSTOP, by the journal's seam)
    # just before child n//2's intent, so the resume surely starts mid-sending; it is
    # let go (SIGCONT) once the resume has answered.
    crash = (f"{3 + 2 * (n // 2)}:SIGKILL" if how == "together"
             else f"{2 + 2 * (n // 2)}:SIGSTOP")
    extra = ("--concurrency", str(n + 10))
    with log.open("w") as err:
        first = subprocess.Popen([sys.executable, "-m", "tako_gha",
                                  *_args(emu, event, children, *extra)],
                                 env=_env(state_dir, crash), text=True,
                                 stdout=subprocess.PIPE, stderr=err)
    match = _first_line(log, first, 60)
    if match is None:
        first.kill()
        out.problems.append(f"stderr names no cascade: {log.read_text()[:300]!r}")
        return out
    out.root = match.group(1)
    resume = [sys.executable, "-m", "tako_gha", *shlex.split(match.group(2))[1:],
              "--format", "json"]
    if how == "together":
        first.wait(timeout)
        out.first_exit = first.returncode
    elif not _stopped(first.pid, 60):
        first.kill()
        out.problems.append("the first process never paused mid-sending")
        return out
    # Together: both racers pause themselves before their first journal record
    # (which only the lock's holder reaches), so the holder is surely still sending
    # while the other asks for the lock, however loaded the machine; it is let go
    # once the other has answered.
    racer_crash = "1:SIGSTOP" if how == "together" else None
    racers = [subprocess.Popen(resume, env=_env(state_dir, racer_crash), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(2 if how == "together" else 1)]
    answers, overlap = _answers(racers, timeout)
    if how == "together" and not overlap:
        out.problems.append("no resume paused holding the lock: the overlap was not shown")
    if how == "sending":
        first.send_signal(signal.SIGCONT)
        stdout, _ = first.communicate(timeout=timeout)
        out.first_exit = first.returncode
        answers.append((first, stdout, log.read_text(encoding="utf-8")))
    refused = [a for a in answers if _refused(a[0].returncode, a[2])]
    done = [a for a in answers if a[0].returncode == 0]
    out.resume_exit = done[0][0].returncode if done else racers[0].returncode
    if len(refused) != 1 or len(done) != 1:
        out.problems.append("expected one refusal and one finished sender, got exits "
                            f"{[a[0].returncode for a in answers]}: "
                            + " | ".join(a[2][-300:] for a in answers))
    if done:
        _count(emu, out, children, done[0][1])
    out.seconds = time.monotonic() - started
    return out


def _estimated_cut(event: str, children: list[str], k: int, kind: str = "strict") -> int:
    """A byte count inside child ``k``'s intent line (records are sized with the
    journal's own encoding; times and watermarks vary by a few bytes, the cut sits
    in the middle of a ~270-byte line)."""
    from tako_gha.engine.journal import _checksum, _encode

    def size(record: dict[str, Any]) -> int:
        return len((_encode({**record, "c": _checksum(record)}) + "\n").encode())

    at = "2026-01-01T00:00:00.000000+00:00"
    total = size({"k": "start", "root": "0" * 12, "source": ORIGIN, "event": event,
                  "at": at, "resumed": False, "payload": "0" * 64})
    for repo in children[:k + 1]:
        intent = size({"k": "intent", "root": "0" * 12, "id": "0" * 12, "repo": repo,
                       "event": event, "at": at, "watermark": None,
                       **({"workflow": "on-tako.yml"} if kind == "exact" else {})})
        if repo == children[k]:
            return total + intent // 2
        total += intent + size({"k": "outcome", "root": "0" * 12, "id": "0" * 12,
                                "result": "sent",
                                **({"run": 10_000_000} if kind == "exact" else {})})
    raise ValueError(k)


def disk_full(emu: Emulator, names: dict[str, list[str]], kind: str, event: str,
              state_dir: Path, *, timeout: float = 300.0) -> Outcome:
    """The journal's disk fills inside child k's intent (see the module doc)."""
    import resource

    children = names[kind]
    k = len(children) // 2
    limit = _estimated_cut(event, children, k, kind)
    out = Outcome(kind, "disk full", Point(0, f"write() short inside child {k}'s intent "
                                              f"(files capped at {limit} bytes)"))
    started = time.monotonic()
    state_dir.mkdir(parents=True, exist_ok=True)

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = _args(emu, event, children, "--concurrency", str(len(children) + 10))
    first = subprocess.run([sys.executable, "-m", "tako_gha", *args],
                           env=_env(state_dir, None), text=True, capture_output=True,
                           timeout=timeout, preexec_fn=cap)
    out.first_exit = first.returncode
    match = announcement(first.stderr)
    if match is None:
        out.problems.append(f"stderr names no cascade: {first.stderr[:300]!r}")
        return out
    out.root = match.group(1)
    if first.returncode != 2 or "short write" not in first.stderr:
        out.problems.append(f"first run exited {first.returncode} without a short write: "
                            f"{first.stderr[-500:]!r}")
    sent = sum(1 for r in emu.runs.all_runs() if run_root(r) == out.root)
    if sent != k:
        out.problems.append(f"{sent} children were dispatched before the full disk, "
                            f"expected {k} (the cut is not inside child {k}'s intent)")
    again = _cli([*shlex.split(match.group(2))[1:], "--format", "json"], _env(state_dir, None),
                 timeout)
    out.resume_exit = again.returncode
    if again.returncode != 0:
        out.problems.append(f"resume exited {again.returncode}: {again.stderr[-800:]!r}")
    _count(emu, out, children, again.stdout)
    out.seconds = time.monotonic() - started
    return out


CONCURRENT_CELLS = ("together", "sending", "disk full")


def run_concurrent(emu: Emulator, names: dict[str, list[str]], kind: str, how: str,
                   event: str, state_dir: Path) -> Outcome:
    if how == "disk full":
        return disk_full(emu, names, kind, event, state_dir)
    return two_senders(emu, names, kind, how, event, state_dir)


def run_matrix(children: int, points: list[Point], signals: list[str], kinds: list[str],
               workdir: Path, *, progress: bool = False,
               concurrent: bool = True) -> list[Outcome]:
    cells: list[tuple[str, str, Any]] = [(k, s, p) for k in kinds for s in signals
                                         for p in points_for(k, points, children)]
    if concurrent:
        cells += [(k, how, None) for k in kinds for how in CONCURRENT_CELLS]
    names = build(workdir / "world", children, len(cells))
    outcomes: list[Outcome] = []
    with Emulator(workdir / "world", port=0) as emu:
        for i, (kind, sig, point) in enumerate(cells):
            if point is None:
                outcome = run_concurrent(emu, names, kind, sig, f"{kind}-{i}",
                                         workdir / "state")
            else:
                outcome = scenario(emu, names, kind, sig, point, f"{kind}-{i}",
                                   workdir / "state")
            outcomes.append(outcome)
            if progress:
                mark = "ok" if outcome.ok else "FAIL " + "; ".join(outcome.problems)
                print(f"[{i + 1}/{len(cells)}] {kind:9} {outcome.signal:11} "
                      f"{outcome.point.record:4} ({outcome.point.phase}): "
                      f"{outcome.seconds:5.1f}s {mark}", flush=True)
            emu.wait_idle(60)
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    rows = ["| receivers | signal | kill point (before journal record) | first exit | "
            "resume exit | children with exactly 1 run | states after resume | time |",
            "|---|---|---|---:|---:|---:|---|---:|"]
    for o in outcomes:
        total = sum(o.runs.values())
        where = f"{o.point.record}: {o.point.phase}" if o.point.record else o.point.phase
        rows.append(f"| {o.kind} | {o.signal} | {where} | "
                    f"{o.first_exit} | {o.resume_exit} | {o.runs.get(1, 0)}/{total} | "
                    f"{', '.join(f'{k} {v}' for k, v in sorted(o.states.items()))} | "
                    f"{o.seconds:.1f} s |")
    return "\n".join(rows)


def reading(outcomes: list[Outcome], children: int) -> str:
    """What the table says, computed from it."""
    failed = [o for o in outcomes if not o.ok]
    once = sum(1 for o in outcomes if set(o.runs) == {1} and sum(o.runs.values()) == children)
    lines = ["Reading (computed from the table):",
             f"- {len(outcomes) - len(failed)} of {len(outcomes)} cells passed every check; in "
             f"{once} of them each of the {children} children ran exactly once."]
    for sig, code in EXPECTED_EXIT.items():
        cells = [o for o in outcomes if o.signal == sig]
        if cells:
            right = sum(1 for o in cells if o.first_exit == code)
            lines.append(f"- {sig}: the first process exited {code} in {right} of "
                         f"{len(cells)} cells; the resume exited 0 in "
                         f"{sum(1 for o in cells if o.resume_exit == 0)}.")
    for o in failed:
        lines.append(f"- FAILED {o.kind} {o.signal} at record {o.point.record}: "
                     + "; ".join(o.problems))
    times = sorted(o.seconds for o in outcomes)
    if times:
        lines.append(f"- A cell took {times[0]:.1f}–{times[-1]:.1f} s (two process "
                     f"start-ups and waiting for {children} runs each).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    run = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--signals", default=",".join(SIGNALS))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--quick", action="store_true",
                        help="3 children, SIGKILL, strict receivers, 2 kill points")
    results.add_arguments(parser)
    args = parser.parse_args(argv)
    results.check_quick(args)
    if args.quick:
        args.children, args.points, args.signals, args.kinds = 3, 2, "SIGKILL", "strict"
    points = kill_points(args.children, args.points)
    signals = [s.strip().upper() for s in args.signals.split(",") if s.strip()]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tako-crash-") as tmp:
        outcomes = run_matrix(args.children, points, signals, kinds, Path(tmp), progress=True)
    wall = time.monotonic() - started
    failed = [o for o in outcomes if not o.ok]
    text = (f"A fan-out to {args.children} children on the emulator (a real `tako-gha "
            "fan-out` process) stopped at each kill point by each signal, then resumed with "
            "the exact command its first line printed; receivers with the `run-name` tag "
            "(strict), without it (heuristic), and dispatched by workflow dispatch whose "
            "answer names the run (exact). Kill points come from the journal's test "
            "seam (`TAKO_JOURNAL_CRASH=N:SIGNAL`: the process signals itself just before its "
            "N-th journal record; see the script's docstring for what each record is). "
            "Checked per cell: the first process ended by the signal (SIGKILL -9, SIGTERM "
            "143, SIGINT 130), its `--tree-json` is whole and names the cascade, the resume "
            "exits 0 with every child `success`, and every child repository has exactly one "
            "run of the cascade (counted by the emulator from each run's `client_payload`, or "
            "its `tako` input, "
            "whatever its title).\n\n"
            f"{len(outcomes)} cells ({len(kinds)} receiver kinds x {len(signals)} signals x "
            f"{len(points)} kill points"
            + (" (exact receivers: the points up to the last dispatch)"
               if "exact" in kinds else "")
            + f", plus {len(kinds) * len(CONCURRENT_CELLS)} two-sender "
            f"and disk-full cells), {len(outcomes) - len(failed)} passed, "
            f"{len(failed)} failed, {wall:.0f} s in all.\n\n{table(outcomes)}\n\n"
            f"{reading(outcomes, args.children)}\n")
    print(text)
    if args.write:
        run.write("Crash matrix", text, args.results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
