"""The emulator's input rules (tako_gha/emulator/confine.py) and where they hold:
names and refs as GitHub and git check them, contents paths, the JSON reader's
bounds, and the world and git store refusing anything that leads outside."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tako_gha.emulator import composite, confine, gitstore, graphql
from tako_gha.emulator.gqlparse import GraphQLError, Parser, check_limits
from tako_gha.emulator.settings import WorldError
from tako_gha.emulator.testing import call
from tako_gha.emulator.world import World
from tako_gha.emulator.worldgen import write_world


@pytest.mark.parametrize(("name", "ok"), [
    ("app", True), ("core-lib", True), ("a.b_c-D9", True), (".github", True), ("a" * 100, True),
    ("..", False), (".", False), ("", False), ("a" * 101, False), ("a/b", False),
    ("a b", False), ("a\x00", False), ("a\n", False), ("é", False), ("~", False),
    ("a%2e", False), (None, False), (5, False),
])
def test_names_as_github_spells_them(name: object, ok: bool) -> None:
    assert confine.valid_name(name) is ok


REFS = [
    "main", "feature/x", "v1.0", "refs/heads/main", "a-b_c", "ünïcode", "%2e%2e", "a@b",
    "..", ".", "../x", "a/../b", "a..b", "/a", "a/", "a//b", ".a", "a/.b", "a.lock",
    "a.lock/b", "a.", "@", "a@{1}", "a~1", "a^", "a:b", "a?b", "a*b", "a[b", "a\\b",
    "a b", "a\tb", "a\x7f", "a\x00", "-a", "a/-b", "HEAD", "@{-1}",
]


@pytest.mark.parametrize("ref", REFS)
def test_refs_follow_git_check_ref_format(ref: str) -> None:
    """What git itself refuses is refused; beyond git, a leading "-" (git's --branch
    rule) is refused too."""
    if "\x00" in ref:
        assert not confine.valid_ref(ref)
        return
    git_ok = subprocess.run(["git", "check-ref-format", "--allow-onelevel", ref],
                            capture_output=True, check=False).returncode == 0
    assert confine.valid_ref(ref) is (git_ok and not ref.startswith("-"))


def test_ref_lengths_are_bounded_by_what_a_file_system_names() -> None:
    assert confine.valid_ref("a" * 255) and not confine.valid_ref("a" * 256)
    assert confine.valid_ref("/".join(["a" * 200] * 5)) and not confine.valid_ref("a/" * 600)
    assert not confine.valid_ref(None) and not confine.valid_ref("")


@pytest.mark.parametrize(("path", "ok"), [
    ("", True), ("tako.yml", True), ("docs/guide.md", True), ("docs/", True), ("..a", True),
    ("a..", True), (".github/workflows/x.yml", True), ("%2e%2e", True),
    ("..", False), ("../x", False), ("a/../b", False), ("./a", False), ("a/.", False),
    ("/etc/passwd", False), ("a//b", False), ("a\x00", False), ("x" * 4097, False),
    ("a//", False), (None, False),
])
def test_contents_paths_stay_relative(path: object, ok: bool) -> None:
    assert confine.valid_repo_path(path) is ok


def test_inside_follows_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "world"
    (root / "acme" / "app").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(root / "acme" / "app", root / "acme" / "alias")
    os.symlink(tmp_path / "elsewhere", root / "acme" / "out")
    resolved = root.resolve()
    assert confine.inside(resolved, root / "acme" / "app")
    assert confine.inside(resolved, root / "acme" / "alias")
    assert confine.inside(resolved, root)
    assert not confine.inside(resolved, root / "acme" / "out")
    assert not confine.inside(resolved, root / "..")
    assert not confine.inside(resolved, tmp_path / "world-sibling")


@pytest.mark.parametrize(("raw", "why"), [
    (b"NaN", "NaN"), (b"[Infinity]", "Infinity"), (b"[-Infinity]", "-Infinity"),
    (b"[1e400]", "out of range"), (b"[" + b"1" * 101 + b"]", "101 characters"),
    (b"[" * 101 + b"]" * 101, "nested 101 deep"), (b'["\\ud800"]', "lone surrogate"),
    (b"\xff", "not UTF-8"), (b"{", "Expecting"), (b"x" * 20, "Expecting"),
])
def test_the_json_reader_refuses_and_says_why(raw: bytes, why: str) -> None:
    with pytest.raises(confine.BadJSON, match=why):
        confine.parse_json(raw)


def test_the_json_reader_takes_what_github_takes() -> None:
    deep = "[" * 100 + "]" * 100
    assert confine.parse_json(deep.encode()) is not None
    value = {"n": int("9" * 100), "f": 1.5e300, "s": "\U0001f600", "e": "[[[{"}
    assert confine.parse_json(json.dumps(value).encode()) == value
    with pytest.raises(confine.BadJSON, match="9 bytes"):
        confine.parse_json(b"[1, 2, 3]", max_bytes=8)


# -- the git store ----------------------------------------------------------------------
@pytest.fixture
def git_dir(tmp_path: Path) -> Path:
    world = write_world(tmp_path / "world", {"acme/app": {"f": "x"}})
    return world / "acme" / "app" / ".git"


def test_branch_names_never_leave_the_git_directory(git_dir: Path) -> None:
    head = gitstore.resolve_branch(git_dir, "main")
    assert head is not None and confine.valid_sha(head)
    (git_dir.parent.parent / "secret").write_text("f" * 40 + "\n")  # a sha-shaped file
    for hostile in ("../../../secret", "../../HEAD", "..", "a" * 300, "main\x00"):
        assert gitstore.resolve_branch(git_dir, hostile) is None


def test_ref_files_must_hold_an_object_id(git_dir: Path) -> None:
    head = gitstore.resolve_branch(git_dir, "main")
    heads = git_dir / "refs" / "heads"
    (heads / "alias").write_text("ref: refs/heads/main\n")  # a symbolic ref: followed
    (heads / "garbage").write_text("not a sha\n")
    (heads / "binary").write_bytes(b"\xff\xfe\x00")
    (heads / "escape").write_text("ref: refs/heads/../../../HEAD\n")
    (heads / "outside").write_text("ref: HEAD\n")
    (heads / "loop").write_text("ref: refs/heads/loop\n")
    assert gitstore.resolve_branch(git_dir, "alias") == head
    for name in ("garbage", "binary", "escape", "outside", "loop"):
        assert gitstore.resolve_branch(git_dir, name) is None, name


def test_object_ids_are_checked_before_they_become_file_names(git_dir: Path) -> None:
    dirs = gitstore.object_dirs(git_dir)
    for sha in ("../../../HEAD", "zz" * 20, "ab", "A" * 40):
        with pytest.raises(gitstore.ObjectMissing):
            gitstore.STORE.read(dirs, sha)


# -- the world --------------------------------------------------------------------------
def _entries(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_lookups_by_hostile_names_touch_nothing(tmp_path: Path) -> None:
    """The bug this guards against: repo("acme/..") made the world root a git repository
    (and served emulator.yml); repos_of("..") scanned the world's parent."""
    world = write_world(tmp_path / "world", {"acme/app": {"f": "x"}}, {"secrets": {"S": "v"}})
    (tmp_path / "plain").mkdir()
    served = World(world)
    before = _entries(tmp_path)
    for name in ("acme/..", "../acme", "./..", "acme/.", "acme/.git", "../plain",
                 "acme/app/../..", "acme/%2e%2e", "acme/app\x00"):
        assert served.repo(name) is None, name
    for owner in ("..", ".", "../..", "", "a/b"):
        assert served.repos_of(owner) == [] and not served.owner_exists(owner)
    assert _entries(tmp_path) == before
    assert not (world / ".git").exists() and not (tmp_path / ".git").exists()


