"""``tako-gha demo``: a real cascade on the bundled world, through the CLI."""

from __future__ import annotations

import json
import os
import pty
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from tako_gha.surfaces.cli import cli, main
from tako_gha.surfaces.commands import demo as demo_module
from tako_gha.surfaces.commands.demo import copy_demo_world, demo_repos


def _children(node: dict) -> dict[str, dict]:
    return {c["repo"]: c for c in node["children"]}


def test_demo_runs_the_whole_tree_and_keeps_the_world(tmp_path: Path) -> None:
    world = tmp_path / "kept"
    result = CliRunner().invoke(cli, ["demo", "--format", "json", "--keep-world", str(world)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "success"
    tree = data["tree"]
    assert tree["repo"] == "acme/core-lib"
    level1 = _children(tree)
    assert set(level1) == {"acme/api-gateway", "acme/auth", "acme/billing"}
    assert all(n["state"] == "success" and n["run_id"] for n in level1.values())
    # both kinds in one tree: api-gateway in exact mode, the others by repository_dispatch
    assert {r: n["correlation"] for r, n in level1.items()} == {
        "acme/api-gateway": "exact", "acme/auth": "strict", "acme/billing": "strict"}
    # the two-level chain: auth and billing fanned out from inside their runs
    assert set(_children(level1["acme/billing"])) == {"acme/frontend", "acme/notifications"}
    assert set(_children(level1["acme/auth"])) == {"acme/notifications"}
    # the diamond: notifications ran twice, once per path, as two nodes
    bottoms = [level1[p]["children"] for p in ("acme/auth", "acme/billing")]
    runs = {c["run_id"] for kids in bottoms for c in kids if c["repo"] == "acme/notifications"}
    assert len(runs) == 2
    assert all(c["correlation"] == "strict" for kids in bottoms for c in kids)
    # the kept world is a workspace/world with the hidden workflow dirs restored
    assert (world / "acme" / "auth" / ".github" / "workflows" / "on-tako.yml").is_file()
    assert not (world / "README.md").exists()
    assert "acme/legacy-app" in demo_repos(world)
    assert "the world is kept in" in result.stderr
    # Not a terminal: whole plain lines, never a sentence wrapped at 80 columns.
    lines = result.stderr.splitlines()
    assert lines[0].startswith("tako-gha demo: emulator at http://127.0.0.1:")
    assert lines[0].endswith("serving org acme (10 repositories)")
    assert lines[1] == ("fanning out library_built 2.1.0 from acme/core-lib and waiting on "
                        "the whole tree…")
    # Not a terminal: the emulator stops at once, and the demo says its links are gone.
    assert "stays up" not in result.stderr
    assert any(line.startswith("emulator stopped: the run links above no longer open (on a "
                               "terminal the demo keeps it up until Ctrl-C")
               for line in lines), result.stderr


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


def test_demo_refuses_a_non_empty_world_dir(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x").write_text("mine")
    code, err = _main(["demo", "--keep-world", str(tmp_path)], capsys)
    assert code == 2
    assert f"error: {tmp_path} is not empty" in err
    assert "hint: give --keep-world a new or empty directory" in err


def test_demo_rejects_a_bad_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _main(["demo", "--timeout", "whenever"], capsys)
    assert code == 2
    assert "error: --timeout: cannot read duration 'whenever'" in err


def test_bundled_world_copies_with_dot_dirs(tmp_path: Path) -> None:
    world = copy_demo_world(tmp_path / "w")
    assert (world / "emulator.yml").is_file()
    assert not list(world.rglob("dot-github"))
    assert len(list(world.glob("acme/*/.github/workflows/*.yml"))) == 7


def _run_links(base_url: str) -> list[str]:
    """The run pages the summary links to, as the emulator lists them."""
    from tako_gha.emulator.testing import call

    runs = call(base_url, "GET", "/_emulator/runs", token="t-acme-release").json()
    return [r["html_url"] for r in runs]


def _opens(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as page:
            return page.status == 200
    except OSError:
        return False


def test_demo_on_a_terminal_keeps_the_emulator_up_until_stopped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def until_stopped(base_url: str) -> None:  # what Ctrl-C ends: the links open meanwhile
        links = _run_links(base_url)
        assert len(links) == 6 and all(_opens(u) for u in links)
        seen.extend(links)

    monkeypatch.setattr(demo_module, "on_terminal", lambda: True)
    monkeypatch.setattr(demo_module, "until_stopped", until_stopped)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert seen and all(u in result.stdout for u in seen)  # the summary's links
    lines = result.stderr.splitlines()
    assert any(line.startswith("the emulator stays up at http://127.0.0.1:") and
               line.endswith("so the run links above open; press Ctrl-C to stop it")
               for line in lines), result.stderr
    assert lines[-1] == "emulator stopped: the run links above no longer open"
    assert not any(_opens(u) for u in seen)  # stopped after the wait


def test_demo_exit_stops_at_once_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    def until_stopped(base_url: str) -> None:
        raise AssertionError("--exit must not wait")

    monkeypatch.setattr(demo_module, "on_terminal", lambda: True)
    monkeypatch.setattr(demo_module, "until_stopped", until_stopped)
    result = CliRunner().invoke(cli, ["demo", "--exit", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "success"
    assert "stays up" not in result.stderr
    assert "emulator stopped: the run links above no longer open" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_wait_ends_on_ctrl_c_and_sigterm(signum: int) -> None:
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signum))
    started = time.monotonic()
    timer.start()
    try:
        demo_module.wait_for_stop()
    finally:
        timer.cancel()
    assert 0.25 <= time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_the_wait_ends_when_asked() -> None:
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    demo_module.wait_for_stop(stop)
    assert stop.is_set()


def test_on_a_terminal_means_stdin_and_stderr_are_ttys(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = pty.openpty()
    read_end, write_end = os.pipe()
    with open(follower, "w", closefd=True) as tty, open(read_end) as pipe_in, \
            open(write_end, "w") as pipe_out:
        monkeypatch.setattr(sys, "stdin", tty)
        monkeypatch.setattr(sys, "stderr", tty)
        assert demo_module.on_terminal()
        monkeypatch.setattr(sys, "stdin", pipe_in)  # e.g. run from a script or CI
        assert not demo_module.on_terminal()
        monkeypatch.setattr(sys, "stdin", tty)
        monkeypatch.setattr(sys, "stderr", pipe_out)  # stderr to a log file
        assert not demo_module.on_terminal()
    os.close(leader)
