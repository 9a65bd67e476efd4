"""Discovery cost: tako's GraphQL discovery (cold, warm) and REST fallback against the
naive per-repo REST strategy (PyGithub: list the org, then GET contents per repo),
in the same run, on emulator worlds of 1,000 and 10,000 repositories.

    python benchmarks/bench_discovery.py [--sizes 1000,10000] [--write]

API calls are counted by the emulator (``/_emulator/stats``) and by the forge's
ledger; "charged" is what the primary rate limit sees (304s are free). ``--write``
replaces the "Discovery" section of benchmarks/RESULTS.md with this run's table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from github import Auth, Github, UnknownObjectException

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import build_bare_world
from tako_gha.forge.base import RepoSelection
from tako_gha.forge.github import GitHubForge

TOKEN = "t-bench"
ORG = "acme"
RESULTS = Path(__file__).with_name("RESULTS.md")


def world_files(i: int) -> dict[str, str]:
    """A third of the repos subscribe (each to one of 50 producers), every 50th
    produces, a few have a malformed file, the rest have none."""
    files = {"README.md": f"# svc-{i:05d}\n"}
    if i % 50 == 0:
        files["tako.yml"] = ("version: 1\nevents:\n  produces:\n    - type: library_built\n"
                             "      schema_version: 1.0.0\n")
    elif i % 97 == 5:
        files["tako.yml"] = "version: 1\nevents: [\n"
    elif i % 3 == 0:
        producer = (i // 3) % 50 * 50
        files["tako.yml"] = (
            "version: 1\nevents:\n  subscriptions:\n"
            f"    - artifact: {ORG}/svc-{producer:05d}\n      events: [library_built]\n"
            '      schema_version: "^1.0.0"\n')
    return files


def build(root: Path, size: int) -> Path:
    repos = {f"{ORG}/svc-{i:05d}": world_files(i) for i in range(size)}
    settings = {
        "tokens": {TOKEN: {"repos": ["*"]}},
        "admin_token": TOKEN,
        "repos": {f"{ORG}/svc-0000[1-3]": {"archived": True}, f"{ORG}/svc-0000[4]": {"fork": True}},
        # generous budgets: the benchmark measures cost, it does not hit the limit
        "limits": {"core": 10_000_000, "graphql": 10_000_000},
    }
    return build_bare_world(root, repos, settings)


@dataclass
class Row:
    size: int
    strategy: str
    calls: int
    charged: int
    blobs: int  # requests that returned file content (contents 200 / GraphQL text)
    seconds: float
    peak_mb: float | None
    repos_with_config: int
    note: str = ""


def emu_total(emu: Emulator) -> int:
    return int(emu.stats()["total"])


def tako(emu: Emulator, cache: Path | None, prefer_rest: bool) -> tuple[Any, GitHubForge]:
    forge = GitHubForge(emu.base_url, token=TOKEN, cache_dir=cache, prefer_rest=prefer_rest,
                        write_interval=0.0)
    result = forge.discover(RepoSelection(org=ORG))
    forge.close()
    return result, forge


def naive(emu: Emulator) -> dict[str, str | None]:
    """What a script would do with PyGithub: every repo, then its tako.yml."""
    gh = Github(auth=Auth.Token(TOKEN), base_url=emu.base_url, per_page=100, retry=None,
                seconds_between_requests=0, seconds_between_writes=0)
    found: dict[str, str | None] = {}
    for repo in gh.get_organization(ORG).get_repos():
        if repo.archived or repo.fork:
            continue
        try:
            content = repo.get_contents("tako.yml")
            found[repo.full_name] = content.decoded_content.decode()  # type: ignore[union-attr]
        except UnknownObjectException:
            found[repo.full_name] = None
    gh.close()
    return found


def measure(emu: Emulator, fn: Callable[[], Any], memory: bool) -> tuple[Any, int, float, float]:
    before = emu_total(emu)
    emu.reset_log() if hasattr(emu, "reset_log") else None
    if memory:
        tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = 0.0
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return out, emu_total(emu) - before, seconds, peak


def blob_requests(emu: Emulator, since: float) -> int:
    n = 0
    for entry in emu.requests(since):
        if entry.get("kind") == "contents" and entry.get("status") == 200:
            n += 1
    return n


def run_size(size: int, tmp: Path, memory: bool) -> list[Row]:
    t0 = time.perf_counter()
    world = build(tmp / f"world-{size}", size)
    print(f"built {size} repos in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    rows: list[Row] = []
    with Emulator(world) as emu:
        cache = tmp / f"cache-{size}"
        results: dict[str, set[str]] = {}

        def add(strategy: str, fn: Callable[[], Any], ledger_of: Callable[[Any], Any] | None,
                configured: Callable[[Any], set[str]]) -> Any:
            since = time.time()
            out, calls, seconds, peak = measure(emu, fn, memory)
            charged = calls
            note = ""
            if ledger_of is not None:
                forge = ledger_of(out)
                charged = forge.ledger.total - sum(forge.ledger.not_modified.values())
                note = "REST fallback" if forge.used_rest and "REST" not in strategy else ""
            results[strategy] = configured(out)
            blobs = blob_requests(emu, since)
            if "GraphQL" in strategy and not note:
                blobs = calls if "cold" in strategy else blobs  # text rides in each page
            rows.append(Row(size, strategy, calls, charged, blobs, seconds,
                            peak if memory else None, len(results[strategy]), note))
            print(f"  {strategy}: {calls} calls in {seconds:.2f}s", file=sys.stderr)
            return out

        def tako_names(pair: Any) -> set[str]:
            return {r.full_name for r in pair[0].repos if r.config and not r.config.missing}

        add("tako GraphQL, cold", lambda: tako(emu, cache, False), lambda p: p[1], tako_names)
        add("tako GraphQL, warm (cache)", lambda: tako(emu, cache, False), lambda p: p[1],
            tako_names)
        rest_cache = tmp / f"rest-cache-{size}"
        add("tako REST fallback, cold", lambda: tako(emu, rest_cache, True), lambda p: p[1],
            tako_names)
        add("tako REST fallback, warm (ETags)", lambda: tako(emu, rest_cache, True),
            lambda p: p[1], tako_names)
        add("naive REST (PyGithub list + contents)", lambda: naive(emu), None,
            lambda found: {k for k, v in found.items() if v is not None})
    reference = results["naive REST (PyGithub list + contents)"]
    for strategy, names in results.items():
        if names != reference:
            raise SystemExit(f"{strategy} found {len(names)} configs, naive {len(reference)}")
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| repos | strategy | API calls | charged to rate limit | blob fetches | wall time |"
             " peak Python memory | repos with tako.yml |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mem = f"{r.peak_mb:.0f} MB" if r.peak_mb is not None else "—"
        name = r.strategy + (f" ({r.note})" if r.note else "")
        lines.append(f"| {r.size:,} | {name} | {r.calls:,} | {r.charged:,} | {r.blobs:,} | "
                     f"{r.seconds:.2f} s | {mem} | {r.repos_with_config:,} |")
    return "\n".join(lines)


def write_section(body: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = "## Discovery\n\n" + body.strip() + "\n"
    pattern = re.compile(r"^## Discovery\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--memory", action="store_true",
                        help="trace peak Python memory (slows every strategy)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tako-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            rows.extend(run_size(size, Path(tmp), args.memory))
    out = table(rows)
    print(out)
    if args.write:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        intro = (
            "`python benchmarks/bench_discovery.py --write` — org-wide discovery of "
            "`tako.yml` on emulator worlds (a third of the repos subscribe, every 50th "
            "produces, ~1 % malformed, 3 archived + 1 fork skipped), each strategy in the "
            "same run against the same emulator; calls counted by the emulator. All "
            "strategies find the same set of configured repos (checked). Cold = empty "
            "cache; warm = the cache file from the cold run (GraphQL asks for blob oids "
            "only) or the stored ETags (REST, answered 304, free against the rate limit). "
            "Times include parsing every tako.yml (the config loader) for tako's "
            "strategies, not for the naive one, which only downloads.\n\n"
            f"Measured {stamp} on CPython {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} cores (shared with other work).\n\n")
        write_section(intro + out)


if __name__ == "__main__":
    main()
