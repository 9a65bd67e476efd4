"""``tako-gha demo``: a whole cascade, offline, on the emulator.

Copies the bundled example organization (``tako_gha/demo_world``, org ``acme``) to a
temporary directory, starts the emulator on it, fans out ``library_built`` from
``acme/core-lib`` with the live tree and prints the summary. The children ``auth``
and ``billing`` fan out again from inside their emulated runs with
``uses: acme/tako-gha@v1`` — the same action entry a real workflow runs.

The summary's run links point at the emulator, so on a terminal the demo keeps it up
until Ctrl-C (or SIGTERM) for them to be opened; ``--exit``, or a run that is not on
a terminal (a pipe, CI), stops it at once and says the links are gone.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import click
from rich.console import Console

from tako_gha.core.events import Event
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.flags import read_duration

DEMO_ORG = "acme"
DEMO_SOURCE = "acme/core-lib"
DEMO_EVENT = "library_built"
DEMO_PAYLOAD = {"version": "2.1.0", "build_status": "success", "channel": "stable"}
# Packaging tools skip hidden directories, so the bundled world stores them as dot-*.
_DOT_PREFIX = "dot-"
_NOT_WORLD = {"README.md"}  # documentation of the bundle, not a repository


def _copy_tree(source: Traversable, dest: Path, top: bool = False) -> int:
    copied = 0
    for entry in source.iterdir():
        if (top and entry.name in _NOT_WORLD) or entry.name == "__pycache__":
            continue
        name = entry.name
        if name.startswith(_DOT_PREFIX):
            name = "." + name[len(_DOT_PREFIX):]
        target = dest / name
        if entry.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            copied += _copy_tree(entry, target)
        else:
            target.write_bytes(entry.read_bytes())
            copied += 1
    return copied


def copy_demo_world(dest: Path) -> Path:
    """Write the bundled world into ``dest`` (created; must be empty if it exists)."""
    if dest.exists() and any(dest.iterdir()):
        raise UserError(f"{dest} is not empty", hint="give --keep-world a new or empty "
                        "directory")
    dest.mkdir(parents=True, exist_ok=True)
    _copy_tree(resources.files("tako_gha") / "demo_world", dest, top=True)
    return dest


def demo_repos(world: Path) -> list[str]:
    return sorted(f"{o.name}/{r.name}" for o in world.iterdir() if o.is_dir()
                  for r in o.iterdir() if r.is_dir())


def on_terminal() -> bool:
    """Someone can read the links and press Ctrl-C: standard input and standard error
    are both a terminal (standard output may be redirected, e.g. ``--format json >``)."""
    return all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stderr))


@contextmanager
def _sigterm_stops(stop: threading.Event) -> Iterator[None]:
    """While waiting, SIGTERM ends the wait like Ctrl-C (the emulator and the temporary
    world are cleaned up instead of the process dying mid-way)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_for_stop(stop: threading.Event | None = None) -> None:
    """Block until Ctrl-C (SIGINT), SIGTERM or ``stop`` is set."""
    stop = stop or threading.Event()
    with _sigterm_stops(stop):
        try:
            # Short waits: a signal handler runs between them on every platform.
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass


def until_stopped(base_url: str) -> None:
    """What the demo waits on while the emulator at ``base_url`` serves the links."""
    wait_for_stop()


