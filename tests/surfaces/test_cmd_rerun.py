"""``tako-gha rerun ROOT [--failed]`` on the emulator: the failed child's run starts
its next attempt (same run id), the rest is left alone, and the tree is waited on."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_world import Outcome, outside_actions, receiver, run_console, subscription

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.surfaces.cli import main

TOKEN = "t-admin"
FLAKY = 'echo "attempt $GITHUB_RUN_ATTEMPT"; test "$GITHUB_RUN_ATTEMPT" -gt 1 && sleep 2'
WORLD = {
    "acme/a": {"tako.yml": "version: 1\n"},
    "acme/b": {"tako.yml": subscription("acme/a", "ok"),
               ".github/workflows/w.yml": receiver("ok", "echo ok")},
    "acme/f": {"tako.yml": subscription("acme/a", "ok"),
               ".github/workflows/w.yml": receiver("ok", FLAKY)},
}


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    root = write_world(tmp_path / "world", WORLD,
                       {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN})
    with Emulator(root, port=0) as emulator:
        yield emulator


@pytest.fixture
def invoke(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Any:
    outside_actions(monkeypatch, tmp_path)
    for name, value in {"GITHUB_TOKEN": TOKEN, "TAKO_POLL_MIN_INTERVAL": "0.1",
                        "TAKO_POLL_MAX_INTERVAL": "0.5", "TAKO_SIBLING_GRACE": "0.2"}.items():
        monkeypatch.setenv(name, value)

    def _invoke(*args: str) -> Outcome:
        return run_console(main, [*args, "--api-url", emu.base_url], capsys)

    return _invoke


def test_rerun_failed_continues_the_cascade(invoke: Any, emu: Emulator) -> None:
    started = time.monotonic()
    first = invoke("fan-out", "--event", "ok", "--source", "acme/a", "--timeout", "3s",
                   "--format", "json")
    assert first.exit_code == 1, first.output
    root = json.loads(first.stdout)["root"]
    # Re-run after the root's deadline: the re-run's wait has its own --timeout.
    time.sleep(max(0.0, started + 3.5 - time.monotonic()))
    again = invoke("rerun", root, "--org", "acme", "--failed", "--timeout", "1m",
                   "--format", "json")
    assert again.exit_code == 0, again.output
    runs = [r for r in emu.runs.all_runs()
            if (r.client_payload or {}).get("tako", {}).get("root") == root]
    assert Counter(r.repo for r in runs) == {"acme/b": 1, "acme/f": 1}
    flaky = next(r for r in runs if r.repo == "acme/f")
    assert (flaky.run_attempt, flaky.conclusion) == (2, "success")
    assert f"re-running acme/f run {flaky.id} (attempt 2)" in again.stderr
    tree = json.loads(again.stdout)["tree"]
    node = next(c for c in tree["children"] if c["repo"] == "acme/f")
    assert node["state"] == "success" and node["run_attempt"] == 2
    nothing = invoke("rerun", root, "--org", "acme", "--timeout", "1m")
    assert nothing.exit_code == 0 and "nothing to re-run" in nothing.stderr
