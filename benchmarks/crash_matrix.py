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
only the dispatch journal can tell the resume what was sent.

Kill points are deterministic, through the journal's test seam
``TAKO_JOURNAL_CRASH=N:SIGNAL`` (the process sends itself SIGNAL just before its N-th
journal record). The journal holds one ``start`` record, then per child an intent
(before the POST) and an outcome (after it) — dispatching runs all children in one
go here (concurrency and pacing above N) — then one ``run`` record per matched run
while waiting. So with N children: record 1 is the start (kill *before dispatching*),
``2 + 2k`` child k's intent (*during dispatching*, the request not sent), ``3 + 2k``
its outcome (*mid-request*: GitHub accepted it, the answer not yet recorded),
``2 + 2N`` the first run record (*after dispatching*) and beyond it *during waiting*.

``--write`` replaces the "Crash matrix" section of benchmarks/RESULTS.md. The test
suite runs a small subset through ``run_matrix`` (tests/e2e/test_crash_matrix.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
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
KINDS = ("strict", "heuristic")
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


def _workflow(kind: str, types: list[str]) -> str:
    return ("name: on-tako\n" + (RUN_NAME if kind == "strict" else "")
            + f"on:\n  repository_dispatch:\n    types: [{', '.join(types)}]\n"
            "jobs:\n  work:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - name: work\n        run: 'true'\n")


def _tako_yml(types: list[str]) -> str:
    return (f"version: 1\nevents:\n  subscriptions:\n    - artifact: {ORIGIN}\n"
            f"      events: [{', '.join(types)}]\n")


def build(root: Path, children: int, scenarios: int) -> dict[str, list[str]]:
    """The world: per kind, ``children`` receivers, each subscribed to the event types
    of that kind (one type per scenario, so each scenario's runs are its own)."""
    repos: dict[str, Any] = {ORIGIN: {"tako.yml": "version: 1\n"}}
    names: dict[str, list[str]] = {}
    for kind in KINDS:
        types = [f"{kind}-{i}" for i in range(scenarios)]
        names[kind] = [f"acme/{kind[0]}{i:03d}" for i in range(children)]
        for name in names[kind]:
            repos[name] = {"tako.yml": _tako_yml(types),
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
    line = (first.stderr.splitlines() or [""])[0]
    match = FIRST_LINE.match(line)
    if match is None:
        out.problems.append(f"first stderr line names no cascade: {line!r}")
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
    try:
        tree = json.loads(again.stdout)["tree"]
        out.states = Counter(c["state"] for c in tree["children"])
    except (ValueError, KeyError, TypeError):
        out.problems.append(f"resume printed no tree: {again.stdout[:300]!r}")
    per_repo = Counter(r.repo for r in emu.runs.all_runs()
                       if (r.client_payload or {}).get("tako", {}).get("root") == out.root)
    out.runs = Counter(per_repo.get(name, 0) for name in children)
    if set(out.runs) != {1}:
        bad = {n: per_repo.get(n, 0) for n in children if per_repo.get(n, 0) != 1}
        out.problems.append(f"children without exactly one run: {dict(list(bad.items())[:8])}")
    if out.states and set(out.states) != {"success"}:
        out.problems.append(f"child states after resume: {dict(out.states)}")
    out.seconds = time.monotonic() - started
    return out


def run_matrix(children: int, points: list[Point], signals: list[str], kinds: list[str],
               workdir: Path, *, progress: bool = False) -> list[Outcome]:
    cells = [(k, s, p) for k in kinds for s in signals for p in points]
    names = build(workdir / "world", children, len(cells))
    outcomes: list[Outcome] = []
    with Emulator(workdir / "world", port=0) as emu:
        for i, (kind, sig, point) in enumerate(cells):
            outcome = scenario(emu, names, kind, sig, point, f"{kind}-{i}",
                               workdir / "state")
            outcomes.append(outcome)
            if progress:
                mark = "ok" if outcome.ok else "FAIL " + "; ".join(outcome.problems)
                print(f"[{i + 1}/{len(cells)}] {kind:9} {sig:7} before record "
                      f"{point.record:4} ({point.phase}): {outcome.seconds:5.1f}s {mark}",
                      flush=True)
            emu.wait_idle(60)
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    rows = ["| receivers | signal | kill point (before journal record) | first exit | "
            "resume exit | children with exactly 1 run | states after resume | time |",
            "|---|---|---|---:|---:|---:|---|---:|"]
    for o in outcomes:
        total = sum(o.runs.values())
        rows.append(f"| {o.kind} | {o.signal} | {o.point.record}: {o.point.phase} | "
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
            "(strict) and without it (heuristic). Kill points come from the journal's test "
            "seam (`TAKO_JOURNAL_CRASH=N:SIGNAL`: the process signals itself just before its "
            "N-th journal record; see the script's docstring for what each record is). "
            "Checked per cell: the first process ended by the signal (SIGKILL -9, SIGTERM "
            "143, SIGINT 130), its `--tree-json` is whole and names the cascade, the resume "
            "exits 0 with every child `success`, and every child repository has exactly one "
            "run of the cascade (counted by the emulator from each run's `client_payload`, "
            "whatever its title).\n\n"
            f"{len(outcomes)} cells ({len(kinds)} receiver kinds x {len(signals)} signals x "
            f"{len(points)} kill points), {len(outcomes) - len(failed)} passed, "
            f"{len(failed)} failed, {wall:.0f} s in all.\n\n{table(outcomes)}\n\n"
            f"{reading(outcomes, args.children)}\n")
    print(text)
    if args.write:
        run.write("Crash matrix", text, args.results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
