"""Discovery's odd answers: unusable files, user accounts, broken GraphQL, REST shapes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fakehub import FakeHub

from tako_gha.forge import discovery as discovery_mod
from tako_gha.forge.base import AuthError, ForgeError, NotFoundError, RepoSelection

SEL = RepoSelection(org="acme")


def node(name: str, config: dict | None) -> dict:
    return {"nameWithOwner": f"acme/{name}", "defaultBranchRef": {"name": "trunk"},
            "config": config}


def listing(*nodes: dict, field: str = "organization", more: bool = False) -> tuple:
    return (200, {}, {"data": {field: {"repositories": {
        "pageInfo": {"hasNextPage": more, "endCursor": "c1" if more else None},
        "nodes": list(nodes)}}}})


def test_unusable_files_are_diagnostics_on_their_repo(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/graphql", listing(
        node("dir", {}),  # a tree named tako.yml: no Blob fields
        node("bin", {"oid": "b1", "text": None, "isBinary": True}),
        node("ok", {"oid": "o1", "text": "version: 1\n", "isBinary": False})))
    got = {r.full_name: r for r in make_forge().discover(SEL).repos}
    assert "not a file" in got["acme/dir"].config.diagnostics[0].message
    assert "binary" in got["acme/bin"].config.diagnostics[0].message
    assert got["acme/ok"].config.ok and got["acme/ok"].default_branch == "trunk"


def test_a_crashing_loader_is_a_diagnostic(hub: FakeHub, make_forge,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(text: str, **kw: object) -> None:
        raise RuntimeError("loader bug")

    monkeypatch.setattr(discovery_mod, "load_config", boom)
    hub.add("POST", "/graphql", listing(node("a", {"oid": "o", "text": "x: 1\n"})))
    (repo,) = make_forge().discover(SEL).repos
    assert repo.config.diagnostics[0].code == "unreadable"
    assert "loader bug" in repo.config.diagnostics[0].message


def test_user_accounts_are_discovered_too(hub: FakeHub, make_forge) -> None:
    def answer(entry: dict):
        if "organization(" in entry["body"]["query"]:
            return (200, {}, {"data": {"organization": None}, "errors": [
                {"type": "NOT_FOUND", "path": ["organization"], "message": "no org"}]})
        return listing(node("dotfiles", None), field="user")

    hub.handle("POST", "/graphql", answer)
    got = make_forge().discover(SEL)
    assert [r.full_name for r in got.repos] == ["acme/dotfiles"]


def test_graphql_401_is_an_auth_error(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/graphql", (401, {}, {"message": "Bad credentials"}))
    with pytest.raises(AuthError, match="401"):
        make_forge().discover(SEL)


def test_failure_part_way_through_the_listing_is_reported(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/graphql", listing(node("a", None), more=True),
            (502, {}, {"message": "bad gateway"}))
    with pytest.raises(ForgeError, match="part-way"):
        make_forge().discover(SEL)


@pytest.mark.parametrize("answer", [
    (200, {}, ["not", "an", "object"]),
    (200, {}, {"errors": [{"message": "GraphQL is disabled"}]}),
    (200, {}, {"data": {"organization": {"repositories": {"nodes": [{"oops": 1}]}}}}),
    (200, {}, {"data": {"organization": {"repositories": {
        "pageInfo": {"hasNextPage": True}, "nodes": []}}}}),
])
def test_unusable_graphql_answers_fall_back_to_rest(hub: FakeHub, make_forge,
                                                    answer: tuple) -> None:
    hub.add("POST", "/graphql", answer)
    hub.add("GET", "/orgs/acme/repos", (200, {}, [{"full_name": "acme/a"}]))
    forge = make_forge()
    assert [r.full_name for r in forge.discover(SEL).repos] == ["acme/a"]
    assert forge.used_rest


def file_json(data: bytes) -> dict:
    return {"type": "file", "encoding": "base64", "sha": "s",
            "content": base64.b64encode(data).decode()}


def test_rest_shapes(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/orgs/acme/repos", (404, {}, {"message": "Not Found"}))
    hub.add("GET", "/users/acme/repos", (200, {}, [
        {"full_name": f"acme/{n}"} for n in ("dir", "link", "huge", "bin", "secret", "ok")]))
    hub.add("GET", "/repos/acme/dir/contents/tako.yml", (200, {}, [{"name": "x"}]))
    hub.add("GET", "/repos/acme/link/contents/tako.yml", (200, {}, {"type": "symlink"}))
    hub.add("GET", "/repos/acme/huge/contents/tako.yml",
            (200, {}, {"type": "file", "encoding": "none", "content": "", "sha": "h"}))
    hub.add("GET", "/repos/acme/bin/contents/tako.yml", (200, {}, file_json(b"\xff\xfe\x00")))
    hub.add("GET", "/repos/acme/secret/contents/tako.yml",
            (403, {}, {"message": "Resource protected by organization SAML enforcement"}))
    hub.add("GET", "/repos/acme/ok/contents/tako.yml", (200, {}, file_json(b"version: 1\n")))
    got = {r.full_name: r.config for r in make_forge(prefer_rest=True).discover(SEL).repos}
    reasons = {name: c.diagnostics[0].message for name, c in got.items() if c.diagnostics}
    assert "directory" in reasons["acme/dir"] and "symlink" in reasons["acme/link"]
    assert "too large" in reasons["acme/huge"] and "binary" in reasons["acme/bin"]
    assert "SAML" in reasons["acme/secret"]
    assert got["acme/ok"].ok and not got["acme/ok"].diagnostics


def test_rest_unknown_owner_and_bad_listing(hub: FakeHub, make_forge) -> None:
    forge = make_forge(prefer_rest=True)
    with pytest.raises(NotFoundError, match="acme was not found"):
        forge.discover(SEL)
    hub.add("GET", "/orgs/acme/repos", (200, {}, {"message": "not a list"}))
    with pytest.raises(ForgeError, match="unexpected answer"):
        forge.discover(SEL)
    hub.add("GET", "/orgs/acme/repos", (403, {}, {"message": "SSO"}))
    with pytest.raises(AuthError, match="SSO"):
        forge.discover(SEL)
    hub.add("GET", "/orgs/acme/repos", (500, {}, {"message": "boom"}))
    with pytest.raises(ForgeError, match="HTTP 500"):
        make_forge(prefer_rest=True, policy=discovery_policy()).discover(SEL)


def discovery_policy():
    from tako_gha.forge.transport import RetryPolicy
    return RetryPolicy(max_retries=0)


def test_rest_explicit_repos(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/repos/acme/a", (200, {}, {"full_name": "acme/a", "topics": ["t"]}))
    hub.add("GET", "/repos/acme/a/contents/tako.yml", (404, {"etag": '"none"'},
                                                       {"message": "Not Found"}))
    got = make_forge(prefer_rest=True).discover(
        RepoSelection(org="acme", repos=["acme/a", "acme/b"]))
    assert [(r.full_name, r.topics, r.config.missing) for r in got.repos] == [
        ("acme/a", ["t"], True)]
    assert got.skipped == [("acme/b", "not found, or not visible to this token")]


def test_warm_blob_fetch_falls_back_to_rest(hub: FakeHub, make_forge, tmp_path: Path) -> None:
    from tako_gha.forge.cache import BlobCache
    cache = BlobCache(tmp_path)
    cache.mark_org(f"127.0.0.1:{hub.base_url.rsplit(':', 1)[1]}/acme")
    cache.save()
    calls = {"n": 0}

    def answer(entry: dict):
        calls["n"] += 1
        if calls["n"] == 1:  # the warm listing: oids only
            assert "text" not in entry["body"]["query"]
            return listing(node("a", {"oid": "new"}))
        return (502, {}, {"message": "bad gateway"})  # the blob batch keeps failing

    hub.handle("POST", "/graphql", answer)
    hub.add("GET", "/repos/acme/a/contents/tako.yml", (200, {}, file_json(b"version: 1\n")))
    forge = make_forge(cache_dir=tmp_path, policy=discovery_policy())
    (repo,) = forge.discover(SEL).repos
    assert repo.config.ok and repo.config.config is not None
    assert hub.calls("GET", "/repos/acme/a/contents/tako.yml")


WRONG_SHAPES = [
    (200, {}, "null"),
    (200, {}, [1, 2]),
    (200, {}, '"a string"'),
    (200, {"Content-Type": "text/html"}, "<html>sign in</html>"),
    (200, {}, '{"full_name": '),  # cut off
    (200, {}, {}),  # no full_name
    (200, {}, {"full_name": 7}),
]


@pytest.mark.parametrize("answer", WRONG_SHAPES)
def test_a_repo_list_read_through_rest_with_a_wrong_answer_is_a_forge_error(
        hub: FakeHub, make_forge, answer: tuple) -> None:
    """``--repos`` on the REST path: GET /repos/o/r answering something that is not a
    repository used to raise AttributeError/KeyError out of discovery."""
    hub.add("GET", "/repos/acme/svc", answer)
    with pytest.raises(ForgeError, match="unexpected answer from GitHub for acme/svc"):
        make_forge(prefer_rest=True).discover(RepoSelection(org="acme", repos=["acme/svc"]))


@pytest.mark.parametrize("data", [
    {"organization": []},  # an owner that is not an object
    {"organization": {"repositories": ["x"]}},
    {"organization": {"repositories": {"nodes": [], "pageInfo": "p"}}},
    {"organization": {"repositories": {"nodes": ["x", 5]}}},
])
def test_a_graphql_listing_of_the_wrong_shape_falls_back_to_rest(
        hub: FakeHub, make_forge, data: dict) -> None:
    hub.add("POST", "/graphql", (200, {}, {"data": data, "errors": 3}))
    hub.add("GET", "/orgs/acme/repos", (200, {}, [
        {"full_name": "acme/svc", "topics": 5}, {"full_name": 9}, "junk"]))
    hub.add("GET", "/repos/acme/svc/contents/tako.yml", (404, {}, {"message": "Not Found"}))
    forge = make_forge()
    got = forge.discover(SEL)
    assert forge.used_rest and [r.full_name for r in got.repos] == ["acme/svc"]


@pytest.mark.parametrize("node_value", ["x", 5, ["a"], {"config": {}}])
def test_repo_list_graphql_nodes_of_the_wrong_shape_fall_back_to_rest(
        hub: FakeHub, make_forge, node_value: object) -> None:
    hub.add("POST", "/graphql", (200, {}, {"data": {"r0": node_value}}))
    hub.add("GET", "/repos/acme/svc", (200, {}, {"full_name": "acme/svc"}))
    hub.add("GET", "/repos/acme/svc/contents/tako.yml", (404, {}, {"message": "Not Found"}))
    forge = make_forge()
    got = forge.discover(RepoSelection(org="acme", repos=["acme/svc"]))
    assert forge.used_rest and [r.full_name for r in got.repos] == ["acme/svc"]
