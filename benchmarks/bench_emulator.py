"""The emulator under load: a 10,000-repository world (build, load, GraphQL discovery
in 100 pages), REST throughput with 100 concurrent clients.

    python benchmarks/bench_emulator.py [--repos 10000] [--clients 100] [--write]
    python benchmarks/bench_emulator.py --quick     # 300 repos, 10 clients: seconds

Prints a Markdown table; ``--write`` replaces the "Emulator" section of
benchmarks/RESULTS.md. The figures depend on the machine (its line heads the section).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import results

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import call
from tako_gha.emulator.worldgen import build_bare_world

QUERY = """query($org: String!, $cursor: String) {
  organization(login: $org) {
    repositories(first: 100, after: $cursor, isArchived: false) {
      pageInfo { hasNextPage endCursor }
      nodes { nameWithOwner isFork isDisabled defaultBranchRef { name }
              tako: object(expression: "HEAD:tako.yml") { ... on Blob { text oid } } } } }
  rateLimit { cost remaining } }"""


def discovery(emu: Emulator) -> tuple[int, int, float]:
    started = time.perf_counter()
    pages = repos = 0
    cursor = None
    while True:
        body = call(emu.base_url, "POST", "/graphql", emu.admin_token,
                    {"query": QUERY, "variables": {"org": "bench", "cursor": cursor}}).json()
        conn = body["data"]["organization"]["repositories"]
        pages += 1
        repos += len(conn["nodes"])
        if not conn["pageInfo"]["hasNextPage"]:
            return pages, repos, time.perf_counter() - started
        cursor = conn["pageInfo"]["endCursor"]


def concurrent_gets(emu: Emulator, clients: int, per_client: int) -> tuple[int, int, float]:
    errors: list[int] = []
    barrier = threading.Barrier(clients)

    def client(n: int) -> None:
        barrier.wait()
        for i in range(per_client):
            reply = call(emu.base_url, "GET", f"/repos/bench/svc-{(n * 7 + i) % 100:05d}",
                         token=f"client-{n}")
            if reply.status != 200:
                errors.append(reply.status)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return clients * per_client, len(errors), time.perf_counter() - started


def main(argv: list[str] | None = None) -> list[tuple[str, str]]:
    run = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="300 repos, 10 clients")
    results.add_arguments(parser)
    args = parser.parse_args(argv)
    results.check_quick(args)
    if args.quick:
        args.repos, args.clients = 300, 10
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        repos = {f"bench/svc-{i:05d}": {"tako.yml": f"version: 1\n# {i}\n"}
                 for i in range(args.repos)}
        started = time.perf_counter()
        build_bare_world(world, repos, settings={"limits": {"enabled": False}})
        built = time.perf_counter() - started
        started = time.perf_counter()
        emu = Emulator(world).start()
        loaded = time.perf_counter() - started
        try:
            pages, found, cold = discovery(emu)
            _, _, warm = discovery(emu)
            total, errors, elapsed = concurrent_gets(emu, args.clients, 20)
        finally:
            emu.stop()
    if found != args.repos:
        raise SystemExit(f"GraphQL discovery listed {found} repositories of {args.repos}")
    rows = [
        ("repositories", f"{args.repos:,}"),
        ("build (git fast-import + bare repos)", f"{built:.1f} s"),
        ("load (Emulator start)", f"{loaded:.2f} s"),
        ("GraphQL discovery, cold object cache", f"{pages} pages, {found:,} repos, {cold:.1f} s"),
        ("GraphQL discovery, warm", f"{warm:.1f} s ({warm / pages * 1000:.0f} ms a page)"),
        (f"{args.clients} concurrent clients x 20 GETs",
         f"{total / elapsed:.0f} req/s, {errors} errors"),
    ]
    table = "\n".join(["| measure | value |", "|---|---|",
                       *(f"| {name} | {value} |" for name, value in rows)])
    reading = (f"Reading: the emulator built and loaded a {args.repos:,}-repository world in "
               f"{built + loaded:.1f} s, listed it with file text in {pages} GraphQL pages "
               f"({cold / pages * 1000:.0f} ms a page cold, {warm / pages * 1000:.0f} ms warm) "
               f"and answered {args.clients} concurrent clients at {total / elapsed:.0f} "
               f"requests a second with {errors} errors.")
    print(table + "\n\n" + reading)
    if args.write:
        intro = ("The emulator under load, in process: a world of repositories with a "
                 "tako.yml each built with git fast-import, loaded, listed through GraphQL "
                 "discovery's query (100 repos a page, file text included) twice (cold, then "
                 "with the object cache warm), then concurrent clients each sending 20 REST "
                 "GETs. Rate limits off.")
        run.write("Emulator", f"{intro}\n\n{table}\n\n{reading}", args.results)
    return rows


if __name__ == "__main__":
    main()
