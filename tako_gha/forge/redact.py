"""Keep tokens out of PyGithub's own log records, and credentials out of URLs.

PyGithub logs request and response bodies at DEBUG on the ``github`` logger. It
masks the Authorization header but not bodies, and the GitHub App installation
token arrives in one (``{"token": "ghs_…"}``). tako never turns DEBUG on, but a
program that embeds it may: this filter rewrites such records before any handler
sees them.
"""

from __future__ import annotations

import logging
import re

MASK = "***"
# GitHub's token formats (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_) and a JSON
# "token" field, whatever its value looks like.
_PATTERNS = (
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r'("token"\s*:\s*")[^"]*(")'),
)


# The userinfo of a URL (``https://user:password@host``, ``https://TOKEN@host``):
# everything between ``scheme://`` and the ``@`` before the host.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s'\"<>]*@")


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it masked: any URL tako prints
    (an --api-url in an error, a GraphQL endpoint) goes through here."""
    return _URL_USERINFO.sub(rf"\g<1>{MASK}@", text)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(MASK, text)
    return redact_url(_PATTERNS[1].sub(rf"\g<1>{MASK}\g<2>", text))


class RedactingFilter(logging.Filter):
    """Masks known secrets and token-shaped strings in a record's final message."""

    def __init__(self) -> None:
        super().__init__("tako-redact")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its format: leave it
            return True
        clean = redact(message, tuple(self.secrets))
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactingFilter()


def _github_loggers() -> list[logging.Logger]:
    """``github`` and every ``github.*`` logger PyGithub made (``github.Requester``
    logs the bodies). A logger's filters do not apply to its children's records,
    so each gets the filter itself."""
    names = [n for n in logging.root.manager.loggerDict
             if n == "github" or n.startswith("github.")]
    return [logging.getLogger(n) for n in {"github", "github.Requester", *names}]


def guard_github_logger(*secrets: str | None) -> None:
    """Install the filter on PyGithub's loggers and remember ``secrets``."""
    for logger in _github_loggers():
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    _FILTER.secrets.update(s for s in secrets if s and len(s) >= 8)