def test_symlinks_out_of_the_world_are_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = write_world(tmp_path / "world", {"acme/app": {"f": "x"}})
    outside = tmp_path / "outside"
    (outside / "repo").mkdir(parents=True)
    (outside / "repo" / "f").write_text("outside\n")
    os.symlink(outside / "repo", world / "acme" / "out")  # a plain dir: would be git-inited
    os.symlink(outside, world / "elsewhere")
    os.symlink(world / "acme" / "app", world / "acme" / "alias")  # inside: served
    served = World(world)
    assert sorted(r.full_name for r in served.all_repos()) == ["acme/alias", "acme/app"]
    assert served.repo("acme/out") is None and served.repos_of("elsewhere") == []
    assert not (outside / "repo" / ".git").exists()
    assert "leads out of the world" in caplog.text


def test_a_plain_directory_created_while_serving_is_still_loaded(tmp_path: Path) -> None:
    world = write_world(tmp_path / "world", {"acme/app": {"f": "x"}})
    served = World(world)
    (world / "acme" / "late").mkdir()
    (world / "acme" / "late" / "f").write_text("late\n")
    repo = served.repo("acme/late")
    assert repo is not None and repo.read_file("f") == b"late\n"


def test_world_refs_are_checked(tmp_path: Path) -> None:
    world = write_world(tmp_path / "world", {"acme/app": {"f": "x"}})
    repo = World(world).repo("acme/app")
    assert repo is not None
    head = repo.resolve_ref("main")
    assert head and repo.resolve_ref("refs/heads/main") == head
    assert repo.resolve_ref(head) == head
    for hostile in ("../../HEAD", "main.lock", "@", "-main", "a" * 300, "0" * 40):
        assert repo.resolve_ref(hostile) is None, hostile


