"""Every case of tests/surfaces/stream_corpus.py through the surface that meets it: the
CLI's ``--payload @PATH``, ``--tree-json``, ``--summary`` and the job summary, the
run's ``GITHUB_EVENT_PATH``, the action's ``GITHUB_OUTPUT``. Before: a FIFO blocked
forever, a full disk was ignored with exit 0 (the job summary) or was an internal
error (``GITHUB_OUTPUT`` naming a directory), and ``--tree-json`` replaced a device node
or a symlink with a regular file."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_world import outside_actions, receiver, run_console, subscription
from stream_corpus import CASES

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.engine.context import context_from_environment, read_event_file
from tako_gha.surfaces import action
from tako_gha.surfaces.cli import main

pytestmark = pytest.mark.timeout(60)
TOKEN = "t-streams"
QUICK = 10.0  # seconds: "at once", with room for a loaded machine (a hang is forever)
WORKSPACE = str(Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "cascade")
DEVICES = {"char-null": 3, "char-zero": 5, "char-full": 7}  # Linux mem device minors


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    world = {"acme/a": {"tako.yml": "version: 1\n"},
             "acme/b": {"tako.yml": subscription("acme/a", "ok"),
                        ".github/workflows/w.yml": receiver("ok", "echo ok")}}
    root = write_world(tmp_path_factory.mktemp("streams") / "world", world,
                       {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN})
    emulator = Emulator(root, port=0).start()
    yield emulator
    emulator.stop()


class Made:
    """A file of one kind at ``path``; ``received()`` is what a FIFO's reader got."""

    def __init__(self, kind: str, path: Path, stack: contextlib.ExitStack) -> None:
        self.kind, self.path, self.got = kind, path, [b""]
        if kind.startswith("fifo"):
            os.mkfifo(path)
            if kind != "fifo":
                self._partner(kind == "fifo-read", stack)
        elif kind in DEVICES:
            try:
                os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, DEVICES[kind]))
            except PermissionError:
                pytest.skip("cannot make device nodes here")
        elif kind == "link-full":
            path.symlink_to("/dev/full")
        elif kind == "link-file":
            (path.parent / "target.json").write_text('{"a": 1}')
            path.symlink_to(path.parent / "target.json")
        elif kind == "socket":
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(path))
            stack.callback(sock.close)
        elif kind == "dir":
            path.mkdir()
        elif kind == "file":
            path.write_text("")
        self.mode = os.lstat(path).st_mode

    def _partner(self, reads: bool, stack: contextlib.ExitStack) -> None:
        def partner() -> None:
            with contextlib.suppress(OSError), open(self.path, "rb" if reads else "wb") as f:
                if reads:
                    self.got[0] = f.read()
                else:
                    f.write(b'{"a": 1}')

        thread = threading.Thread(target=partner, daemon=True)
        thread.start()

        def release() -> None:  # a partner still waiting in open() gets its other end
            if thread.is_alive():
                with contextlib.suppress(OSError):
                    os.close(os.open(self.path, (os.O_WRONLY if reads else os.O_RDONLY)
                                     | os.O_NONBLOCK))
            thread.join(5)

        self.release = release
        stack.callback(release)

    def received(self) -> bytes:
        self.release()
        return self.got[0]

    def unchanged(self) -> bool:
        """Still the same kind of file: a device a device, a symlink a symlink."""
        return stat.S_IFMT(os.lstat(self.path).st_mode) == stat.S_IFMT(self.mode)


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            tmp_path: Path) -> Callable[..., Any]:
    outside_actions(monkeypatch, tmp_path, "GITHUB_STEP_SUMMARY", "TAKO_DEBUG")

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.setattr(sys, "stdin", io.StringIO(""))
            return run_console(main, args, capsys)

    return run


def _cli_env(emu: Emulator, tmp_path: Path) -> dict[str, str]:
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": emu.base_url,
            "TAKO_CACHE_DIR": str(tmp_path / "cache"), "TAKO_STATE_DIR": str(tmp_path)}


