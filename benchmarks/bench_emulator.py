"""The emulator under load: a 10,000-repository world (build, load, GraphQL discovery
in 100 pages), REST throughput with 100 concurrent clients, dispatch throughput.

    python benchmarks/bench_emulator.py [--repos 10000] [--clients 100]

Prints a Markdown table; numbers depend on the machine (2 shared cores here).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=100)
    args = parser.parse_args()
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
    rows = [
        ("repositories", f"{args.repos:,}"),
        ("build (git fast-import + bare repos)", f"{built:.1f} s"),
        ("load (Emulator start)", f"{loaded:.2f} s"),
        ("GraphQL discovery, cold object cache", f"{pages} pages, {found:,} repos, {cold:.1f} s"),
        ("GraphQL discovery, warm", f"{warm:.1f} s ({warm / pages * 1000:.0f} ms a page)"),
        (f"{args.clients} concurrent clients x 20 GETs",
         f"{total / elapsed:.0f} req/s, {errors} errors"),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
