"""Preflight: before any dispatch, one sentence naming the fix."""

from __future__ import annotations

import pytest
from fakehub import FakeHub

from tako_gha.forge.base import AuthError, NotFoundError
from tako_gha.forge.github import GitHubForge


def repo_json(full: str, push: bool) -> dict:
    return {"full_name": full, "default_branch": "main", "archived": False, "fork": False,
            "disabled": False, "topics": [],
            "permissions": {"admin": False, "maintain": False, "push": push, "pull": True}}


def org_ok(hub: FakeHub, org: str = "acme") -> None:
    hub.add("GET", f"/orgs/{org}/repos", (200, {}, [repo_json(f"{org}/a", True)]))


def one_sentence(exc: Exception) -> str:
    text = str(exc)
    assert "\n" not in text and text.count(". ") == 0
    return text


def test_no_credentials(hub: FakeHub) -> None:
    forge = GitHubForge(hub.base_url)
    with pytest.raises(AuthError) as info:
        forge.preflight("acme", ["acme/a"], dispatch=True)
    assert "GITHUB_TOKEN" in info.value.hint
    one_sentence(info.value)
    assert hub.log == []


def test_token_without_org_access(hub: FakeHub, make_forge) -> None:
    forge = make_forge()
    with pytest.raises(NotFoundError) as info:
        forge.preflight("acme", ["acme/a"], dispatch=True)
    text = one_sentence(info.value)
    assert "cannot list the repositories of acme" in text
    assert "token that can read acme's repositories" in info.value.hint
    # tried the org, then the user account of that name
    assert [c["path"] for c in hub.log] == ["/orgs/acme/repos", "/users/acme/repos"]


def test_bad_token(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/orgs/acme/repos", (401, {}, {"message": "Bad credentials"}))
    with pytest.raises(AuthError) as info:
        make_forge().preflight("acme", [], dispatch=True)
    assert "401" in str(info.value) and "valid" in info.value.hint


def test_target_that_cannot_be_read(hub: FakeHub, make_forge) -> None:
    org_ok(hub)
    hub.add("GET", "/repos/acme/a", (200, {}, repo_json("acme/a", True)))
    with pytest.raises(NotFoundError) as info:
        make_forge().preflight("acme", ["acme/a", "acme/gone", "acme/gone2"], dispatch=True)
    text = one_sentence(info.value)
    assert "cannot read acme/gone or 1 other target" in text


def test_token_that_can_read_but_not_dispatch(hub: FakeHub, make_forge) -> None:
    org_ok(hub)
    hub.add("GET", "/repos/acme/a", (200, {}, repo_json("acme/a", False)))
    forge = make_forge()
    with pytest.raises(AuthError) as info:
        forge.preflight("acme", ["acme/a"], dispatch=True)
    text = one_sentence(info.value)
    assert "can read acme/a but cannot dispatch" in text
    assert "Contents: write" in info.value.hint and "repo scope" in info.value.hint
    forge.preflight("acme", ["acme/a"], dispatch=False)  # reading is fine


def test_classic_token_without_repo_scope(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/orgs/acme/repos", (200, {"x-oauth-scopes": "read:org, workflow"},
                                        [repo_json("acme/a", True)]))
    hub.add("GET", "/repos/acme/a", (200, {"x-oauth-scopes": "read:org, workflow"},
                                     repo_json("acme/a", True)))
    with pytest.raises(AuthError, match="lacks the repo scope"):
        make_forge().preflight("acme", ["acme/a"], dispatch=True)


def test_all_good_costs_one_call_per_unknown_target(hub: FakeHub, make_forge) -> None:
    org_ok(hub)
    hub.add("GET", "/repos/acme/a", (200, {"x-oauth-scopes": "repo"}, repo_json("acme/a", True)))
    forge = make_forge()
    forge.preflight("acme", ["acme/a", "acme/a"], dispatch=True)
    forge.preflight("acme", ["acme/a"], dispatch=True)
    assert [c["path"] for c in hub.log] == ["/orgs/acme/repos", "/repos/acme/a"]
    assert forge.ledger.calls["other"] == 2


def test_workflow_token_inside_actions_is_named(hub: FakeHub, make_forge,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    token = "ghs_" + "w" * 36
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)  # the action's input carries it
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/self")
    org_ok(hub)
    with pytest.raises(NotFoundError) as info:
        make_forge(token=token).preflight("acme", ["acme/other"], dispatch=True)
    assert "GITHUB_TOKEN only reaches acme/self" in info.value.hint
    assert "PAT or GitHub App" in info.value.hint
    assert token not in str(info.value) + info.value.hint


def test_pat_inside_actions_gets_the_ordinary_hint(hub: FakeHub, make_forge,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_pat")
    org_ok(hub)
    with pytest.raises(NotFoundError) as info:
        make_forge(token="ghp_pat").preflight("acme", ["acme/other"], dispatch=True)
    assert "GITHUB_TOKEN only reaches" not in info.value.hint