def run_demo(world: Path, *, fmt: str, timeout: float, console: Console,
             keep_up: bool = False) -> int:
    """Serve ``world``, fan out, print the summary; return the exit code. With
    ``keep_up`` the emulator keeps serving after the summary until Ctrl-C or SIGTERM
    (``until_stopped``)."""
    from tako_gha.emulator import Emulator
    from tako_gha.engine.api import FanOutOptions, FanOutRequest
    from tako_gha.engine.fanout import fan_out
    from tako_gha.forge.base import ForgeError
    from tako_gha.surfaces.connect import open_forge, user_error
    from tako_gha.surfaces.reports import LiveTree, render_text

    repos = demo_repos(world)
    started = time.monotonic()
    with Emulator(world, port=0, runner_capacity=8) as emu:
        # soft_wrap: in a log or a pipe each message stays one line (no wrap at 80).
        console.print(f"[bold]tako-gha demo[/]: emulator at {emu.base_url} serving "
                      f"org [cyan]{DEMO_ORG}[/] ({len(repos)} repositories)", soft_wrap=True)
        console.print(f"fanning out [bold]{DEMO_EVENT}[/] {DEMO_PAYLOAD['version']} from "
                      f"[cyan]{DEMO_SOURCE}[/] and waiting on the whole tree…", soft_wrap=True)
        forge = open_forge(emu.base_url, token=emu.admin_token)
        request = FanOutRequest(event=Event(DEMO_EVENT, DEMO_SOURCE, dict(DEMO_PAYLOAD)),
                                org=DEMO_ORG)
        options = FanOutOptions(timeout=timeout, discovery_timeout=min(20.0, timeout),
                                concurrency_limit=10, poll_min_interval=0.25,
                                poll_max_interval=1.0, sibling_grace=1.0)
        live = LiveTree(console)
        try:
            report = fan_out(forge, request, options, live)
        except ForgeError as exc:
            raise user_error(exc) from None
        finally:
            live.close()
        if fmt == "json":
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            click.echo(render_text(report), nl=False)
            click.echo(f"demo finished in {time.monotonic() - started:.1f}s")
        sys.stdout.flush()
        if keep_up:
            console.print(f"the emulator stays up at {emu.base_url} so the run links above "
                          "open; press Ctrl-C to stop it", soft_wrap=True, highlight=False)
            until_stopped(emu.base_url)
    console.print("emulator stopped: the run links above no longer open"
                  + ("" if keep_up else " (on a terminal the demo keeps it up until Ctrl-C; "
                     "--keep-world DIR keeps the world for `tako-gha emulator serve`)"),
                  soft_wrap=True, highlight=False, markup=False)
    return report.status.exit_code


@click.command("demo", short_help="Run a whole cascade offline, on the emulator.")
@click.option("--keep-world", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR",
              help="Write the demo world to DIR (new or empty) and keep it, for emulator "
                   "serve, graph and plan --workspace.  [default: a temporary directory]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Summary on standard output: text tree or tree JSON.")
@click.option("--timeout", default="55s", show_default=True, metavar="DUR",
              help="Longest wait for the whole tree.")
@click.option("--exit", "exit_now", is_flag=True,
              help="Stop the emulator as soon as the summary is printed, also on a "
                   "terminal (where the demo otherwise keeps it up, for the run links, "
                   "until Ctrl-C).")
def demo(keep_world: Path | None, fmt: str, timeout: str, exit_now: bool) -> None:
    """Run a whole cascade offline: the emulator, an example org, a live tree.

    \b
    acme/core-lib releases library_built 2.1.0; api-gateway, auth and billing
    rebuild (api-gateway by workflow dispatch, its run named by GitHub's answer:
    correlation exact); auth and billing fan out service_deployed themselves (a
    two-level chain), reaching notifications twice (a diamond) and frontend.
    legacy-app and docs-site are subscribed but filtered out by range and CEL filter.
    The live tree goes to standard error, the summary to standard output.
    On a terminal the emulator then stays up, so the summary's run links open,
    until Ctrl-C; elsewhere (a pipe, CI) or with --exit it stops at once.
    No network is needed. Exit codes as fan-out: 0 success, 1 a node failed,
    2 bad arguments, 3 timed out.

    \b
    Examples:
      tako-gha demo
      tako-gha demo --keep-world /tmp/acme
      tako-gha demo --format json > tree.json
      tako-gha demo --exit
    """
    seconds = read_duration(timeout, "--timeout")  # before the emulator starts
    console = Console(stderr=True)
    keep_up = not exit_now and on_terminal()
    if keep_world is not None:
        world = copy_demo_world(keep_world.resolve())
        code = run_demo(world, fmt=fmt, timeout=seconds, console=console, keep_up=keep_up)
        console.print(f"the world is kept in {world}; try:\n"
                      f"  tako-gha graph --workspace {world}\n"
                      f"  tako-gha plan --workspace {world} --source {DEMO_SOURCE} "
                      f"--event {DEMO_EVENT} --payload '{json.dumps(DEMO_PAYLOAD)}'\n"
                      f"  tako-gha emulator serve --world {world}", soft_wrap=True,
                      highlight=False, markup=False)
    else:
        temp = Path(tempfile.mkdtemp(prefix="tako-demo-"))
        try:
            world = copy_demo_world(temp / "world")
            code = run_demo(world, fmt=fmt, timeout=seconds, console=console,
                            keep_up=keep_up)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    sys.stdout.flush()
    click.get_current_context().exit(code)

