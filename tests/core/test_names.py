"""One rule for repository names and remote URLs (flags, action inputs, hook, CLI)."""

from __future__ import annotations

import pytest

from tako_gha.core.names import is_repo_name, repo_from_remote_url


@pytest.mark.parametrize(("text", "ok"), [
    ("acme/core-lib", True), ("a/b", True), ("my-org/x.y_z", True),
    ("acme", False), ("acme/", False), ("/core-lib", False), ("-acme/x", False),
    ("acme/core lib", False), ("a/b/c", False), ("", False), ("x" * 40 + "/r", False),
])
def test_repo_names(text: str, ok: bool) -> None:
    assert is_repo_name(text) is ok


@pytest.mark.parametrize(("url", "repo"), [
    ("git@github.com:acme/svc.git", "acme/svc"),
    ("https://github.com/acme/svc", "acme/svc"),
    ("https://ghe.example/acme/svc.git/", "acme/svc"),
    ("ssh://git@ghe.example/acme/svc.git", "acme/svc"),
    ("/tmp/remote.git", None),
    ("file:///tmp/acme/svc.git", None),
    ("../acme/svc", None),
    ("", None),
])
def test_remote_urls(url: str, repo: str | None) -> None:
    assert repo_from_remote_url(url) == repo