# -- GraphQL limits ---------------------------------------------------------------------
def _limits(query: str, variables: dict | None = None) -> list[dict]:
    doc = Parser(query).document()
    return check_limits(doc, doc.operations[0], variables or {})


def test_graphql_limits_measure_fragments_once() -> None:
    """A chain of fragments each spreading the next twice is 2^n fields: measured
    per fragment (linear), refused by count, never expanded."""
    parts = ["query { viewer { ...F0 } }"]
    parts += [f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(60)]
    parts.append("fragment F60 on User { login }")
    errors = _limits("\n".join(parts))
    assert f"complexity of {2**60 + 1}," in errors[0]["message"]


@pytest.mark.parametrize(("query", "variables", "fragment"), [
    ("{ viewer { ...A } } fragment A on User { ...B } fragment B on User { ...A }", None,
     "Fragment A contains an infinite loop"),
    ("query($n: Int) { a: organization(login: \"x\") { repositories(first: $n) { nodes { "
     "repositoryTopics(first: $n) { nodes { name } } } } } b: organization(login: \"x\") { "
     "repositories(first: $n) { nodes { repositoryTopics(first: $n) { nodes { name } } } } } "
     "}", {"n": 100}, None),
    ("{ " + " ".join(f"a{i}: organization(login: \"x\") {{ repositories(first: 100) {{ nodes "
                     "{ repositoryTopics(first: 100) { totalCount } } } }"
                     for i in range(50)) + " }", None, "505,000 possible nodes"),
])
def test_graphql_limits(query: str, variables: dict | None, fragment: str | None) -> None:
    errors = _limits(query, variables)
    if fragment is None:
        assert errors == []
    else:
        assert fragment in errors[0]["message"]


@pytest.mark.parametrize(("query", "why"), [
    ("{ a(n: " + "9" * 101 + ") { b } }", "more than 100 characters"),
    ("{ a(n: 1e400) { b } }", "out of range"),
    ("{ a " * 70, "nested more than 64"),
    ("x " * 50_001, "more than 50000 tokens"),
    (" " * (256 * 1024 + 1), "too large"),
])
def test_graphql_parser_bounds(query: str, why: str) -> None:
    with pytest.raises(GraphQLError, match=why):
        Parser(query).document()



