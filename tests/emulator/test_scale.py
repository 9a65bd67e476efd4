"""Scale: a world of 10,000 repositories discovered in 100 GraphQL pages, and 100
concurrent clients served without an error."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import call
from tako_gha.emulator.worldgen import build_bare_world

pytestmark = pytest.mark.timeout(120)

QUERY = """query($cursor: String) {
  organization(login: "bigorg") {
    repositories(first: 100, after: $cursor, isArchived: false) {
      pageInfo { hasNextPage endCursor }
      nodes { nameWithOwner isFork defaultBranchRef { name }
              tako: object(expression: "HEAD:tako.yml") { ... on Blob { text oid } } } } }
  rateLimit { cost remaining } }"""


def test_ten_thousand_repos_in_one_hundred_pages(
    tmp_path: Path, start_emulator: Callable[..., Emulator]
) -> None:
    repos = {
        f"bigorg/svc-{i:05d}": {"tako.yml": f"version: 1\n# {i % 97}\n", "README.md": "x\n"}
        for i in range(10_000)
    }
    started = time.monotonic()
    world = build_bare_world(tmp_path / "world", repos)
    built = time.monotonic() - started
    emu = start_emulator(world)
    pages, names, texts = 0, [], set()
    cursor = None
    query_started = time.monotonic()
    while True:
        body = call(emu.base_url, "POST", "/graphql", emu.admin_token,
                    {"query": QUERY, "variables": {"cursor": cursor}}).json()
        assert "errors" not in body, body.get("errors")
        conn = body["data"]["organization"]["repositories"]
        pages += 1
        names += [n["nameWithOwner"] for n in conn["nodes"]]
        texts.update(n["tako"]["text"] for n in conn["nodes"])
        assert body["data"]["rateLimit"]["cost"] == 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        cursor = conn["pageInfo"]["endCursor"]
    queried = time.monotonic() - query_started
    assert pages == 100
    assert len(names) == 10_000 == len(set(names))
    assert len(texts) == 97
    stats = emu.stats()["by_kind"]["graphql"]
    assert stats == {"total": 100, "200": 100}
    # honest git: the blob oid GraphQL reports is what git itself says
    repo_dir = world / "bigorg" / "svc-04242"
    oid = subprocess.run(["git", "--git-dir", str(repo_dir), "rev-parse", "HEAD:tako.yml"],
                         capture_output=True, text=True, check=True).stdout.strip()
    query = '{ repository(owner: "bigorg", name: "svc-04242") { object(expression: ' \
            '"HEAD:tako.yml") { oid } } }'
    body = call(emu.base_url, "POST", "/graphql", emu.admin_token, {"query": query}).json()
    assert body["data"]["repository"]["object"]["oid"] == oid
    print(f"\n10k world: built in {built:.1f}s, 100 pages in {queried:.1f}s")


def test_one_hundred_concurrent_clients(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({f"acme/r{i}": {"tako.yml": f"v{i}\n"} for i in range(5)})
    emu = start_emulator(world)
    errors: list[str] = []
    barrier = threading.Barrier(100)
    paths = ["/orgs/acme/repos", "/repos/acme/r1", "/repos/acme/r2/contents/tako.yml",
             "/repos/acme/r3/actions/runs", "/rate_limit"]

    def client(n: int) -> None:
        tokens = f"client-{n}"
        barrier.wait()
        for i in range(5):
            reply = call(emu.base_url, "GET", paths[(n + i) % len(paths)], token=tokens)
            if reply.status != 200:
                errors.append(f"{n}: {reply.status} {reply.body[:100]!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert emu.stats()["by_status"] == {"200": 500}
