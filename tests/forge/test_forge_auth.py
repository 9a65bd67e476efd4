"""Credentials from the environment, GitHub App installation auth, and open_forge."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakehub import FakeHub

from tako_gha.forge.auth import Credentials, credentials_from_env
from tako_gha.forge.base import AuthError, ForgeError, NotFoundError, RepoSelection
from tako_gha.forge.github import GitHubForge
from tako_gha.forge.transport import RetryPolicy
from tako_gha.surfaces.connect import open_forge
from tako_gha.surfaces.errors import UserError


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "TAKO_APP_ID", "TAKO_APP_PRIVATE_KEY",
                 "TAKO_APP_INSTALLATION_ID", "GITHUB_API_URL", "TAKO_CACHE_DIR",
                 "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_token_precedence() -> None:
    env = {"GITHUB_TOKEN": " a ", "GH_TOKEN": "b"}
    assert credentials_from_env(env).token == "a"
    assert credentials_from_env(env).source == "GITHUB_TOKEN"
    assert credentials_from_env({"GH_TOKEN": "b"}).source == "GH_TOKEN"
    assert credentials_from_env(env, token="c").source == "input"
    assert credentials_from_env({}) is None
    secret = credentials_from_env({"GITHUB_TOKEN": "ghp_Very5ecret"})
    assert "ghp_Very5ecret" not in repr(secret) and "ghp_Very5ecret" not in str(secret)


def test_app_variables(pem: str, tmp_path: Path) -> None:
    creds = credentials_from_env({"TAKO_APP_ID": "12", "TAKO_APP_PRIVATE_KEY":
                                  pem.replace("\n", "\\n"), "TAKO_APP_INSTALLATION_ID": "42"})
    assert creds.is_app and creds.installation_id == 42 and creds.private_key == pem
    assert "BEGIN" not in repr(creds)
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    from_file = credentials_from_env({"TAKO_APP_ID": "12", "TAKO_APP_PRIVATE_KEY":
                                      str(key_file)})
    assert from_file.private_key == pem and from_file.installation_id is None
    with pytest.raises(AuthError, match="TAKO_APP_PRIVATE_KEY is not set"):
        credentials_from_env({"TAKO_APP_ID": "12"})
    with pytest.raises(AuthError, match="neither a PEM"):
        credentials_from_env({"TAKO_APP_ID": "12", "TAKO_APP_PRIVATE_KEY": "nope"})
    with pytest.raises(AuthError, match="must be a number"):
        credentials_from_env({"TAKO_APP_ID": "1", "TAKO_APP_PRIVATE_KEY": pem,
                              "TAKO_APP_INSTALLATION_ID": "x"})


def installation_token(hub: FakeHub, installation: int, token: str) -> None:
    expires = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hub.add("POST", f"/app/installations/{installation}/access_tokens",
            (201, {}, {"token": token, "expires_at": expires, "permissions": {}}))


def test_app_installation_found_by_org_and_used(hub: FakeHub, pem: str) -> None:
    hub.add("GET", "/orgs/acme/installation", (200, {}, {"id": 42, "app_id": 12}))
    installation_token(hub, 42, "ghs_installation")
    hub.add("GET", "/orgs/acme/repos", (200, {}, [{"full_name": "acme/a"}]))
    forge = GitHubForge(hub.base_url, credentials=Credentials(app_id="12", private_key=pem,
                                                              source="app"))
    forge.preflight("acme", [], dispatch=False)
    listing = hub.calls("GET", "/orgs/acme/repos")[0]
    assert listing["headers"]["authorization"] == "token ghs_installation"
    jwt_call = hub.calls("GET", "/orgs/acme/installation")[0]
    assert jwt_call["headers"]["authorization"].startswith("Bearer ")
    assert "12" in repr(forge) and "BEGIN" not in repr(forge)
    forge.close()


def test_app_not_installed(hub: FakeHub, pem: str) -> None:
    forge = GitHubForge(hub.base_url, credentials=Credentials(app_id="12", private_key=pem))
    with pytest.raises(NotFoundError, match="not installed on acme"):
        forge.preflight("acme", [], dispatch=False)


def test_app_token_refused(hub: FakeHub, pem: str) -> None:
    hub.add("POST", "/app/installations/7/access_tokens", (401, {}, {"message": "bad jwt"}))
    forge = GitHubForge(hub.base_url, credentials=Credentials(app_id="12", private_key=pem,
                                                              installation_id=7))
    with pytest.raises(AuthError, match="installation token"):
        forge.list_runs("acme/a")


def test_open_forge_reads_the_environment(clean_env: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        open_forge(None)
    assert "GITHUB_TOKEN" in info.value.hint and info.value.exit_code == 2
    clean_env.setenv("GH_TOKEN", "ghp_x")
    clean_env.setenv("TAKO_CACHE_DIR", str(tmp_path))
    forge = open_forge(None)
    assert forge.api_url == "https://api.github.com" and "ghp_x" not in repr(forge)
    clean_env.setenv("GITHUB_API_URL", "https://ghe.example.com/api/v3/")
    assert open_forge(None).api_url == "https://ghe.example.com/api/v3"
    assert open_forge("http://127.0.0.1:1").api_url == "http://127.0.0.1:1"
    with pytest.raises(UserError, match="not an http"):
        open_forge("ghe.example.com")
    clean_env.setenv("TAKO_APP_ID", "1")
    clean_env.delenv("GH_TOKEN")
    with pytest.raises(UserError, match="incomplete"):
        open_forge(None)


def test_open_forge_uses_the_cache_dir(clean_env: pytest.MonkeyPatch, tmp_path: Path,
                                       hub: FakeHub) -> None:
    clean_env.setenv("TAKO_CACHE_DIR", str(tmp_path / "c"))
    hub.handle("POST", "/graphql", lambda e: (200, {}, {"data": {"organization": {
        "repositories": {"pageInfo": {"hasNextPage": False}, "nodes": [
            {"nameWithOwner": "acme/a", "config": {"oid": "abc", "text": "version: 1\n"}}]}}}}))
    from tako_gha.forge.base import RepoSelection
    forge = open_forge(hub.base_url, token="t")
    assert [r.full_name for r in forge.discover(RepoSelection(org="acme")).repos] == ["acme/a"]
    assert (tmp_path / "c" / "discovery-cache.json").is_file()


def test_app_installation_token_is_refreshed_before_expiry(hub: FakeHub, pem: str) -> None:
    soon = (datetime.now(timezone.utc) + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hub.add("POST", "/app/installations/9/access_tokens",
            (201, {}, {"token": "ghs_first", "expires_at": soon}),
            (201, {}, {"token": "ghs_second", "expires_at": later}))
    hub.add("GET", "/repos/acme/a/actions/runs", (200, {}, {"workflow_runs": []}))
    forge = GitHubForge(hub.base_url, credentials=Credentials(app_id="12", private_key=pem,
                                                              installation_id=9))
    for _ in range(3):
        forge.list_runs("acme/a")
    sent = [c["headers"]["authorization"] for c in hub.calls("GET", "/repos/acme/a/actions/runs")]
    # the first token is within PyGithub's refresh margin of its expiry after its first
    # use, so the next request fetches a new one before the old one has expired
    assert sent == ["token ghs_first", "token ghs_second", "token ghs_second"]
    assert len(hub.calls("POST", "/app/installations/9/access_tokens")) == 2
    forge.close()


@pytest.mark.parametrize("status,error,text", [(401, AuthError, "JWT"),
                                               (500, ForgeError, "HTTP 500")])
def test_app_lookup_failures(hub: FakeHub, pem: str, status: int, error: type,
                             text: str) -> None:
    hub.add("GET", "/orgs/acme/installation", (status, {}, {"message": "nope"}))
    forge = GitHubForge(hub.base_url, credentials=Credentials(app_id="12", private_key=pem),
                        policy=RetryPolicy(max_retries=0))
    with pytest.raises(error, match=text):
        forge.preflight("acme", [], dispatch=False)


def test_app_without_installation_or_owner(pem: str) -> None:
    forge = GitHubForge("http://127.0.0.1:9", credentials=Credentials(app_id="1",
                                                                      private_key=pem))
    with pytest.raises(AuthError, match="installation is unknown"):
        forge.graphql_url  # noqa: B018 - building the client needs the owner


def _bad_keys(pem: str) -> dict[str, str]:
    """Keys a user may paste by mistake: each holds a secret-looking marker."""
    from cryptography.hazmat.primitives.asymmetric import ec
    marker = "KeyMaterialZq9"
    rsa_key = serialization.load_pem_private_key(pem.encode(), password=None)
    encrypted = rsa_key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw")).decode()
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    return {
        "garbage": f"-----BEGIN RSA PRIVATE KEY-----\\n{marker}\\n-----END RSA PRIVATE KEY-----",
        "truncated": pem[: len(pem) // 2],
        "encrypted": encrypted,
        "ec": ec_key,
        "public": rsa_key.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    }


@pytest.mark.parametrize("kind", ["garbage", "truncated", "encrypted", "ec", "public"])
def test_unusable_app_key_is_refused_up_front_without_echoing_it(
        pem: str, tmp_path: Path, kind: str, clean_env: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """PyJWT parses the key only at the first request and raises InvalidKeyError
    there (a traceback from the CLI); the key is checked when read instead."""
    from tako_gha.surfaces.cli import main
    key = _bad_keys(pem)[kind]
    body_line = next(line for line in key.replace("\\n", "\n").splitlines()
                     if line and not line.startswith("-----"))
    key_file = tmp_path / "app.pem"
    key_file.write_text(key.replace("\\n", "\n"))
    for value in (key, str(key_file)):
        with pytest.raises(AuthError, match="TAKO_APP_PRIVATE_KEY") as err:
            credentials_from_env({"TAKO_APP_ID": "12", "TAKO_APP_PRIVATE_KEY": value})
        assert body_line not in f"{err.value} {err.value!r} {err.value.hint}"
    clean_env.setenv("TAKO_APP_ID", "12")
    clean_env.setenv("TAKO_APP_PRIVATE_KEY", key)
    clean_env.setenv("TAKO_APP_INSTALLATION_ID", "5")
    with pytest.raises(SystemExit) as exit_info:
        main(["discover", "--org", "acme", "--api-url", "http://127.0.0.1:9"])
    out = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "error: TAKO_APP_PRIVATE_KEY" in out.err and "Traceback" not in out.err
    assert body_line not in out.out + out.err


@pytest.mark.parametrize("answer", [
    (200, {"Content-Type": "text/html"}, "<html>sign in</html>"),
    (200, {}, [1]),
    (200, {}, {"id": "many"}),
    (301, {"Location": "https://login.example.invalid/"}, ""),
])
def test_app_installation_lookup_with_a_hostile_answer(hub: FakeHub, pem: str,
                                                       answer: tuple) -> None:
    """PyGithub's object layer raised AssertionError / RuntimeError out of the lookup."""
    hub.add("GET", "/orgs/acme/installation", answer)
    forge = GitHubForge(hub.base_url, credentials=Credentials(app_id="12", private_key=pem),
                        policy=RetryPolicy(jitter=False), timeout=2)
    with pytest.raises(ForgeError, match="while looking up the GitHub App installation on "
                                         "acme") as err:
        forge.discover(RepoSelection(org="acme"))
    assert "TAKO_APP_INSTALLATION_ID" in err.value.hint
    assert "PRIVATE KEY" not in str(err.value)
    forge.close()