def test_blob_text_in_one_graphql_answer_is_bounded(
    make_world: Callable[..., Path], start_emulator: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Aliases can name one large file thousands of times: past the budget a Blob.text
    is null with an error, and the answer stays bounded."""
    monkeypatch.setattr(graphql, "MAX_ANSWER_TEXT", 1000)
    emu = start_emulator(make_world({"acme/app": {"big.txt": "x" * 600}}))
    query = "{ " + " ".join(
        f'a{i}: repository(owner: "acme", name: "app") {{ object(expression: '
        f'"HEAD:big.txt") {{ ... on Blob {{ text byteSize }} }} }}' for i in range(3)) + " }"
    reply = call(emu.base_url, "POST", "/graphql", emu.admin_token, {"query": query})
    body = reply.json()
    assert reply.status == 200
    assert body["data"]["a0"]["object"] == {"text": "x" * 600, "byteSize": 600}
    assert body["data"]["a1"]["object"]["text"] is None
    assert [e["path"] for e in body["errors"]] == [["a1", "object", "text"],
                                                   ["a2", "object", "text"]]
    assert body["errors"][0]["type"] == "RESPONSE_TOO_LARGE"


def test_a_directory_that_cannot_become_a_repository_is_not_found(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A lookup answers 404 (None), not 500, when a plain directory cannot be made a
    git repository; and nothing is ever made one outside the world."""
    world = write_world(tmp_path / "world", {"acme/app": {"f": "x"}})
    served = World(world)
    broken = world / "acme" / "broken"
    broken.mkdir()
    (broken / ".git").write_text("not a git directory\n")
    assert served.repo("acme/broken") is None
    assert "cannot make it a git repository" in caplog.text
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(WorldError, match="outside the world"):
        served._load("acme", outside)
    assert not (outside / ".git").exists()


def test_an_id_with_line_breaks_cannot_split_the_response(emu: Any) -> None:
    """int() takes " 1\\r\\n"; the decoded path came back in the Link header, so a run id
    ending in %0d%0a%0d%0a ended the headers early. Ids are ASCII digits now: 404."""
    reply = call(emu.base_url, "POST", "/repos/acme/app/dispatches", emu.admin_token,
                 {"event_type": "library_built"})
    assert reply.status == 204
    deadline = time.monotonic() + 30
    while not emu.runs.all_runs() and time.monotonic() < deadline:
        time.sleep(0.05)
    run_id = emu.runs.all_runs()[0].id
    good = call(emu.base_url, "GET", f"/repos/acme/app/actions/runs/{run_id}/jobs?page=2",
                emu.admin_token)
    assert good.status == 200 and "\n" not in good.headers["link"]
    for suffix in ("%0d%0a%0d%0a", "%0a", "%20", "%09", "_0"):
        for path in (f"/repos/acme/app/actions/runs/{run_id}{suffix}/jobs?page=2",
                     f"/repos/acme/app/actions/runs/{run_id}{suffix}",
                     f"/repos/acme/app/actions/workflows/build.yml{suffix}/runs?page=2"):
            split = call(emu.base_url, "GET", path, emu.admin_token)
            assert split.status == 404, path
            assert all("\n" not in value for value in split.headers.values())
    assert confine.valid_id("12") and not confine.valid_id("1\n") and not confine.valid_id("²")


def test_the_request_log_keeps_paths_short(emu: Any) -> None:
    """The log keeps 100,000 entries; a path of the request line's 64 KB each would
    hold gigabytes, so a logged path is cut at 2,048 characters."""
    long_path = "/repos/acme/" + "a" * 60_000
    assert call(emu.base_url, "GET", long_path, emu.admin_token).status == 404
    logged = [e["path"] for e in emu.requests() if e["path"].startswith("/repos/acme/aaa")]
    assert logged and all(len(p) <= 2049 for p in logged) and logged[0].endswith("…")


def test_action_refs_are_checked_before_git_sees_them(tmp_path: Path) -> None:
    """A ref from a workflow (or a payload, through checkout's ``ref``) reaches ``git
    rev-parse``: only names GitHub resolves (branch, tag, sha) get there, never
    revision syntax (``main^0``, ``HEAD@{0}``) or an option ("-h")."""
    world = write_world(tmp_path / "world", {"acme/lib": {"action.yml": "x: 1\n"}})
    view = World(world).repo("acme/lib")
    assert view is not None
    assert composite.materialise(view, "main", tmp_path / "ok") == view.head_sha()
    for hostile in ("main^0", "HEAD@{0}", "--output=/tmp/x", "-h", "../HEAD", "main~1",
                    "@{-1}", "a b", ":/x"):
        assert composite.materialise(view, hostile, tmp_path / "no") is None, hostile


def test_raw_files_of_a_private_repository_need_a_token_that_sees_it(
    make_world: Callable[..., Path], start_emulator: Callable[..., Any],
) -> None:
    """Every user of the machine reaches the emulator: the download_url of a private
    repository's file answers 404 without a token that sees the repository."""
    world = make_world({"acme/secret": {"s.txt": "private\n"}, "acme/open": {"o.txt": "open\n"}},
                       settings={"tokens": {"t-admin": {"repos": ["*"]},
                                            "t-other": {"repos": ["acme/open"]}},
                                 "repos": {"acme/secret": {"private": True}}})
    emu = start_emulator(world)
    raw = "/_emulator/raw/acme/secret/main/s.txt"
    assert call(emu.base_url, "GET", raw).status == 404
    assert call(emu.base_url, "GET", raw, token="t-other").status == 404
    assert call(emu.base_url, "GET", raw, token="unknown").status == 404
    assert call(emu.base_url, "GET", raw, token="t-admin").body == b"private\n"
    assert call(emu.base_url, "GET", "/_emulator/raw/acme/open/main/o.txt").body == b"open\n"
    listed = call(emu.base_url, "GET", "/repos/acme/secret/contents/s.txt", token="t-admin")
    assert listed.json()["download_url"].endswith(raw)
