"""Hostile CEL filters and input templates: time and peak memory per evaluation, an
org's plan time, and plans rendering template bombs.

Measures whatever ``tako_gha`` is importable, and says which (its path). To measure
the code before the bound (this issue's base), run the same script with a checkout of
the base commit (``--code DIR`` puts DIR's ``tako_gha`` ahead of an editable install):

    mkdir /tmp/tako-base && git archive 4c259f2 tako_gha | tar -x -C /tmp/tako-base
    python benchmarks/bench_hostile.py --code /tmp/tako-base --label "commit 4c259f2" \
        --json /tmp/before.json
    python benchmarks/bench_hostile.py --before /tmp/before.json --label "commit X" --write

or in one command, which is what RESULTS.md's section should name (it archives the
base commit's ``tako_gha`` into a temporary directory and measures it first):

    python benchmarks/bench_hostile.py --before-commit 4c259f2 --write

Each filter is evaluated in a child process with a wall-clock timeout and an address-
space cap (the unbounded code takes minutes and gigabytes; the machine is shared), so
"killed" rows are lower bounds. Peak memory is tracemalloc's peak during the one
evaluation (the payload is converted beforehand, once per event, as ``plan`` does).

The org: 10,000 subscriptions in 10,000 tako.yml files, 1 % of them hostile (each a
different source, so neither the compile cache nor the per-event memo shares work),
the rest ordinary filters; ``plan_fanout`` of one event against all of them.

The template bombs: a plan over many subscribers whose inputs name a huge payload value
(once, or 100 times in one input), in a child process: its time, tracemalloc's peak
during the plan, and the child's peak RSS.

``--quick`` runs everything in-process at small sizes (the test suite smoke-runs it).
``--write`` replaces the "Hostile filters" section of benchmarks/RESULTS.md (a quick
run only with ``--results FILE``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import results

SECTION = "Hostile filters"
# The goals the reading checks the figures against.
GOAL_EVAL_SECONDS, GOAL_EVAL_MB, GOAL_PLAN_SECONDS = 0.25, 50.0, 3.0
# A plan over 100 repositories each holding a budget-exhausting filter (23 s before the
# plan-wide budget), and the template bombs' peak memory.
GOAL_EXHAUSTING_PLAN_SECONDS, GOAL_TEMPLATE_MB = 5.0, 100.0

# (name, source, payload builder) -- the worst filters found while attacking the
# evaluator, and a few ordinary ones for comparison. Payload sizes are the real ones;
# --quick divides the big ones.
FILTERS: list[tuple[str, str, str]] = [
    ("issue: exists with a string condition", "event.payload.targets.exists(t, 'a')",
     "targets300"),
    ("non-bool condition from the payload",
     "event.payload.targets.exists(t, event.payload.label)", "targets300"),
    ("error on every element", "event.payload.targets.exists(t, t == 'a' || t + 1 == 0)",
     "targets300"),
    ("nested comprehension (n^2)",
     "event.payload.targets.exists(x, event.payload.targets.exists(y, x == y + 100000))",
     "targets1k"),
    ("triple nested comprehension (n^3)",
     "event.payload.targets.exists(x, event.payload.targets.exists(y, "
     "event.payload.targets.exists(z, x + y + z < 0)))", "targets1k"),
    ("one list 80 times, printed", "string([" + ", ".join(["event.payload.targets"] * 80)
     + "]) == ''", "targets20k"),
    ("shared lists, field of a list",
     "[" + ", ".join(["event.payload.targets"] * 40) + "].map(x, ["
     + ", ".join(["event.payload.targets"] * 40) + "]).foo == 1", "targets5k"),
    ("map of the list onto itself, compared",
     "event.payload.targets.map(x, event.payload.targets) == "
     "event.payload.targets.map(x, event.payload.targets)", "targets3k"),
    ("string growth in a loop",
     "event.payload.targets.exists(x, (event.payload.text + event.payload.text).size() < 0)",
     "text40k"),
    ("payload pattern over payload text", "event.payload.text.matches(event.payload.text)",
     "text40k"),
    ("errors quoting errors (14 levels)",
     "(" * 14 + "1 < 'a'" + ") == 'a'" * 14, "targets300"),
    # ordinary filters
    ("ordinary: field equality", 'event.payload.build_status == "success"', "targets300"),
    ("ordinary: semver major", "semver.major(event.payload.version) >= 2", "targets300"),
    ("ordinary: split/map/trim (seed)",
     "'user-service' in event.payload.services.split(',').map(s, s.trim().lower())",
     "targets300"),
    ("ordinary: exists over 300 items", "event.payload.targets.exists(t, t == 299)",
     "targets300"),
    ("ordinary: 'in' a 1,000-item list", "999 in event.payload.targets", "targets1k"),
]
GOOD = {name for name, _, _ in FILTERS if name.startswith("ordinary")}
# The org plans: which FILTERS the 1 % hostile subscriptions use (in turn, each made a
# distinct source). "worst mix": the worst found that still load in the bounded code;
# "budget-exhausting": the one that is linear but needs more than its step budget (each
# such evaluation costs a whole budget); "the filter": refused at load now.
ORG_MIXES: dict[str, list[int]] = {
    "the issue's filter": [0],
    "worst mix": [3, 4, 2, 5, 7],
    "budget-exhausting only": [2],
}

BASE_PAYLOAD = {"version": "2.1.0", "build_status": "success", "label": "x",
                "services": "api, User-Service ,web"}


def payload(kind: str, quick: bool = False) -> dict[str, Any]:
    scale = 10 if quick else 1
    sizes = {"targets300": 300, "targets1k": 1000, "targets3k": 3000, "targets5k": 5000,
             "targets20k": 20_000}
    data = dict(BASE_PAYLOAD)
    if kind in sizes:
        data["targets"] = list(range(max(sizes[kind] // scale, 10)))
    if kind == "text40k":
        data["targets"] = list(range(300 // scale))
        data["text"] = "9" * (40_000 // scale)
    return data


# --------------------------------------------------------------------------- one filter


def measure(source: str, kind: str, quick: bool = False) -> dict[str, Any]:
    """Compile and evaluate once; time and tracemalloc peak of the evaluation."""
    try:
        from tako_gha.core.cel import FilterError, activation_for, compile_filter
    except ImportError:  # --code/--before-commit of a commit before the core/cel package
        from tako_gha.core.filters import (  # type: ignore[no-redef]
            FilterError,
            activation_for,
            compile_filter,
        )
    from tako_gha.core.events import Event

    event = Event("library_built", "bench/core-lib", payload(kind, quick), "1.0.0")
    activation = activation_for(event, "bench/app")
    compile_filter("true")  # builds the CEL parser (once per process): not this filter's
    started = time.perf_counter()
    try:
        compiled = compile_filter(source)
    except FilterError as exc:
        return {"status": "refused at load", "seconds": time.perf_counter() - started,
                "peak": 0, "why": str(exc)[:160]}
    # Timed without tracemalloc (it slows allocation-heavy code ~3x), then run again
    # under tracemalloc for the peak.
    started = time.perf_counter()
    try:
        outcome = compiled.evaluate(activation, memo=False)
    except Exception as exc:  # the base code could raise; say so
        outcome = None
        why = f"raised {type(exc).__name__}"
    seconds = time.perf_counter() - started
    tracemalloc.start()
    with contextlib.suppress(Exception):  # already reported by the timed pass
        compiled.evaluate(activation, memo=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if outcome is not None:
        why = (outcome.detail or outcome.reason or "matched")[:160]
        status = ("matched" if outcome.matched else
                  f"stopped: {outcome.limit}" if getattr(outcome, "limit", None) else
                  "failed" if getattr(outcome, "error", False) else "false")
    else:
        status = "raised"
    return {"status": status, "seconds": seconds, "peak": peak, "why": why}


CODE: Path | None = None  # --code: measure the tako_gha package in this directory


def _preamble(memory_mb: int) -> str:
    lines = [
        "import json, resource, sys",
        f"resource.setrlimit(resource.RLIMIT_AS, ({memory_mb} << 20, {memory_mb} << 20))",
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})",
    ]
    if CODE is not None:
        # An editable install resolves tako_gha through a meta-path finder, ahead of
        # sys.path: drop it, so that the package in CODE is the one imported.
        lines += [
            "sys.meta_path[:] = [f for f in sys.meta_path "
            "if '__editable__' not in getattr(f, '__module__', '')]",
            f"sys.path.insert(0, {str(CODE)!r})",
        ]
    return "\n".join(lines) + "\n"


def _run_child(code: str, timeout: float) -> tuple[dict[str, Any] | None, str, int | None]:
    """Run ``code``; its last stdout line as JSON, else why not; and its peak RSS (MB).

    The peak RSS (VmHWM) is read from /proc just before a timed-out child is killed."""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    peak_rss = None
    while child.poll() is None and time.monotonic() < deadline:
        peak_rss = _vm_hwm(child.pid) or peak_rss
        time.sleep(0.05)
    if child.poll() is None:
        peak_rss = _vm_hwm(child.pid) or peak_rss
        child.kill()
        child.communicate()
        return None, f"killed after {timeout:g} s", peak_rss
    out, err = child.communicate()
    lines = out.strip().splitlines()
    if child.returncode != 0 or not lines:
        tail = (err.strip().splitlines() or ["?"])[-1][:120]
        return None, f"exit {child.returncode}: {tail}", peak_rss
    return json.loads(lines[-1]), "", peak_rss


def _vm_hwm(pid: int) -> int | None:
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) // 1024
    except (OSError, ValueError):
        return None
    return None


def measure_in_child(index: int, timeout: float, memory_mb: int) -> dict[str, Any]:
    code = _preamble(memory_mb) + (
        "import bench_hostile as b\n"
        f"print(json.dumps(b.measure(b.FILTERS[{index}][1], b.FILTERS[{index}][2])))\n"
    )
    result, why, rss = _run_child(code, timeout)
    if result is None:
        return {"status": why, "seconds": timeout if why.startswith("killed") else None,
                "peak": None, "rss": rss, "why": why}
    result["rss"] = rss
    return result


# --------------------------------------------------------------------------- the org


def org_texts(total: int, hostile_every: int, mix: str = "worst mix") -> list[str]:
    ordinary = [
        'event.payload.build_status == "success"',
        "semver.major(event.payload.version) >= 2",
        "'user-service' in event.payload.services.split(',').map(s, s.trim().lower())",
        "event.payload.targets.exists(t, t == 7)",
    ]
    texts = []
    for i in range(total):
        if i % hostile_every == 0:
            chosen = ORG_MIXES[mix]
            base = FILTERS[chosen[(i // hostile_every) % len(chosen)]][1]
            source = f"({base}) || event.type == 'never-{i}'"  # a distinct source each
        else:
            source = ordinary[i % len(ordinary)]
        texts.append(
            "version: 1\nevents:\n  subscriptions:\n    - artifact: bench/core-lib\n"
            "      events: [library_built]\n"
            f"      filters: [{json.dumps(source)}]\n")
    return texts


def org_plan(total: int, hostile_every: int, quick: bool, mix: str = "worst mix"
             ) -> dict[str, Any]:
    from tako_gha.core.config import load_config
    from tako_gha.core.events import Event
    from tako_gha.core.matching import plan_fanout

    texts = org_texts(total, hostile_every, mix)
    started = time.perf_counter()
    repos = [load_config(t, path="tako.yml", repo=f"bench/r{i}") for i, t in enumerate(texts)]
    load = time.perf_counter() - started
    event = Event("library_built", "bench/core-lib", payload("targets1k", quick), "1.0.0")
    started, cpu = time.perf_counter(), time.process_time()
    plan = plan_fanout(event, repos)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    refused = sum(1 for r in repos if r.config is None or not r.config.subscriptions)
    targets = len(getattr(plan, "targets", []))
    over = sum(1 for s in getattr(plan, "skipped", []) if s.kind == "over-budget")
    return {"subscriptions": total, "hostile": len(range(0, total, hostile_every)),
            "refused at load": refused, "load": load, "plan": seconds, "plan cpu": cpu,
            "targets": targets, "over budget": over}


def org_plan_in_child(total: int, hostile_every: int, timeout: float,
                      memory_mb: int, mix: str) -> dict[str, Any]:
    code = _preamble(memory_mb) + (
        "import bench_hostile as b\n"
        f"print(json.dumps(b.org_plan({total}, {hostile_every}, False, {mix!r})))\n"
    )
    result, why, rss = _run_child(code, timeout)
    if result is None:
        return {"subscriptions": total, "hostile": len(range(0, total, hostile_every)),
                "plan": None, "status": why, "rss": rss}
    result["rss"] = rss
    return result


# --------------------------------------------------------------------------- templates

# name -> (subscribers, the one input's template, the payload value's size as JSON). The
# value is a list of strings: a string renders as itself (shared, never copied), a list
# renders as JSON, built anew for every subscriber and placeholder.
TEMPLATE_BOMBS: dict[str, tuple[int, str, int]] = {
    "300 subscribers x a 900 KB value": (300, "{{ .event.payload.big }}", 900_000),
    "4 subscribers x 100 placeholders of it": (4, "{{ .event.payload.big }}" * 100, 900_000),
}


def template_plan(name: str, quick: bool) -> dict[str, Any]:
    """Plan one event for the bomb's subscribers; time and tracemalloc peak of the plan."""
    from tako_gha.core.config import load_config
    from tako_gha.core.events import Event
    from tako_gha.core.matching import plan_fanout

    subscribers, template, size = TEMPLATE_BOMBS[name]
    if quick:
        subscribers, size = max(subscribers // 10, 2), size // 10
    text = ("version: 1\nevents:\n  subscriptions:\n    - artifact: bench/core-lib\n"
            f"      events: [library_built]\n      inputs: {{v: {json.dumps(template)}}}\n")
    repos = [load_config(text, path="tako.yml", repo=f"bench/t{i}") for i in range(subscribers)]
    items = [f"{i:09}" for i in range(size // 12)]  # 12 characters each as JSON
    event = Event("library_built", "bench/core-lib", {"big": items}, "1.0.0")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        plan = plan_fanout(event, repos)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    errors = sum(1 for s in getattr(plan, "skipped", []) if s.kind == "template-error")
    return {"subscribers": subscribers, "size": size, "plan": seconds, "peak": peak,
            "targets": len(getattr(plan, "targets", [])), "template errors": errors}


def template_plan_in_child(name: str, timeout: float, memory_mb: int) -> dict[str, Any]:
    code = _preamble(memory_mb) + (
        "import bench_hostile as b\n"
        f"print(json.dumps(b.template_plan({name!r}, False)))\n"
    )
    result, why, rss = _run_child(code, timeout)
    subscribers, _template, size = TEMPLATE_BOMBS[name]
    if result is None:
        return {"subscribers": subscribers, "size": size, "plan": None, "peak": None,
                "status": why, "rss": rss}
    result["rss"] = rss
    return result


# --------------------------------------------------------------------------- report


def _mb(peak: int | None) -> str:
    return "?" if peak is None else f"{peak / 1e6:,.1f} MB"


def _memory(row: dict[str, Any]) -> str:
    """tracemalloc's peak; for a killed child, its peak RSS so far (a lower bound)."""
    if row.get("peak") is not None:
        return _mb(row["peak"])
    return f"≥ {row['rss']:,} MB RSS" if row.get("rss") else "?"


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds * 1e3:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def section(after: dict[str, Any], before: dict[str, Any] | None) -> str:
    rows = []
    for name, source, kind in FILTERS:
        a = after["filters"][name]
        b = before["filters"].get(name) if before else None
        before_cells = (f"{_s(b['seconds'])}, {_memory(b)}, {b['status']}" if b
                        else "not measured")
        shown = source if len(source) <= 70 else source[:67] + "..."
        rows.append(f"| {name} | `{shown}` | {kind} | {before_cells} | "
                    f"{_s(a['seconds'])}, {_memory(a)}, {a['status']} |")
    org_rows = []
    for mix, row in after["org"].items():
        b = (before or {}).get("org", {}).get(mix) if before else None
        org_rows.append(
            f"| {mix} | {row['hostile']} | {_plan_cell(b)} | {_plan_cell(row)} |")
    org = next(iter(after["org"].values()), {})
    lines = [
        "Each evaluation runs in a child process with a timeout and an address-space cap, "
        "after the payload is converted (once per event, as `plan` does); it is timed "
        "without tracemalloc, then run again under tracemalloc for its peak. A killed child "
        "shows its peak RSS so far. Payloads: `targetsN` = a list of N numbers, `text40k` = "
        "40,000 characters" + (" (divided by 10 in a `--quick` run, which also runs "
                               "in-process)" if after.get("quick") else "") + ".",
        "",
        f"After: {_label(after)}; before: {_label(before) if before else 'not measured'}.",
        "",
        "| filter | source | payload | before (time, peak, outcome) | after |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Org: {org.get('subscriptions', 0):,} subscriptions (one per tako.yml), "
        f"{org.get('hostile', 0):,} hostile with distinct sources, the rest ordinary; one "
        "event (`targets1k`); load = reading every tako.yml, plan = `plan_fanout`.",
        "",
        "| hostile filters used | hostile subs | before (load; plan) | after (load; plan) |",
        "|---|---:|---|---|",
        *org_rows,
        "",
        "Template bombs: a plan over subscribers whose one input names a payload list of "
        "`size` characters as JSON (once, or 100 times); peak = tracemalloc's during the "
        "plan, RSS = the child process's peak.",
        "",
        "| bomb | subscribers | size | before (plan; peak; RSS; outcome) | after |",
        "|---|---:|---:|---|---|",
        *[f"| {name} | {row['subscribers']:,} | {row['size']:,} | "
          f"{_template_cell((before or {}).get('templates', {}).get(name))} | "
          f"{_template_cell(row)} |" for name, row in after.get("templates", {}).items()],
        "",
        reading(after, before),
        *nodes_lines(after, before),
    ]
    return "\n".join(lines) + "\n"


def _ended_at_limit(row: dict[str, Any]) -> bool:
    return row["status"] == "refused at load" or row["status"].startswith("stopped: ")


def reading(after: dict[str, Any], before: dict[str, Any] | None) -> str:
    """The goals checked on the figures, and what changed against ``before``."""
    hostile = [(n, after["filters"][n]) for n, _, _ in FILTERS if n not in GOOD]
    over = [n for n, r in hostile
            if (r["seconds"] or 0) > GOAL_EVAL_SECONDS or (r["peak"] or 0) / 1e6 > GOAL_EVAL_MB]
    at_limit = [n for n, r in hostile if _ended_at_limit(r)]
    refused = [n for n, r in hostile if r["status"] == "refused at load"]
    other = {n: r["status"] for n, r in hostile if not _ended_at_limit(r)}
    worst = max(hostile, key=lambda nr: nr[1]["seconds"] or 0)
    heaviest = max((r["peak"] or 0) for _, r in after["filters"].items())
    lines = ["Reading (computed from the tables):",
             f"- Per evaluation (goal ≤ {GOAL_EVAL_SECONDS:g} s and ≤ {GOAL_EVAL_MB:g} MB): "
             + ("met by every hostile filter" if not over else
                f"NOT met by {len(over)} of {len(hostile)}: {', '.join(over)}")
             + f"; the slowest took {_s(worst[1]['seconds'])} ({worst[0]}), the largest "
             f"peak was {_mb(heaviest)}.",
             f"- {len(at_limit)} of {len(hostile)} hostile filters ended at a named limit "
             f"({len(refused)} refused at load)"
             + ("" if not other else "; the others ended with an outcome: "
                + ", ".join(f"{n} ({st})" for n, st in other.items())) + "."]
    for mix, row in after["org"].items():
        if row.get("plan") is None:
            lines.append(f"- Org plan, {mix}: {row.get('status', 'not measured')}.")
            continue
        met = "met" if row["plan"] <= GOAL_PLAN_SECONDS else "NOT met"
        was = (before or {}).get("org", {}).get(mix)
        then = (f" (before: {_plan_cell(was)})" if was else "")
        cpu = (f" ({_s(row['plan cpu'])} of CPU)" if row.get("plan cpu") is not None else "")
        over = (f", {row['over budget']} repositories over budget"
                if row.get("over budget") else "")
        lines.append(f"- Org plan, {mix}: {_s(row['plan'])}{cpu} for "
                     f"{row['subscriptions']:,} subscriptions{over}; the ≤ "
                     f"{GOAL_PLAN_SECONDS:g} s plan goal is {met}{then}.")
        if mix == "budget-exhausting only":
            wall = "met" if row["plan"] <= GOAL_EXHAUSTING_PLAN_SECONDS else "NOT met"
            on_cpu = ("met" if (row.get("plan cpu") or 0) <= GOAL_EXHAUSTING_PLAN_SECONDS
                      else "NOT met")
            lines.append(f"- The ≤ {GOAL_EXHAUSTING_PLAN_SECONDS:g} s goal for a plan over "
                         f"{row['hostile']} repositories each holding a budget-exhausting "
                         f"filter is {wall} in wall-clock time and {on_cpu} in CPU time.")
    for name, row in after.get("templates", {}).items():
        if row.get("plan") is None:
            lines.append(f"- Template bomb, {name}: {row.get('status', 'not measured')}.")
            continue
        peak_mb = max(row["peak"], (row.get("rss") or 0) * 10**6) / 1e6
        met = "met" if peak_mb <= GOAL_TEMPLATE_MB else "NOT met"
        was = (before or {}).get("templates", {}).get(name)
        then = f" (before: {_template_cell(was)})" if was else ""
        lines.append(f"- Template bomb, {name}: peak {peak_mb:,.1f} MB (the larger of "
                     f"tracemalloc's and the process's RSS); the ≤ {GOAL_TEMPLATE_MB:g} MB "
                     f"goal is {met}{then}.")
    if before:
        killed = [n for n, _, _ in FILTERS
                  if before["filters"].get(n, {}).get("status", "").startswith("killed")]
        if killed:
            lines.append(f"- Before, {len(killed)} evaluations were killed at the timeout: "
                         + ", ".join(killed) + ".")
    return "\n".join(lines)


def _label(results: dict[str, Any]) -> str:
    return results.get("label") or f"`{results['code']}`"


def _template_cell(row: dict[str, Any] | None) -> str:
    if not row:
        return "not measured"
    rss = f"{row['rss']:,} MB RSS" if row.get("rss") else "RSS ?"
    if row.get("plan") is None:
        return f"{row.get('status', '?')}, ≥ {rss}"
    outcome = (f"{row['template errors']} refused at the cap, {row['targets']} targets"
               if "template errors" in row else f"{row['targets']} targets")
    return f"{_s(row['plan'])}; {_mb(row['peak'])}; {rss}; {outcome}"


def _plan_cell(row: dict[str, Any] | None) -> str:
    if not row:
        return "not measured"
    if row.get("plan") is None:
        rss = f", ≥ {row['rss']:,} MB RSS" if row.get("rss") else ""
        return f"{row.get('status', '?')}{rss}"
    refused = row.get("refused at load", 0)
    note = f"; {refused} refused at load" if refused else ""
    return f"{_s(row['load'])}; {_s(row['plan'])}{note}"


# ---------------------------------------------------- GraphQL nodes(ids:) at scale
# (the emulator's part of the hostile corpus: unknown ids must cost a lookup each)
GOAL_NODES_SECONDS = 0.05
NODES_ALIASES = (1, 900)  # one nodes(ids:); the most aliases the complexity limit admits


def _nodes_query(aliases: int) -> str:
    return "query($ids: [ID!]!) { " + " ".join(
        f"a{i}: nodes(ids: $ids) {{ id }}" for i in range(aliases)) + " }"


def nodes_unknown_ids(repos: int, ids: int,
                      aliases_tried: tuple[int, ...] = NODES_ALIASES) -> dict[str, Any]:
    """``nodes(ids:)`` with ``ids`` unknown repository ids against a world of ``repos``
    repositories, once and under the most aliases the complexity limit admits: the
    emulator process's CPU time for one answer (best of 3; the server runs in this
    process), and how many ids came back null."""
    import base64
    import urllib.request

    from tako_gha.emulator import Emulator
    from tako_gha.emulator.worldgen import build_bare_world

    def post(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(url + "/graphql", json.dumps(body).encode(),
                                         {"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=600) as answer:  # before: minutes
            return json.loads(answer.read())

    rows: dict[str, Any] = {"repos": repos, "ids": ids, "queries": []}
    with tempfile.TemporaryDirectory(prefix="tako-nodes-") as tmp:
        world = build_bare_world(Path(tmp) / "world",
                                 {f"bench/r-{i:05d}": {"README.md": "x"} for i in range(repos)},
                                 settings={"limits": {"enabled": False}})
        unknown = [base64.b64encode(f"R:{10**12 + i}".encode()).decode() for i in range(ids)]
        with Emulator(world) as emu:
            for aliases in aliases_tried:
                best, nulls = float("inf"), 0
                for _ in range(3):
                    started = time.process_time()
                    body = post(emu.base_url, emu.admin_token,
                                {"query": _nodes_query(aliases), "variables": {"ids": unknown}})
                    best = min(best, time.process_time() - started)
                    if best > 5:  # once is enough to show seconds
                        break
                    nulls = sum(node is None for key in body.get("data") or {}
                                for node in body["data"][key])
                rows["queries"].append({"aliases": aliases, "seconds": best, "nulls": nulls,
                                        "errors": len(body.get("errors", []))})
    return rows


def nodes_in_child(quick: bool, timeout: float, memory_mb: int) -> dict[str, Any]:
    repos, ids = (200, 100) if quick else (10_000, 100)
    if quick:
        return nodes_unknown_ids(repos, ids, (1, 20))
    code = _preamble(memory_mb) + (
        f"import bench_hostile as b\nprint(json.dumps(b.nodes_unknown_ids({repos}, {ids})))\n")
    result, why, _rss = _run_child(code, timeout)
    return result or {"repos": repos, "ids": ids, "queries": [], "status": why}


def _nodes_cell(row: dict[str, Any] | None, aliases: int) -> str:
    if not row:
        return "not measured"
    found = [q for q in row.get("queries", []) if q["aliases"] == aliases]
    return _s(found[0]["seconds"]) if found else row.get("status", "not measured")


def nodes_lines(after: dict[str, Any], before: dict[str, Any] | None) -> list[str]:
    """The nodes(ids:) table and its reading (goal: one query ≤ 50 ms)."""
    row = after.get("nodes")
    if not row:
        return []
    was = (before or {}).get("nodes")
    lines = [
        "",
        f"GraphQL `nodes(ids:)` with {row['ids']} unknown repository ids on a "
        f"{row['repos']:,}-repository emulator world, as one field and under aliases: CPU "
        "time of the emulator process for one answer (best of 3).",
        "",
        "| query | before | after |",
        "|---|---|---|",
    ]
    for aliases in [q["aliases"] for q in row.get("queries", [])] or NODES_ALIASES:
        shape = "nodes(ids:)" if aliases == 1 else f"{aliases} aliases of nodes(ids:)"
        lines.append(f"| {shape} | {_nodes_cell(was, aliases)} | "
                     f"{_nodes_cell(row, aliases)} |")
    one = next((q for q in row.get("queries", []) if q["aliases"] == 1), None)
    if one is None:
        return [*lines, "", f"- nodes(ids:): {row.get('status', 'not measured')}."]
    met = one["seconds"] <= GOAL_NODES_SECONDS
    return [*lines, "",
            f"- nodes(ids:): the ≤ {GOAL_NODES_SECONDS * 1e3:g} ms goal for one query is "
            f"{'met' if met else 'NOT met'} ({_s(one['seconds'])}; {one['nulls']} of "
            f"{row['ids']} ids answered null)."]


def run(quick: bool, timeout: float, memory_mb: int, org_timeout: float = 300
        ) -> dict[str, Any]:
    import tako_gha

    code = CODE / "tako_gha" if CODE else Path(tako_gha.__file__).resolve().parent
    results: dict[str, Any] = {
        "code": str(code),
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "filters": {},
    }
    for index, (name, source, kind) in enumerate(FILTERS):
        row = (measure(source, kind, quick=True) if quick
               else measure_in_child(index, timeout, memory_mb))
        results["filters"][name] = row
        print(f"{name:45} {_s(row['seconds']):>10} {_mb(row['peak']):>10}  {row['status']}",
              flush=True)
    results["org"] = {}
    for mix in ORG_MIXES:
        if quick:
            row = org_plan(500, 100, True, mix)
        else:
            row = org_plan_in_child(10_000, 100, org_timeout, memory_mb * 2, mix)
        results["org"][mix] = row
        print(f"org, {mix}:", json.dumps(row), flush=True)
    results["templates"] = {}
    for name in TEMPLATE_BOMBS:
        row = (template_plan(name, True) if quick
               else template_plan_in_child(name, org_timeout, memory_mb))
        results["templates"][name] = row
        print(f"templates, {name}:", json.dumps(row), flush=True)
    results["nodes"] = nodes_in_child(quick, org_timeout, memory_mb * 2)
    print("nodes(ids:):", json.dumps(results["nodes"]), flush=True)
    return results


def before_commit(rev: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure ``rev``'s tako_gha (archived into a temporary directory) as the before."""
    global CODE
    with tempfile.TemporaryDirectory(prefix="tako-hostile-before-") as tmp:
        archive = subprocess.run(["git", "archive", rev, "tako_gha"], cwd=results.ROOT,
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise SystemExit(f"git archive {rev}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        CODE = Path(tmp)
        try:
            before = run(False, args.timeout, args.memory_mb, args.org_timeout)
        finally:
            CODE = None
    before["label"] = f"commit {rev}"
    return before


def main(argv: list[str] | None = None) -> int:
    command = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, in-process")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per filter")
    parser.add_argument("--memory-mb", type=int, default=1500, help="address-space cap")
    parser.add_argument("--org-timeout", type=float, default=300.0,
                        help="seconds for each org plan (load + plan)")
    parser.add_argument("--json", type=Path, help="also save the results here")
    parser.add_argument("--before", type=Path, help="results of a run on the base commit")
    parser.add_argument("--before-commit", metavar="REV",
                        help="measure REV's tako_gha first, as the before column")
    parser.add_argument("--code", type=Path, help="measure the tako_gha package in DIR")
    parser.add_argument("--label", help="what was measured, e.g. 'commit 4c259f2'")
    results.add_arguments(parser)
    args = parser.parse_args(argv)
    results.check_quick(args)
    global CODE
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    if args.before_commit and not args.quick:
        before = before_commit(args.before_commit, args)
    CODE = args.code.resolve() if args.code else None
    found = run(args.quick, args.timeout, args.memory_mb, args.org_timeout)
    found["quick"] = args.quick
    if args.label:
        found["label"] = args.label
    elif CODE is None:
        found["label"] = f"commit {results.commit()}"
    if args.json:
        args.json.write_text(json.dumps(found, indent=1), encoding="utf-8")
    text = section(found, before)
    print(reading(found, before))
    if args.write:
        command.write(SECTION, text, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
