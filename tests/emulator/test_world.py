"""The world: directories become git repos, metadata from emulator.yml, bad world
files, repos that appear later, and a server that survives malformed HTTP."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from tako_gha.emulator import Emulator, WorldError
from tako_gha.emulator.settings import parse_settings
from tako_gha.emulator.testing import call
from tako_gha.emulator.world import World
from tako_gha.emulator.worldgen import build_bare_world, commit_files, write_world

pytestmark = pytest.mark.timeout(60)


def test_plain_directories_become_git_repos_on_main(tmp_path: Path) -> None:
    write_world(tmp_path, {"acme/a": {"tako.yml": "v\n", "sub/x.sh": "echo\n"}}, git=False)
    assert not (tmp_path / "acme" / "a" / ".git").exists()
    world = World(tmp_path)
    repo = world.repo("ACME/A")
    assert repo is not None and repo.full_name == "acme/a"
    real = git.Repo(tmp_path / "acme" / "a")
    assert real.active_branch.name == "main" and not real.is_dirty(untracked_files=True)
    assert repo.head_sha() == real.head.commit.hexsha
    assert sorted(repo.list_files("")) == ["sub/x.sh", "tako.yml"]
    assert repo.read_file("tako.yml") == b"v\n" and repo.read_file("nope") is None
    out = tmp_path / "checkout"
    repo.checkout_to(out)
    assert (out / "sub" / "x.sh").read_text() == "echo\n"


def test_bare_world_is_real_git(tmp_path: Path) -> None:
    build_bare_world(tmp_path, {"acme/a": {"tako.yml": "one\n"}, "acme/b": {"tako.yml": "one\n"}})
    world = World(tmp_path)
    a = world.repo("acme/a")
    assert a is not None and a.read_file("tako.yml") == b"one\n"
    fsck = subprocess.run(["git", "--git-dir", str(tmp_path / "acme" / "a"), "fsck", "--strict"],
                          capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, fsck.stderr
    assert [r.full_name for r in world.all_repos()] == ["acme/a", "acme/b"]


def test_metadata_globs_and_listing_filters(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world(
        {"acme/old-1": {"f": "1"}, "acme/new": {"f": "1"}, "acme/forked": {"f": "1"}},
        settings={"repos": {"acme/old-*": {"archived": True, "topics": ["legacy"]},
                            "acme/forked": {"fork": True, "private": True,
                                            "description": "a fork"}}},
    )
    emu = start_emulator(world)

    def names(query: str) -> list[str]:
        reply = call(emu.base_url, "GET", "/orgs/acme/repos" + query, emu.admin_token)
        return [r["name"] for r in reply.json()]

    assert names("") == ["forked", "new", "old-1"]
    assert names("?direction=desc") == ["old-1", "new", "forked"]
    assert names("?type=forks") == ["forked"] and names("?type=sources") == ["new", "old-1"]
    assert names("?type=private") == ["forked"] and names("?type=public") == ["new", "old-1"]
    old = call(emu.base_url, "GET", "/repos/acme/old-1", emu.admin_token).json()
    assert old["archived"] is True and old["topics"] == ["legacy"]
    forked = call(emu.base_url, "GET", "/repos/acme/forked", emu.admin_token).json()
    assert forked["visibility"] == "private" and forked["description"] == "a fork"
    archived = call(emu.base_url, "POST", "/repos/acme/old-1/dispatches", emu.admin_token,
                    {"event_type": "e"})
    assert archived.status == 403 and "archived" in archived.json()["message"]


def test_repos_added_while_serving_appear(emu: Emulator, small_world: Path) -> None:
    write_world(small_world, {"acme/late": {"tako.yml": "late\n"}})
    reply = call(emu.base_url, "GET", "/repos/acme/late/contents/tako.yml", emu.admin_token)
    assert reply.status == 200
    assert call(emu.base_url, "POST", "/_emulator/reload", None).json() == {"repos": 4}


def test_empty_repository(
    tmp_path: Path, start_emulator: Callable[..., Emulator]
) -> None:
    (tmp_path / "acme").mkdir()
    git.Repo.init(tmp_path / "acme" / "empty", initial_branch="main")
    emu = start_emulator(tmp_path)
    reply = call(emu.base_url, "GET", "/repos/acme/empty/contents/x", emu.admin_token)
    assert reply.status == 404 and reply.json()["message"] == "This repository is empty."
    assert call(emu.base_url, "GET", "/repos/acme/empty", emu.admin_token).status == 200


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("[1]", "the top level: expected a mapping"),
        ("surprise: 1", "unknown key 'surprise'"),
        ("tokens: [a]", "tokens: expected a mapping"),
        ("tokens: {t: {repos: 5}}", "repos: expected a list"),
        ("tokens: {t: {dispatch: maybe}}", "dispatch: expected true or false"),
        ("tokens: {t: {colour: red}}", "unknown key 'colour'"),
        ("secrets: [x]", "secrets: expected a mapping"),
        ("repos: {noslash: {}}", "owner/repo glob"),
        ("repos: {a/b: {archived: 1}}", "archived: expected true or false"),
        ("repos: {a/b: {stars: 1}}", "unknown key 'stars'"),
        ("repos: {a/b: {topics: x}}", "topics: expected a list"),
        ("limits: {core: -1}", "limits.core: expected a non-negative integer"),
        ("limits: {window: soon}", "limits.window"),
        ("limits: {bogus: 1}", "unknown key 'bogus'"),
        ("runner: {capacity: 0}", "runner.capacity"),
        ("runner: {speed: 1}", "unknown key 'speed'"),
        ("admin_token: ''", "admin_token"),
        ("faults: [1]", "faults: expected a mapping"),
    ],
)
def test_bad_world_files_name_the_key(tmp_path: Path, raw: str, fragment: str) -> None:
    (tmp_path / "emulator.yml").write_text(raw + "\n")
    with pytest.raises(WorldError) as err:
        Emulator(tmp_path)
    assert fragment in str(err.value)
    assert str(tmp_path / "emulator.yml") in str(err.value)


def test_unreadable_world_file(tmp_path: Path) -> None:
    (tmp_path / "emulator.yml").write_text("tokens: {a: [\n")
    # One line, file:line:col first, like tako.yml diagnostics.
    with pytest.raises(WorldError, match=r"emulator\.yml:2:1: invalid YAML: expected"):
        Emulator(tmp_path)


def test_token_values_never_appear_in_errors() -> None:
    with pytest.raises(WorldError) as err:
        parse_settings({"tokens": {"s3cret-value": {"repos": 1}}})
    assert "s3cret-value" not in str(err.value)


def test_settings_defaults_and_admin_token() -> None:
    open_world = parse_settings(None)
    assert open_world.tokens is None and open_world.admin_token.startswith("emu-admin-")
    declared = parse_settings({"tokens": {"r": {"repos": ["acme/*"]}}, "secrets": {"N": 1},
                               "runner": {"capacity": 2}})
    assert declared.admin_token in declared.tokens and declared.admin_token != "r"
    assert declared.secrets == {"N": "1"} and declared.runner_capacity == 2
    assert declared.policy("unknown") is None
    explicit = parse_settings({"admin_token": "boss", "tokens": {"r": {}}})
    assert explicit.admin_token == "boss" and explicit.tokens is not None
    assert explicit.tokens["r"].sees("any/thing")


def _raw(emu: Emulator, data: bytes) -> bytes:
    host, port = emu.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_server_survives_malformed_http(emu: Emulator) -> None:
    assert _raw(emu, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.")
    bad_length = _raw(emu, b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
    assert bad_length.startswith(b"HTTP/1.1 400")
    huge = _raw(emu, b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 413")
    chunked = _raw(emu, b"POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        b"Authorization: token t\r\nConnection: close\r\n\r\n"
                        b"2\r\n{}\r\n0\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 200") and b"query attribute" in chunked
    head = _raw(emu, b"HEAD /repos/acme/app HTTP/1.1\r\nHost: x\r\nAuthorization: token t\r\n"
                     b"Connection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    assert call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token).status == 200


def test_handler_bug_answers_500_and_the_server_lives(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(emu.world, "repo", broken)
    reply = call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token)
    assert reply.status == 500 and reply.json()["message"] == "Server Error"
    monkeypatch.undo()
    assert call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token).status == 200


def test_missing_world_dir(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="does not exist"):
        Emulator(tmp_path / "nope")
    with pytest.raises(WorldError, match="does not exist"):
        World(tmp_path / "nope")


def test_packed_objects_and_refs_after_gc_and_clone(
    tmp_path: Path, start_emulator: Callable[..., Emulator]
) -> None:
    source = write_world(tmp_path / "src", {"acme/a": {"tako.yml": "packed\n"}})
    world = tmp_path / "world"
    (world / "acme").mkdir(parents=True)
    git.Repo.clone_from(source / "acme" / "a", world / "acme" / "a")  # packs + packed-refs
    emu = start_emulator(world)
    body = call(emu.base_url, "GET", "/repos/acme/a/contents/tako.yml", emu.admin_token).json()
    assert body["content"].strip() == "cGFja2VkCg=="
    commit_files(world / "acme" / "a", {"tako.yml": "after gc\n"})
    # the new commit moves into a new pack while the server runs
    git.Repo(world / "acme" / "a").git.gc("--quiet")
    served = emu.world.repo("acme/a")
    assert served is not None and served.read_file("tako.yml") == b"after gc\n"


def test_a_bare_repository_named_dot_git_is_served_under_its_name(
    tmp_path: Path, start_emulator: Callable[..., Emulator]
) -> None:
    # A world of bare clones (`git clone --bare x x.git`): listed as acme/lib, but
    # GET /repos/acme/lib used to be 404 (the world keyed it "acme/lib.git").
    source = write_world(tmp_path / "src", {"acme/lib": {"tako.yml": "bare\n"}})
    world = tmp_path / "world"
    (world / "acme").mkdir(parents=True)
    git.Repo.clone_from(source / "acme" / "lib", world / "acme" / "lib.git", bare=True)
    emu = start_emulator(world)
    listed = call(emu.base_url, "GET", "/orgs/acme/repos", emu.admin_token).json()
    assert [r["full_name"] for r in listed] == ["acme/lib"]
    body = call(emu.base_url, "GET", "/repos/acme/lib/contents/tako.yml", emu.admin_token)
    assert body.status == 200 and body.json()["content"].strip() == "YmFyZQo="
    # one added while serving is found on lookup, by its name too
    git.Repo.clone_from(source / "acme" / "lib", world / "acme" / "late.git", bare=True)
    assert call(emu.base_url, "GET", "/repos/acme/late", emu.admin_token).status == 200
    emu.world.refresh()
    assert [r.full_name for r in emu.world.all_repos()] == ["acme/late", "acme/lib"]


def test_repos_added_or_removed_while_serving_show_in_the_next_listing(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    # Used to need POST /_emulator/reload: discovery (org listing, GraphQL) did not
    # see a repository created in the world after the server started.
    world = make_world({"acme/a": {"tako.yml": "a\n"}})
    emu = start_emulator(world)
    token = emu.admin_token

    def listed() -> list[str]:
        rest = [r["full_name"] for r in
                call(emu.base_url, "GET", "/orgs/acme/repos", token).json()]
        query = '{ organization(login: "acme") { repositories(first: 10) { nodes { name } } } }'
        nodes = call(emu.base_url, "POST", "/graphql", token, {"query": query}).json()[
            "data"]["organization"]["repositories"]["nodes"]
        assert [f"acme/{n['name']}" for n in nodes] == rest
        return rest

    assert listed() == ["acme/a"]
    write_world(world, {"acme/b": {"tako.yml": "b\n"}})
    assert listed() == ["acme/a", "acme/b"]
    (world / "acme" / "half-written").mkdir()  # not a git repository (yet): left alone
    assert listed() == ["acme/a", "acme/b"]
    import shutil
    shutil.rmtree(world / "acme" / "a")
    assert listed() == ["acme/b"]
    write_world(world, {"newco/x": {"f": "1"}})
    assert [r["full_name"] for r in
            call(emu.base_url, "GET", "/orgs/newco/repos", token).json()] == ["newco/x"]
