"""Repository names: one rule for ``owner/repo`` everywhere (flags, inputs, discovery)."""

from __future__ import annotations

import re

# GitHub: owner 1-39 alnum/hyphen starting alnum; repo 1-100 of alnum . _ -
REPO_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_REMOTE_RE = re.compile(
    r"[:/](?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<repo>[A-Za-z0-9._-]+?)(?:\.git)?/?$")


def is_repo_name(text: str) -> bool:
    return bool(REPO_NAME_RE.match(text or ""))


def repo_from_remote_url(url: str) -> str | None:
    """``owner/repo`` of a GitHub-style remote URL (https, ssh, scp-like); None for
    local paths and ``file:`` URLs, which name no GitHub repository."""
    url = (url or "").strip()
    if not url or url.startswith(("/", ".", "file:")) or ("://" not in url and "@" not in url):
        return None
    match = _REMOTE_RE.search(url)
    return f"{match['owner']}/{match['repo']}" if match else None
