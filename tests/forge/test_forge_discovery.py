"""Discovery on a scripted GitHub (GraphQL + REST), unit level. The emulator tests
(test_forge_emulator.py) cover the same paths against the real server."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakehub import FakeHub

from tako_gha.forge.base import ForgeError, NotFoundError, RepoMeta, RepoSelection, skip_reason
from tako_gha.forge.cache import CACHE_FILE, BlobCache
from tako_gha.forge.discovery import next_link

GOOD = "version: 1\nevents:\n  subscriptions:\n    - artifact: acme/core\n      events: [built]\n"
BAD = "version: 1\nevents: [\n"


def git_oid(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeRepo:
    full: str
    text: str | None = None
    archived: bool = False
    fork: bool = False
    disabled: bool = False
    topics: list[str] = field(default_factory=list)
    push: bool = True


class FakeOrg:
    """Serves the GraphQL discovery queries and the REST listing for FakeRepos."""

    def __init__(self, hub: FakeHub, repos: list[FakeRepo], org: str = "acme") -> None:
        self.repos = {r.full: r for r in repos}
        self.org = org
        self.graphql_errors: list[dict] = []  # added to every GraphQL answer
        self.fail_blobs: set[str] = set()  # listing answers null + an error for these
        self.max_page = 100  # bigger pages time out (502)
        hub.handle("POST", "/graphql", self.graphql)
        hub.handle("GET", f"/orgs/{org}/repos", self.rest_list)
        for r in repos:
            hub.handle("GET", f"/repos/{r.full}/contents/tako.yml",
                       lambda e, r=r: self.contents(e, r))

    def node(self, r: FakeRepo, with_text: bool) -> dict:
        blob = None
        if r.text is not None:
            blob = {"oid": git_oid(r.text)}
            if with_text:
                blob.update(text=r.text, isBinary=False)
        return {"nameWithOwner": r.full, "isArchived": r.archived, "isDisabled": r.disabled,
                "isFork": r.fork, "viewerPermission": "WRITE" if r.push else "READ",
                "defaultBranchRef": {"name": "main"},
                "repositoryTopics": {"nodes": [{"topic": {"name": t}} for t in r.topics]},
                "config": blob}

    def graphql(self, entry: dict):
        query, variables = entry["body"]["query"], entry["body"].get("variables") or {}
        with_text = "oid text" in query
        data: dict = {"rateLimit": {"cost": 1, "remaining": 4999, "limit": 5000}}
        errors = list(self.graphql_errors)
        if "(login: $login)" in query:
            field_name = "organization" if "organization(" in query else "user"
            if variables["login"] != self.org or field_name == "user":
                data[field_name] = None
                errors.append({"type": "NOT_FOUND", "path": [field_name],
                               "message": "Could not resolve"})
            else:
                names = sorted(self.repos)
                start = int(variables.get("cursor") or 0)
                size = int(re.search(r"repositories\(first: (\d+)", query).group(1))
                if size > self.max_page:  # too heavy: GitHub's 10 s timeout
                    return (502, {}, {"message": "Server Error"})
                page = names[start:start + size]
                more = start + size < len(names)
                nodes = [self.node(self.repos[n], with_text) for n in page]
                for i, n in enumerate(page):
                    if n in self.fail_blobs:
                        nodes[i]["config"] = None
                        errors.append({"message": "Something went wrong", "path": [
                            field_name, "repositories", "nodes", i, "config"]})
                data[field_name] = {"repositories": {
                    "pageInfo": {"hasNextPage": more, "endCursor": str(start + size)},
                    "nodes": nodes}}
        else:
            for alias, owner, name in re.findall(
                    r'(r\d+): repository\(owner: "([^"]+)", name: "([^"]+)"\)', query):
                r = self.repos.get(f"{owner}/{name}")
                data[alias] = self.node(r, True) if r else None
                if r is None:
                    errors.append({"type": "NOT_FOUND", "path": [alias], "message": "nope"})
        body = {"data": data}
        if errors:
            body["errors"] = errors
        return (200, {"x-ratelimit-resource": "graphql"}, body)

    def rest_list(self, entry: dict):
        names = sorted(self.repos)
        page = int(entry["query"].get("page", 1))
        chunk = names[(page - 1) * 100:page * 100]
        headers = {}
        if page * 100 < len(names):
            headers["Link"] = (f'<{hub_url(entry)}/orgs/{self.org}/repos?per_page=100&page='
                               f'{page + 1}>; rel="next"')
        items = [{"full_name": n, "default_branch": "main", "archived": self.repos[n].archived,
                  "disabled": self.repos[n].disabled, "fork": self.repos[n].fork,
                  "topics": self.repos[n].topics,
                  "permissions": {"push": self.repos[n].push, "pull": True}} for n in chunk]
        return (200, headers, items)

    def contents(self, entry: dict, r: FakeRepo):
        if r.text is None:
            return (404, {}, {"message": "Not Found"})
        etag = f'"{git_oid(r.text)}"'
        if entry["headers"].get("if-none-match") == etag:
            return (304, {"etag": etag}, None)
        return (200, {"etag": etag}, {
            "type": "file", "encoding": "base64", "sha": git_oid(r.text),
            "content": base64.b64encode(r.text.encode()).decode()})


def hub_url(entry: dict) -> str:
    return "http://" + entry["headers"]["host"]


def world(n: int) -> list[FakeRepo]:
    repos = [FakeRepo(f"acme/svc-{i:04d}", GOOD if i % 3 == 0 else None) for i in range(n)]
    repos[1].archived = True
    repos[2].fork = True
    repos[4].disabled = True
    repos[6].text = BAD
    repos[9].topics = ["tako"]
    return repos


def gql_calls(hub: FakeHub) -> list[dict]:
    return hub.calls("POST", "/graphql")


def test_cold_graphql_discovery_is_one_query_per_100_repos(hub: FakeHub, make_forge) -> None:
    FakeOrg(hub, world(250))
    forge = make_forge()
    result = forge.discover(RepoSelection(org="acme"))
    assert len(gql_calls(hub)) == 3 and len(hub.log) == 3
    assert forge.ledger.calls["discovery"] == 3
    assert dict(result.skipped) == {"acme/svc-0001": "archived", "acme/svc-0002": "fork",
                                    "acme/svc-0004": "disabled"}
    assert len(result.repos) == 247
    by_name = {r.full_name: r for r in result.repos}
    sub = by_name["acme/svc-0003"].config
    assert sub.ok and sub.config.subscriptions[0].producer == "acme/core"
    assert by_name["acme/svc-0005"].config.missing
    bad = by_name["acme/svc-0006"].config
    assert not bad.ok and bad.diagnostics[0].file == "tako.yml"
    assert by_name["acme/svc-0003"].config_oid == git_oid(GOOD)
    assert [r.full_name for r in result.repos] == sorted(by_name)
    assert "oid text" in gql_calls(hub)[0]["body"]["query"]


def test_filters_and_include_flags(hub: FakeHub, make_forge) -> None:
    FakeOrg(hub, world(12))
    forge = make_forge()
    got = forge.discover(RepoSelection(org="acme", topics=["tako"]))
    assert [r.full_name for r in got.repos] == ["acme/svc-0009"]
    assert ("acme/svc-0000", "missing topic tako") in got.skipped
    got = forge.discover(RepoSelection(org="acme", name_globs=["svc-000[0-3]"],
                                       include_archived=True, include_forks=True))
    assert [r.full_name for r in got.repos] == [f"acme/svc-000{i}" for i in range(4)]
    assert dict(got.skipped)["acme/svc-0004"] == "disabled"


def test_warm_rediscovery_fetches_no_blob(hub: FakeHub, make_forge, tmp_path: Path) -> None:
    org = FakeOrg(hub, world(250))
    cold = make_forge(cache_dir=tmp_path).discover(RepoSelection(org="acme"))
    assert (tmp_path / CACHE_FILE).is_file()
    hub.log.clear()
    forge = make_forge(cache_dir=tmp_path)
    warm = forge.discover(RepoSelection(org="acme"))
    queries = [c["body"]["query"] for c in gql_calls(hub)]
    assert len(queries) == 3 and all("text" not in q for q in queries)
    assert [(r.full_name, r.config_oid, r.config.ok, r.config.missing) for r in warm.repos] == [
        (r.full_name, r.config_oid, r.config.ok, r.config.missing) for r in cold.repos]
    # one changed file: the listing plus one batch for the changed blob
    org.repos["acme/svc-0003"].text = GOOD + "# changed\n"
    hub.log.clear()
    again = make_forge(cache_dir=tmp_path).discover(RepoSelection(org="acme"))
    assert len(gql_calls(hub)) == 4
    assert 'r0: repository(owner: "acme", name: "svc-0003")' in gql_calls(hub)[-1]["body"]["query"]
    changed = next(r for r in again.repos if r.full_name == "acme/svc-0003")
    assert changed.config_oid == git_oid(GOOD + "# changed\n") and changed.config.ok


def test_rest_fallback_when_graphql_is_unavailable(hub: FakeHub, make_forge,
                                                   tmp_path: Path) -> None:
    FakeOrg(hub, world(150))
    hub.handle("POST", "/graphql", lambda e: (404, {}, {"message": "Not Found"}))
    forge = make_forge(cache_dir=tmp_path)
    result = forge.discover(RepoSelection(org="acme"))
    assert forge.used_rest
    assert len(hub.calls("GET", "/orgs/acme/repos")) == 2  # followed the Link header
    assert len(result.repos) == 147
    contents = [c for c in hub.log if "/contents/" in c["path"]]
    assert len(contents) == 147  # skipped repos are not read
    assert {r.full_name for r in result.repos if r.config.config} == {
        f"acme/svc-{i:04d}" for i in range(0, 150, 3) if i != 6}
    # warm REST rediscovery: conditional contents requests, answered 304
    hub.log.clear()
    again = make_forge(cache_dir=tmp_path)
    again.discover(RepoSelection(org="acme"))
    assert again.ledger.not_modified["discovery"] == 50  # the files that exist
    assert [r.config_oid for r in again.discover(RepoSelection(org="acme")).repos] == [
        r.config_oid for r in result.repos]


def test_prefer_rest_and_graphql_are_identical(hub: FakeHub, make_forge) -> None:
    FakeOrg(hub, world(120))
    via_gql = make_forge().discover(RepoSelection(org="acme"))
    via_rest = make_forge(prefer_rest=True).discover(RepoSelection(org="acme"))

    def shape(d):
        return ([(r.full_name, r.config_oid, r.config.missing, r.config.ok, r.topics)
                 for r in d.repos], sorted(d.skipped))

    assert shape(via_gql) == shape(via_rest)


def test_partial_graphql_errors_keep_the_data(hub: FakeHub, make_forge) -> None:
    org = FakeOrg(hub, world(20))
    org.graphql_errors = [{"type": "SOMETHING", "message": "one field failed"}]
    result = make_forge().discover(RepoSelection(org="acme"))
    assert len(result.repos) == 17


def test_a_blob_error_in_the_listing_is_asked_again(hub: FakeHub, make_forge) -> None:
    org = FakeOrg(hub, world(20))
    org.fail_blobs = {"acme/svc-0003", "acme/svc-0005"}
    result = make_forge().discover(RepoSelection(org="acme"))
    by_name = {r.full_name: r for r in result.repos}
    assert by_name["acme/svc-0003"].config.ok and by_name["acme/svc-0003"].config.config
    assert by_name["acme/svc-0005"].config.missing  # asked again: truly no file
    assert len(gql_calls(hub)) == 2
    assert 'name: "svc-0003"' in gql_calls(hub)[1]["body"]["query"]


def test_explicit_repo_list_batches_aliases(hub: FakeHub, make_forge) -> None:
    FakeOrg(hub, world(20))
    forge = make_forge()
    result = forge.discover(RepoSelection(org="acme", repos=["acme/svc-0003", "acme/nope",
                                                             "acme/svc-0005"]))
    assert len(gql_calls(hub)) == 1
    assert [r.full_name for r in result.repos] == ["acme/svc-0003", "acme/svc-0005"]
    assert result.skipped == [("acme/nope", "not found, or not visible to this token")]


def test_bad_explicit_repo_name(make_forge) -> None:
    with pytest.raises(ForgeError, match="needs an organization"):
        make_forge().discover(RepoSelection(org=""))
    with pytest.raises(ForgeError, match="not an owner/repo"):
        make_forge().discover(RepoSelection(org="acme", repos=["just-a-name"]))


def test_unknown_org_is_not_found(hub: FakeHub, make_forge) -> None:
    FakeOrg(hub, world(12))
    with pytest.raises(NotFoundError, match="organization nobody was not found"):
        make_forge().discover(RepoSelection(org="nobody"))


def test_graphql_primary_limit_waits_for_reset(hub: FakeHub, make_forge, sleeps) -> None:
    org = FakeOrg(hub, world(12))
    state = {"n": 0}

    def limited(entry: dict):
        state["n"] += 1
        if state["n"] == 1:
            return (200, {"x-ratelimit-remaining": "0",
                          "x-ratelimit-reset": str(int(time.time()) + 4)},
                    {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]})
        return org.graphql(entry)

    hub.handle("POST", "/graphql", limited)
    forge = make_forge()
    assert len(forge.discover(RepoSelection(org="acme")).repos) == 9
    assert len(sleeps) == 1 and 2 <= sleeps[0] <= 6
    assert forge.ledger.retries["discovery"] == 1


def test_corrupt_cache_file_means_a_cold_discovery(tmp_path: Path) -> None:
    (tmp_path / CACHE_FILE).write_text("{not json")
    cache = BlobCache(tmp_path)
    assert len(cache) == 0
    cache.put("abc", "text")
    cache.mark_org("h/acme")
    cache.save()
    data = json.loads((tmp_path / CACHE_FILE).read_text())
    assert data["blobs"]["abc"]["text"] == "text" and "h/acme" in data["orgs"]


def test_link_parsing_and_skip_reasons() -> None:
    assert next_link({"link": '<http://h/x?page=2>; rel="next", <http://h/x?page=9>; '
                              'rel="last"'}) == "http://h/x?page=2"
    assert next_link({"link": '<http://h/x?page=1>; rel="prev"'}) is None
    sel = RepoSelection(org="acme", topics=["a", "B"], name_globs=["svc-*"])
    assert skip_reason(RepoMeta("acme/svc-1", topics=["b", "a"]), sel) is None
    assert skip_reason(RepoMeta("acme/lib", topics=["b", "a"]), sel).startswith("name does")


def test_graphql_secondary_limit_in_a_200_is_waited_out(hub: FakeHub, make_forge,
                                                        sleeps) -> None:
    org = FakeOrg(hub, world(12))
    state = {"n": 0}

    def limited(entry: dict):
        state["n"] += 1
        if state["n"] == 1:
            return (200, {}, {"errors": [{"message": "You have exceeded a secondary rate "
                                                     "limit. Please wait a few minutes."}]})
        return org.graphql(entry)

    hub.handle("POST", "/graphql", limited)
    forge = make_forge()
    assert len(forge.discover(RepoSelection(org="acme")).repos) == 9
    assert sleeps == [60.0] and not forge.used_rest


def test_pages_that_time_out_are_asked_again_smaller(hub: FakeHub, make_forge) -> None:
    from tako_gha.forge.transport import RetryPolicy
    org = FakeOrg(hub, world(250))
    org.max_page = 30
    forge = make_forge(policy=RetryPolicy(max_retries=0, jitter=False))
    result = forge.discover(RepoSelection(org="acme"))
    assert len(result.repos) == 247 and not forge.used_rest
    sizes = [re.search(r"first: (\d+)", c["body"]["query"]).group(1) for c in gql_calls(hub)]
    assert sizes == ["100", "50", "25"] + ["25"] * 9  # 250 repos in pages of 25
