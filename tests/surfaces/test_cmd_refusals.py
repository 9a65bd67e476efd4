"""Refusals before anything is sent: an event type the source does not declare, a
misspelled --source. Each exits 2 with a did-you-mean, dispatches nothing, prints no
"follow it" banner for a cascade that never existed and leaves no journal behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_world import Outcome, outside_actions, receiver, run_console, subscription

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.surfaces.cli import main

TOKEN = "t-admin"
PRODUCER = ("version: 1\nevents:\n  produces:\n    - type: proto_published\n"
            "    - type: schema_changed\n")
WORLD = {
    "acme/proto": {"tako.yml": PRODUCER},
    "acme/silent": {"tako.yml": "version: 1\n"},  # declares nothing it produces
    "acme/gen": {"tako.yml": subscription("acme/proto", "proto_published"),
                 ".github/workflows/w.yml": receiver("proto_published", "echo ok")},
    "acme/odd": {"tako.yml": subscription("acme/proto", "proto_experiment") +
                 subscription("acme/silent", "ping").split("subscriptions:\n", 1)[1],
                 ".github/workflows/w.yml": receiver(["proto_experiment", "ping"],
                                                     "echo ok")},
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = write_world(tmp_path_factory.mktemp("refusals") / "world", WORLD,
                       {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN})
    emulator = Emulator(root, port=0).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def invoke(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Any:
    outside_actions(monkeypatch, tmp_path, "GITHUB_API_URL")
    state = tmp_path / "state"
    env = {"GITHUB_TOKEN": TOKEN, "TAKO_CACHE_DIR": str(tmp_path / "cache"),
           "TAKO_STATE_DIR": str(state), "TAKO_POLL_MIN_INTERVAL": "0.1",
           "TAKO_POLL_MAX_INTERVAL": "0.5", "TAKO_SIBLING_GRACE": "0.2"}

    def _invoke(*args: str) -> Outcome:
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            return run_console(main, [*args, "--api-url", emu.base_url, "--timeout", "1m"],
                               capsys)

    return _invoke


def _state_files(tmp_path: Path) -> list[str]:
    state = tmp_path / "state"
    return sorted(os.listdir(state)) if state.is_dir() else []


def test_a_misspelled_event_is_refused_with_the_declared_one(
        invoke: Any, emu: Emulator, tmp_path: Path) -> None:
    before = len(emu.runs.all_runs())
    result = invoke("fan-out", "--source", "acme/proto", "--event", "proto_publish")
    assert result.exit_code == 2, result.output
    assert "acme/proto does not produce event type 'proto_publish'" in result.stderr
    assert "did you mean 'proto_published'?" in result.stderr
    assert "--allow-undeclared-event" in result.stderr
    assert "follow it" not in result.output and "tako: cascade" not in result.output
    assert len(emu.runs.all_runs()) == before
    assert _state_files(tmp_path) == []  # no journal, no lock file of a cascade never sent


def test_the_dry_run_refuses_it_too(invoke: Any) -> None:
    result = invoke("fan-out", "--source", "acme/proto", "--event", "schema_change",
                    "--dry-run")
    assert result.exit_code == 2, result.output
    assert "did you mean 'schema_changed'?" in result.stderr


def test_an_undeclared_event_goes_out_when_allowed(invoke: Any, emu: Emulator) -> None:
    result = invoke("fan-out", "--source", "acme/proto", "--event", "proto_experiment",
                    "--allow-undeclared-event")
    assert result.exit_code == 0, result.output
    assert "acme/odd" in result.stdout and "success" in result.stdout
    # The banner is still there for a cascade that is sent.
    assert "tako: cascade " in result.stderr and "--allow-undeclared-event" in result.stderr


def test_a_source_that_declares_nothing_is_not_checked(invoke: Any) -> None:
    result = invoke("fan-out", "--source", "acme/silent", "--event", "ping")
    assert result.exit_code == 0, result.output
    assert "acme/odd" in result.stdout


def test_a_misspelled_source_prints_no_banner_and_leaves_no_journal(
        invoke: Any, tmp_path: Path) -> None:
    result = invoke("fan-out", "--source", "acme/prot", "--event", "proto_published")
    assert result.exit_code == 2, result.output
    assert "did you mean --source acme/proto?" in result.stderr
    assert "follow it" not in result.output and "resume" not in result.output
    assert _state_files(tmp_path) == []


def test_status_of_an_unknown_root_counts_the_repositories_right(invoke: Any) -> None:
    result = invoke("status", "0123456789ab", "--org", "acme")
    assert result.exit_code == 2, result.output
    # 4 repositories in the org; only the 2 that subscribe to something can hold runs.
    assert ("no workflow run in acme carries root 0123456789ab (looked in the 2 "
            "repositories with a subscription, of 4)") in result.stderr


def test_a_fan_out_with_nothing_to_send_announces_nothing_and_keeps_no_journal(
        invoke: Any, tmp_path: Path) -> None:
    result = invoke("fan-out", "--source", "acme/proto", "--event", "schema_changed")
    assert result.exit_code == 0, result.output
    assert "nothing to dispatch" in result.stderr
    assert "tako: cascade" not in result.stderr
    assert _state_files(tmp_path) == []
