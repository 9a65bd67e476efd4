"""``tako-gha emulator serve --world DIR [--port N]``: the embedded GitHub, standalone.

The first line of standard output is the base URL to pass as ``--api-url``; the
server runs until SIGINT or SIGTERM and then stops its runs cleanly.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from tako_gha.core.links import doc_url
from tako_gha.surfaces.errors import UserError


@click.group("emulator", short_help="The embedded GitHub: try cascades without GitHub.")
def emulator_group() -> None:
    """The embedded GitHub-compatible server: a world of git repositories whose
    repository_dispatch workflows it runs, on 127.0.0.1 only
    (https://github.com/acme/tako-gha/blob/main/docs/emulator.md)."""


@emulator_group.command("serve", short_help="Serve a world directory; prints the base URL.")
@click.option(
    "--world", "world_dir", required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="World directory: DIR/<owner>/<repo>/ repositories, optional DIR/emulator.yml.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
def serve(world_dir: Path, port: int) -> None:
    """Serve the world directory until Ctrl-C or SIGTERM. The first line of standard
    output is the base URL to pass as --api-url (or GITHUB_API_URL).

    The world is DIR/<owner>/<repo>/ (tako.yml, .github/workflows/*.yml, ...), each a
    git repository or a plain directory committed at load; DIR/emulator.yml may
    declare tokens, secrets, repository traits, limits and faults. Without tokens
    any token is accepted. Exit 0 when stopped, 2 on a bad world or port.

    \b
    Examples:
      tako-gha demo --keep-world /tmp/acme    # a ready-made world
      tako-gha emulator serve --world /tmp/acme --port 0
      tako-gha emulator serve --world ./world --port 8765 &
    """
    from tako_gha.emulator import Emulator, WorldError

    try:
        emu = Emulator(world_dir, port=port)
        emu.start()
    except WorldError as exc:
        raise UserError(str(exc),
                        hint=f"see {doc_url('emulator.md')} for the world layout") from None
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                        hint="pick another --port, or 0 for a free one") from None
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(emu.base_url)
        sys.stdout.flush()
        repos = len(emu.world.all_repos())
        tokens = ("any token is accepted" if emu.settings.tokens is None
                  else f"{len(emu.settings.tokens)} token(s) declared in emulator.yml")
        click.echo(f"serving {repos} repositories from {world_dir} ({tokens}); "
                   "Ctrl-C to stop", err=True)
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("emulator stopped", err=True)

