"""Worlds for the end-to-end seed scenarios and a driver that starts each cascade the
way a user does: a ``repository_dispatch`` to the origin repo, whose workflow
``uses: acme/tako-gha@v1``. The world holds ``acme/tako-gha``: this project's own
``action.yml`` (and the files its steps read), tagged ``v1``, which the emulator runs
step by step as a composite action, exactly as GitHub would (setup-python gives the
emulator's interpreter, which already imports this tako-gha, so nothing is installed).

The trigger workflow writes the action's outputs to files under ``out_dir`` in a
later ``if: always()`` step, so tests read exactly what a workflow would see.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tako_gha.emulator import Emulator
from tako_gha.emulator.composite import step_header
from tako_gha.emulator.state import RunRecord
from tako_gha.emulator.testing import call
from tako_gha.emulator.workflows import parse_step

ROOT = Path(__file__).resolve().parents[2]
ACTION_REPO = "acme/tako-gha"
# What the action's steps read from its own checkout: the steps (action.yml), the
# install plan (a stdlib script) and what its cache key and version check hash.
ACTION_FILES = ("action.yml", "pyproject.toml", "requirements/action.txt",
                "tako_gha/surfaces/action_setup.py")

TOKEN = "t-e2e-admin"
SETTINGS: dict[str, Any] = {
    "secrets": {"TAKO_TOKEN": TOKEN},
    "tokens": {TOKEN: {"repos": ["*"]}},
    "admin_token": TOKEN,
    "runner": {"capacity": 16},
    "limits": {"content_per_minute": 5000, "content_per_hour": 50000},
}
RUN_NAME = "${{ github.event.client_payload.tako.title || github.workflow }}"
# Fast polling and no dispatch pacing for tests (see tako_gha.surfaces.action).
FAST_ENV = {"TAKO_POLL_MIN_INTERVAL": "0.1", "TAKO_POLL_MAX_INTERVAL": "0.5",
            "TAKO_DISPATCHES_PER_MINUTE": "100000", "TAKO_DISPATCHES_PER_HOUR": "1000000",
            "TAKO_SIBLING_GRACE": "0.5"}


def action_repo(action_yml: str | None = None) -> dict[str, str]:
    """The files of ``acme/tako-gha`` in a world; ``action_yml`` replaces action.yml."""
    files = {name: (ROOT / name).read_text(encoding="utf-8") for name in ACTION_FILES}
    if action_yml is not None:
        files["action.yml"] = action_yml
    return files


def tako_yml(produces: list[str] | None = None,
             subscriptions: list[dict[str, Any]] | None = None) -> str:
    events: dict[str, Any] = {}
    if produces:
        events["produces"] = [{"type": t, "schema_version": "1.0.0"} for t in produces]
    if subscriptions:
        events["subscriptions"] = subscriptions
    return yaml.safe_dump({"version": 1, "events": events}, sort_keys=False)


def sub(producer: str, *events: str, **extra: Any) -> dict[str, Any]:
    return {"artifact": producer, "events": list(events), **extra}


def tako_step(event_type: str, uses: str = "acme/tako-gha@v1", **inputs: str) -> dict:
    return {"id": "tako", "name": f"fan out {event_type}", "uses": uses,
            "with": {"event_type": event_type, "token": "${{ secrets.TAKO_TOKEN }}",
                     **inputs},
            "env": dict(FAST_ENV)}


def receiver(types: list[str], steps: list[dict], name: str = "on-tako") -> str:
    """A subscriber's workflow, with the correlating run-name."""
    return yaml.safe_dump({
        "name": name, "run-name": RUN_NAME,
        "on": {"repository_dispatch": {"types": types}},
        "jobs": {"work": {"runs-on": "ubuntu-latest", "steps": steps}},
    }, sort_keys=False)


