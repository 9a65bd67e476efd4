"""Admin routes for a harness that plays the fan-out step of simulated runs (no token,
not logged, not rate-limited, like the rest of ``/_emulator/``):

- ``GET /_emulator/held`` — the started runs of ``runner.simulate.hold`` repos not
  finished yet: ``[{"id", "repo", "event", "event_type", "client_payload", "inputs"}]``;
- ``POST /_emulator/held/{run_id}`` with ``{"conclusion", "artifacts": {name: base64
  zip}}`` — the run's artifacts stored (as its upload-artifact step would), then the
  run ends with ``conclusion``; 404 when the run is not held.

The benchmark of a tree where every intermediate level runs the real engine
(``benchmarks/bench_wait.py``) is the harness: the emulator never imports the engine.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from tako_gha.emulator.artifacts import ArtifactError, store_for
from tako_gha.emulator.httpkit import ApiError, Request, Response

if TYPE_CHECKING:
    from tako_gha.emulator.server import ApiApp

PREFIX = "/_emulator/held"
CONCLUSIONS = ("success", "failure", "cancelled", "timed_out", "neutral", "skipped")
_ONE = re.compile(r"^/_emulator/held/(?P<run>\d{1,18})$")


def is_harness(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def handle(app: ApiApp, req: Request) -> Response:
    runner = app.runner
    if not hasattr(runner, "held"):
        raise ApiError(404, "Not Found: the world's runner holds no runs "
                            "(runner.simulate.hold)")
    if req.path == PREFIX and req.method == "GET":
        with app.store.lock:
            return Response(200, [{"id": run.id, "repo": run.repo, "event": run.event,
                                   "event_type": run.event_type,
                                   "client_payload": run.client_payload,
                                   "inputs": run.inputs}
                                  for run in runner.held()])
    match = _ONE.match(req.path)
    if match is None or req.method != "POST":
        raise ApiError(404, "Not Found")
    return _finish(app, runner, int(match["run"]), req.json())


def _finish(app: ApiApp, runner: Any, run_id: int, body: Any) -> Response:
    if not isinstance(body, dict) or body.get("conclusion") not in CONCLUSIONS:
        raise ApiError(400, "expected {conclusion: one of " + ", ".join(CONCLUSIONS)
                       + ", artifacts: {name: base64 zip}}")
    run = next((r for r in runner.held() if r.id == run_id), None)
    if run is None:
        raise ApiError(404, f"run {run_id} is not held")
    artifacts = body.get("artifacts") or {}
    if not isinstance(artifacts, dict):
        raise ApiError(400, "artifacts: expected {name: base64 zip}")
    store = store_for(getattr(app.world, "root", None))
    repo = app.world.repo(run.repo)
    for name, encoded in artifacts.items():
        try:
            data = base64.b64decode(str(encoded), validate=True)
            store.upload(run.repo, repo.id if repo is not None else 0, run_id, str(name), data,
                         head_branch=run.head_branch, head_sha=run.head_sha, retention_days=1)
        except (binascii.Error, ArtifactError) as exc:
            raise ApiError(400, f"artifact {name!r}: {exc}") from None
    runner.finish(run_id, body["conclusion"])
    return Response(200, {"id": run_id, "conclusion": body["conclusion"]})
