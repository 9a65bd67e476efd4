"""The honest tree of ``bench_wait.py``: every intermediate level runs the real engine.

The emulator's simulated runner holds the runs of intermediate repositories in
progress (``runner.simulate.hold``) and never dispatches for them; a *workers*
process (one per tree, beside the root's own process) plays their fan-out step: for
every held run it sees (``GET /_emulator/held``, free), one thread runs the engine's
``fan_out`` in that run's cascade context (read from its dispatch, as the action
reads it), with its own client, ledger and governor — as a separate process would —
on the same token as the root; when the fan-out ends, its report goes up as the run's
artifact and the run ends with the fan-out's result (``POST /_emulator/held/ID``).
The emulator never imports the engine.

Two trees run side by side in one run, each on its own token: ``tree`` (the token's
budget handed down the cascade, children reporting up) and ``tree-alone`` (today's
way: every process governs itself alone against the whole token, and the root lists
the repositories below each level to find its runs). Receivers are exact-mode
(workflow dispatch answered with the run): finding a run costs no listing at any level.
Intermediate levels wait on their subtree (``wait_for_children``), or, with
``--levels forget``, fire and forget: their run ends once their children are
dispatched, and the root follows the whole tree by the levels' reports.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

EVENT = "built"


def tree_repos(prefix: str, fans: list[int]) -> tuple[str, dict[str, list[str]]]:
    """(origin, parent -> its children) for a tree of ``fans`` children per level."""
    source = f"bench/{prefix}"
    children: dict[str, list[str]] = {}
    level = [source]
    for depth, fan in enumerate(fans, start=1):
        nxt = []
        for parent in level:
            kids = [(f"bench/{prefix}{j}" if depth == 1 else f"{parent}-{j}")
                    for j in range(fan)]
            children[parent] = kids
            nxt += kids
        level = nxt
    return source, children


def below(children: dict[str, list[str]], repo: str) -> list[str]:
    out: list[str] = []
    todo = list(children.get(repo, []))
    while todo:
        kid = todo.pop()
        out.append(kid)
        todo += children.get(kid, [])
    return sorted(out)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return json.loads(resp.read())


def _post(url: str, body: Any) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


class Workers:
    """Plays the fan-out step of every held run of one tree."""

    def __init__(self, url: str, token: str, children: dict[str, list[str]],
                 shared: bool, timeout: float, wait: bool = True) -> None:
        self.url, self.token, self.children = url, token, children
        self.shared, self.timeout, self.wait = shared, timeout, wait
        self.intermediates = {r.lower() for r, kids in children.items() if kids}
        self.started: set[int] = set()
        self.finished = 0
        self.lock = threading.Lock()
        self.requests = 0
        self.refusals = 0
        self.halvings = 0
        self.errors: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="tako-tree-"))

    def run(self, expected: int) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        threads: list[threading.Thread] = []
        while time.monotonic() < deadline:
            with self.lock:
                if self.finished >= expected:
                    break
            for held in _get(self.url + "/_emulator/held"):
                if held["repo"].lower() not in self.intermediates or held["id"] in self.started:
                    continue
                self.started.add(held["id"])
                thread = threading.Thread(target=self._play, args=(held,), daemon=True)
                thread.start()
                threads.append(thread)
            time.sleep(0.5)
        for thread in threads:
            thread.join(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return {"intermediates": len(self.started), "finished": self.finished,
                "requests": self.requests, "refusals": self.refusals,
                "halvings": self.halvings, "errors": self.errors[:5]}

    def _play(self, held: dict[str, Any]) -> None:
        try:
            conclusion, artifacts = self._fan_out(held)
        except Exception as exc:  # a broken level must still end its run
            conclusion, artifacts = "failure", {}
            with self.lock:
                self.errors.append(f"{held['repo']}: {type(exc).__name__}: {exc}")
        _post(f"{self.url}/_emulator/held/{held['id']}",
              {"conclusion": conclusion, "artifacts": artifacts})
        with self.lock:
            self.finished += 1

    def _fan_out(self, held: dict[str, Any]) -> tuple[str, dict[str, str]]:
        from tako_gha.core.events import Event
        from tako_gha.emulator.artifacts import zip_files
        from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest
        from tako_gha.engine.context import tako_from_inputs
        from tako_gha.engine.fanout import fan_out
        from tako_gha.engine.report import REPORT_FILE, report_name
        from tako_gha.surfaces.connect import open_forge

        repo = held["repo"]
        payload = (tako_from_inputs(held.get("inputs")) if held.get("event") ==
                   "workflow_dispatch" else held.get("client_payload"))
        ctx = CascadeContext.from_client_payload(payload, repo)
        if ctx is None or ctx.parent is None:
            raise ValueError("the run carries no cascade context")
        mine = below(self.children, repo)
        report_to = self.tmp / f"{held['id']}.json"
        request = FanOutRequest(event=Event(EVENT, repo, {"v": 1}), org="bench",
                                repos=tuple([repo, *mine]), context=ctx,
                                extra={"report_to": str(report_to)} if self.shared else {})
        size = max(1, len(self.children.get(repo, [])))
        options = FanOutOptions(wait=self.wait, timeout=self.timeout, discovery_timeout=600,
                                concurrency_limit=size, max_children=size,
                                dispatches_per_minute=100_000, dispatches_per_hour=100_000,
                                poll_workers=2, shared_budget=self.shared,
                                reports=self.shared, first_attempt=True)
        forge = open_forge(self.url, token=self.token, cache_dir=None)
        try:
            report = fan_out(forge, request, options)
        finally:
            ledger = forge.ledger
            with self.lock:
                self.requests += ledger.total
                self.refusals += ledger.secondary_refusals
            forge.close()
        with self.lock:
            self.halvings += int(report.cost["engine"]["share"]["halvings"])
        artifacts = {}
        if report_to.is_file():
            data = zip_files({REPORT_FILE: report_to.read_bytes()})
            artifacts[report_name(ctx.root, ctx.parent)] = base64.b64encode(data).decode()
        ok = report.status.value in ("success", "running")  # running: fired and forgot
        return ("success" if ok else "failure"), artifacts