def trigger(out_dir: Path, event_type: str, uses: str = "acme/tako-gha@v1",
            **inputs: str) -> str:
    """The origin's workflow: on `start`, fan out with the action, save its outputs."""
    save = (f'printf "%s" "$TREE" > "{out_dir}/tree.json"\n'
            f'printf "%s\\n" "$ROOT" "$STATUS" "$DISPATCHED" "$FAILED" > "{out_dir}/outputs.txt"\n')
    outputs = {"TREE": "${{ steps.tako.outputs.tree }}",
               "ROOT": "${{ steps.tako.outputs.root_id }}",
               "STATUS": "${{ steps.tako.outputs.status }}",
               "DISPATCHED": "${{ steps.tako.outputs.dispatched }}",
               "FAILED": "${{ steps.tako.outputs.failed }}"}
    return yaml.safe_dump({
        "name": "cascade", "run-name": "start cascade",
        "on": {"repository_dispatch": {"types": ["start"]}},
        "jobs": {"cascade": {"runs-on": "ubuntu-latest", "steps": [
            tako_step(event_type, uses=uses, **inputs),
            {"name": "save outputs", "if": "always()", "env": outputs, "run": save},
        ]}},
    }, sort_keys=False)


def work_step(seconds: float = 0.1) -> dict:
    return {"name": "work", "run": f'echo "working in $GITHUB_REPOSITORY"; sleep {seconds}'}


@dataclass
class CascadeResult:
    origin_run: RunRecord
    tree: dict[str, Any]
    root: str
    status: str
    dispatched: int
    failed: int

    @property
    def origin(self) -> dict[str, Any]:
        return self.tree["tree"]

    def children(self, node: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        node = node if node is not None else self.origin
        return {c["repo"]: c for c in node["children"]}

    def walk(self) -> list[dict[str, Any]]:
        out, stack = [], [self.origin]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(node["children"])
        return out


def start_cascade(emu: Emulator, origin: str, out_dir: Path, timeout: float = 90.0,
                  payload: dict[str, Any] | None = None) -> CascadeResult:
    """Dispatch `start` to the origin and wait for its run (and the saved outputs)."""
    reply = call(emu.base_url, "POST", f"/repos/{origin}/dispatches", token=TOKEN,
                 body={"event_type": "start", "client_payload": payload or {}})
    assert reply.status == 204, reply.body
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in emu.runs.list_runs(origin) if r.event_type == "start"]
        if runs and runs[0].status == "completed":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the origin run of {origin} did not finish in {timeout}s")
    run = runs[0]
    assert_ran_action_yml(emu, run)
    outputs = (out_dir / "outputs.txt").read_text().splitlines()
    tree = (out_dir / "tree.json").read_text()
    if not tree or len(outputs) < 4 or not outputs[2].isdigit():
        log = "\n".join(emu.runner.job_log(job.id) for job in run.jobs)
        raise AssertionError(f"the action gave no outputs ({outputs}); its log:\n{log[-3000:]}")
    return CascadeResult(origin_run=run, tree=json.loads(tree), root=outputs[0],
                         status=outputs[1], dispatched=int(outputs[2]), failed=int(outputs[3]))


def action_step_headers(action_yml: str | None = None) -> list[str]:
    """The log headers (``##[group]Run …``) of action.yml's steps that always run."""
    doc = yaml.safe_load(action_yml or (ROOT / "action.yml").read_text(encoding="utf-8"))
    steps = [parse_step("action.yml", "runs", i, raw)
             for i, raw in enumerate(doc["runs"]["steps"])]
    return [f"##[group]{step_header(step)}" for step in steps if step.if_ is None]


def assert_ran_action_yml(emu: Emulator, run: RunRecord) -> None:
    """The run's tako step went through action.yml's steps (not a shortcut)."""
    log = "\n".join(emu.runner.job_log(job.id) for job in run.jobs)
    headers = action_step_headers()
    assert len(headers) >= 3
    for header in headers:
        assert header in log, f"{header!r} not in the log of run {run.id}:\n{log[-2000:]}"
    assert "running the installed tako-gha action entry directly" not in log


def annotations(emu: Emulator, run: RunRecord) -> list[str]:
    """``level title: message`` of every annotation of the run's jobs."""
    return [f"{a.level} {a.title}: {a.message}" for job in run.jobs for a in job.annotations]
