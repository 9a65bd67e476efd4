"""Where the documentation lives, for messages and ``--help`` texts.

An installed wheel ships no ``docs/`` directory, so text shown to users points at the
documentation by URL. The project's URLs are in pyproject.toml's ``[project.urls]``
(the package metadata): ``REPOSITORY`` is its ``Source`` and the pages below its
``Documentation`` entry; a test checks they agree.
"""

from __future__ import annotations

REPOSITORY = "https://github.com/acme/tako-gha"
DOCS = f"{REPOSITORY}/blob/main/docs/"


def doc_url(page: str, section: str = "") -> str:
    """The URL of ``docs/<page>`` (e.g. ``"filters.md"``), at ``section`` if given
    (a heading's anchor, e.g. ``"templates"``)."""
    return DOCS + page + (f"#{section}" if section else "")