def _through_surface(target: str, path: Path, console: Callable[..., Any],
                     emu: Emulator, tmp_path: Path) -> tuple[int, str]:
    fan_out = ["fan-out", "--event", "ok", "--source", "acme/a", "--org", "acme",
               "--no-wait"]
    if target == "payload":
        done = console("plan", "--workspace", WORKSPACE, "--source", "my-org/core-lib",
                       "--event", "library_built", "--payload", f"@{path}")
        return done.exit_code, done.stderr
    if target == "event":
        assert read_event_file(str(path)) is None
        context = context_from_environment({"GITHUB_EVENT_PATH": str(path),
                                            "GITHUB_REPOSITORY": "acme/a"})
        return (0 if context is None else 1), ""
    if target in ("tree-json", "summary"):
        done = console(*fan_out, f"--{target}", str(path), env=_cli_env(emu, tmp_path))
        return done.exit_code, done.stderr
    if target == "step-summary":
        done = console(*fan_out, env={**_cli_env(emu, tmp_path), "GITHUB_ACTIONS": "true",
                                      "GITHUB_STEP_SUMMARY": str(path)})
        return done.exit_code, done.stdout + done.stderr
    out = io.StringIO()
    env = {"TAKO_INPUT_EVENT_TYPE": "ok", "GITHUB_REPOSITORY": "acme/a",
           "TAKO_INPUT_TOKEN": TOKEN, "TAKO_INPUT_API_URL": emu.base_url,
           "TAKO_INPUT_WAIT_FOR_CHILDREN": "false", "RUNNER_TEMP": str(tmp_path),
           "GITHUB_OUTPUT": str(path)}
    return action.run(env, out), out.getvalue()


@pytest.mark.parametrize(("case_id", "target", "kind", "exit_code", "fragment"), CASES,
                         ids=[case[0] for case in CASES])
def test_each_stream_case_is_answered_at_once(console: Callable[..., Any], emu: Emulator,
                                              tmp_path: Path, case_id: str, target: str,
                                              kind: str, exit_code: int,
                                              fragment: str) -> None:
    path = tmp_path / "the-file"
    with contextlib.ExitStack() as stack:
        made = Made(kind, path, stack)
        started = time.monotonic()
        code, said = _through_surface(target, path, console, emu, tmp_path)
        assert time.monotonic() - started < QUICK
        assert "internal error" not in said and "Traceback" not in said
        assert code == exit_code, said[-600:]
        if exit_code:
            assert fragment in said and str(path) in said, said[-600:]
        assert made.unchanged()  # never replaced by a regular file
        if kind == "fifo-read":
            assert b'"root"' in made.received()  # the tree, written in place, once
        if kind == "link-file" and target != "payload":
            assert '"root"' in (tmp_path / "target.json").read_text()


def test_standard_output_on_a_full_disk_is_exit_2_with_a_message(tmp_path: Path) -> None:
    """Before: ``tako-gha plan > /dev/full`` was an internal error."""
    import subprocess

    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-c", "from tako_gha.surfaces.cli import main; "
                               "main()", "schema"], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: cannot write the output (standard output): No "
                                  "space left on device")
    assert "internal error" not in done.stderr and "Exception ignored" not in done.stderr


def test_a_payload_path_that_is_a_pipe_points_at_standard_input(
        console: Callable[..., Any], tmp_path: Path) -> None:
    """``--payload @/dev/stdin`` (or any FIFO) is refused at once; the hint names @-,
    the way to read a pipe."""
    os.mkfifo(tmp_path / "pipe")
    done = console("plan", "--workspace", WORKSPACE, "--source", "my-org/core-lib",
                   "--event", "library_built", "--payload", f"@{tmp_path / 'pipe'}")
    assert done.exit_code == 2
    assert "a FIFO (named pipe), not a regular file" in done.stderr
    assert "hint: give @PATH of a regular JSON file, or @- to read standard input" \
        in done.stderr
