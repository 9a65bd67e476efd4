"""PyGithub's DEBUG records never carry a token (tako_gha.forge.redact)."""

from __future__ import annotations

import logging

import pytest

from tako_gha.forge.github import GitHubForge
from tako_gha.forge.redact import redact

SECRET = "tok-redact-check-9f8e7d"


def test_token_shapes_and_known_secrets_are_masked() -> None:
    text = ('POST /app/installations/1/access_tokens {"token": "v1.abcdef", "expires_at": 1} '
            "ghs_" + "A" * 36 + " github_pat_" + "b" * 30 + f" {SECRET}")
    clean = redact(text, (SECRET,))
    assert "v1.abcdef" not in clean and "ghs_" not in clean and "github_pat_" not in clean
    assert SECRET not in clean and '"expires_at": 1' in clean


def test_a_forge_keeps_its_token_out_of_github_debug_logs(
        caplog: pytest.LogCaptureFixture) -> None:
    GitHubForge("http://127.0.0.1:9", token=SECRET)
    logger = logging.getLogger("github.Requester")  # where PyGithub logs bodies
    with caplog.at_level(logging.DEBUG, logger="github"):
        # What PyGithub's Requester logs at DEBUG: the body of an answer.
        logger.debug("GET %s %s", "http://127.0.0.1:9/user", f'{{"note": "{SECRET}"}}')
        logger.debug('{"token": "ghs_%s"}', "Z" * 36)
    assert caplog.records and SECRET not in caplog.text and "ghs_" not in caplog.text


@pytest.mark.parametrize(("text", "clean"), [
    ("https://user:hunter2@ghe.example/api/v3", "https://***@ghe.example/api/v3"),
    ("API URL 'http://me:pw@[::1' is not a valid URL", "API URL 'http://***@[::1' is not a "
                                                        "valid URL"),
    ("http://ghp_token@host:8/a?b=c@d", "http://***@host:8/a?b=c@d"),
    ("http://a@b@host/", "http://***@host/"),
    ("two https://x:y@h1 and HTTP://p:q@h2/", "two https://***@h1 and HTTP://***@h2/"),
    ("no credentials: https://api.github.com/x, mailto:a@b", "no credentials: "
                                                             "https://api.github.com/x, "
                                                             "mailto:a@b"),
])
def test_credentials_in_urls_are_masked(text: str, clean: str) -> None:
    from tako_gha.forge.redact import redact_url

    assert redact_url(text) == clean
    assert redact(text) == clean


def test_a_forge_never_shows_the_credentials_of_its_url() -> None:
    from tako_gha.forge.base import ForgeError

    forge = GitHubForge("https://me:hunter2@127.0.0.1:9", token=SECRET)
    assert "hunter2" not in repr(forge) and "https://***@127.0.0.1:9" in repr(forge)
    with pytest.raises(ForgeError) as info:
        GitHubForge("http://me:hunter2@[::1")
    assert "hunter2" not in str(info.value) and "***@" in str(info.value)
