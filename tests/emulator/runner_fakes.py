"""In-test stand-ins for the emulator's world and host (used by the runner tests only):
a dict of files per repo, a fixed head sha, and a host with one secret."""

from __future__ import annotations

import time
from pathlib import Path

from tako_gha.emulator.state import RunRecord, RunStore


class FakeRepo:
    def __init__(self, full_name: str, files: dict[str, str]) -> None:
        self.full_name = full_name
        self.default_branch = "main"
        self.files = files

    def head_sha(self) -> str:
        return "a" * 40

    def list_files(self, prefix: str) -> list[str]:
        return [p for p in self.files if p.startswith(prefix)]

    def read_file(self, path: str) -> bytes | None:
        text = self.files.get(path)
        return None if text is None else text.encode()

    def checkout_to(self, dest: Path) -> None:
        for path, text in self.files.items():
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


class FakeWorld:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}

    def add(self, full_name: str, files: dict[str, str]) -> FakeRepo:
        repo = FakeRepo(full_name, files)
        self.repos[full_name.lower()] = repo
        return repo

    def repo(self, full_name: str) -> FakeRepo | None:
        return self.repos.get(full_name.lower())


class FakeHost:
    base_url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def secrets(self) -> dict[str, str]:
        return {"TAKO_TOKEN": "s3cr3t-value"}

    def issue_run_token(self, repo: str) -> str:
        token = f"ghs_run{len(self.tokens)}_{repo.replace('/', '_')}"
        self.tokens.append(token)
        return token

    def token_reads(self, token: str, repo: str) -> bool:
        return token in self.tokens  # the fake world has no private repositories


def wf(body: str, on: str = "on: repository_dispatch") -> str:
    return f"name: wf\n{on}\n{body}"


def wait_done(store: RunStore, runs: list[RunRecord], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.lock:
            if all(r.status == "completed" for r in runs):
                return
        time.sleep(0.02)
    raise AssertionError(f"runs not completed: {[(r.id, r.status) for r in runs]}")
