"""``tako-gha emulator serve``: prints its base URL first, serves, stops on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tako_gha.emulator.testing import call
from tako_gha.surfaces.cli import cli, main

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_url_and_stops_on_signal(
    make_world: Callable[..., Path], sig: signal.Signals
) -> None:
    world = make_world({"acme/a": {"tako.yml": "version: 1\n"}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tako_gha", "emulator", "serve", "--world", str(world)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = call(url, "GET", "/repos/acme/a", token="anything")
        assert reply.status == 200 and reply.json()["full_name"] == "acme/a"
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0), capsys.readouterr().err


def test_serve_bad_world_is_a_clean_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(["emulator", "serve", "--world", str(tmp_path / "nope")], capsys)
    assert code == 2
    assert "does not exist" in err and "hint:" in err and "Traceback" not in err


def test_serve_bad_world_file_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "emulator.yml").write_text("tokens: [1, 2]\n")
    code, err = _run(["emulator", "serve", "--world", str(tmp_path)], capsys)
    assert code == 2
    assert "emulator.yml: tokens: expected" in err


def test_serve_help_lists_options() -> None:
    result = CliRunner().invoke(cli, ["emulator", "serve", "--help"])
    assert result.exit_code == 0 and "--world" in result.output and "--port" in result.output


def test_serve_in_process_until_sigterm(
    make_world: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command in this process (so its lines count for coverage): a helper
    thread waits for the signal handler to be installed, then sends SIGTERM."""
    import os
    import threading
    import time

    world = make_world({"acme/a": {"tako.yml": "version: 1\n"}})
    original = signal.getsignal(signal.SIGTERM)

    def stopper() -> None:
        deadline = time.monotonic() + 20
        while signal.getsignal(signal.SIGTERM) is original and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=stopper)
    thread.start()
    code, err = _run(["emulator", "serve", "--world", str(world)], capsys)
    thread.join()
    assert code == 0
    assert "serving 1 repositories" in err and "emulator stopped" in err
    assert signal.getsignal(signal.SIGTERM) is original


def test_serve_port_in_use_is_a_usage_error(
    make_world: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    world = make_world({"acme/a": {"f": "1"}})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, err = _run(["emulator", "serve", "--world", str(world), "--port", str(port)],
                         capsys)
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err
