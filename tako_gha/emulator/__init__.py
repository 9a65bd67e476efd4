"""A GitHub-compatible API server for loopback, backed by a world directory.

INTERFACE (agreed):
    from tako_gha.emulator import Emulator
    with Emulator(world_dir, port=0, runner_capacity=4) as emu:
        emu.base_url            # "http://127.0.0.1:PORT", pass as --api-url / base_url
        emu.admin_token         # a token that sees every repo (from emulator.yml or default)
        emu.set_faults({...})   # same format as emulator.yml "faults"
        emu.requests()          # request log (list of dicts), also GET /_emulator/requests
        emu.stats()             # counts by endpoint kind and status, also /_emulator/stats
        emu.runs.all_runs()     # RunStore
        emu.wait_idle(timeout)  # until no run is queued/in_progress
    ``Emulator.start()`` / ``stop()`` for explicit control. Binds 127.0.0.1 only.

Additions: ``Emulator(..., faults=..., limits=..., runner_factory=...)`` override the
world file; ``emu.world`` (the ``World``), ``emu.runner``, ``emu.reset_stats()``,
``emu.issue_run_token(repo)``, ``emu.token_reads(token, repo)`` and ``emu.secrets()``
(the ``RunnerHost`` side).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tako_gha.emulator.faults import FaultError
from tako_gha.emulator.settings import WorldError, load_settings, parse_limits
from tako_gha.emulator.state import RunStore

__all__ = ["Emulator", "FaultError", "WorldError"]

RunnerFactory = Callable[..., Any]


class Emulator:
    """The embedded GitHub: world + HTTP API + workflow runner (see module docstring)."""

    def __init__(
        self,
        world_dir: str | Path,
        port: int = 0,
        runner_capacity: int | None = None,
        *,
        faults: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        runner_factory: RunnerFactory | None = None,
    ) -> None:
        from tako_gha.emulator.server import ApiApp
        from tako_gha.emulator.world import World

        root = Path(world_dir)
        if not root.is_dir():
            raise WorldError(
                f"world directory {root} does not exist (expected DIR/<owner>/<repo>/)"
            )
        self.settings = load_settings(root)
        if limits:
            self.settings.limits = parse_limits(limits, "limits", self.settings.limits)
        self.world = World(root, self.settings)
        self.runs = RunStore()
        try:
            self._app = ApiApp(self.world, self.runs, self.settings)
        except FaultError as exc:
            raise WorldError(f"{root / 'emulator.yml'}: {exc}") from None
        if faults is not None:
            self._app.set_faults(faults)
        self._port = port
        self._capacity = runner_capacity or self.settings.runner_capacity or 4
        self._runner_factory = runner_factory
        self.runner: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        from tako_gha.emulator.server import make_server

        self._server = make_server(self._app, "127.0.0.1", self._port)
        host, port = self._server.server_address[:2]
        self._app.set_base_url(f"http://{host}:{port}")
        factory = self._runner_factory
        if factory is None and self.settings.simulate is not None:
            from functools import partial

            from tako_gha.emulator.simulated import SimulatedRunner

            factory = partial(SimulatedRunner, simulation=self.settings.simulate)
        if factory is None:
            from tako_gha.emulator.runner import WorkflowRunner

            factory = WorkflowRunner
        self.runner = factory(self.world, self.runs, self, capacity=self._capacity)
        self._app.runner = self.runner
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="tako-emulator", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        if self.runner is not None and hasattr(self.runner, "stop"):
            self.runner.stop()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- RunnerHost -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if not self._app.base_url:
            raise RuntimeError("the emulator is not started (call start() or use `with`)")
        return self._app.base_url

    def secrets(self) -> dict[str, str]:
        return dict(self.settings.secrets)

    def issue_run_token(self, repo: str) -> str:
        return self._app.issue_run_token(repo)

    def token_reads(self, token: str, repo: str) -> bool:
        view = self.world.repo(repo)
        if view is None or not token:
            return False
        own = self._app.run_tokens.get(token)
        if own is not None:
            return own.lower() == view.full_name.lower() or not view.meta.private
        policy = self.settings.policy(token)
        return policy is not None and (not view.meta.private or policy.sees(view.full_name))

    # -- test and benchmark surface ---------------------------------------------------
    @property
    def admin_token(self) -> str:
        return self.settings.admin_token

    def set_faults(self, faults: dict[str, Any] | None) -> None:
        """Replace the active faults (format of emulator.yml ``faults:``)."""
        self._app.set_faults(faults)

    def requests(self, since: float | None = None) -> list[dict[str, Any]]:
        return self._app.log.entries(since)

    def stats(self) -> dict[str, Any]:
        return self._app.stats()

    def reset_stats(self) -> None:
        self._app.log.reset()
        self._app.limiter.refusals.clear()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once no run is queued or in progress (False on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.runs.lock:
                busy = any(r.status != "completed" for r in self.runs.all_runs())
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
