"""End to end on the emulator: real HTTP, real workflow runs, children that fan out
again from inside their runs (``python -m tako_gha fan-out`` in a ``run:`` step).

One world holds every scenario, each under its own event type, so one emulator
serves the whole module. Origin of every cascade: acme/a.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tako_gha.core.events import Event
from tako_gha.core.tree import Node, NodeState, TreeReport, TreeStatus
from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.engine.api import FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.surfaces.connect import open_forge

pytestmark = pytest.mark.e2e
TOKEN = "t-admin"
QUICK = {"poll_min_interval": 0.1, "poll_max_interval": 0.5, "sibling_grace": 0.3,
         "discovery_timeout": 8.0, "timeout": 45.0}
CHILD_ENV = {"GITHUB_TOKEN": "${{ secrets.TAKO_TOKEN }}", "TAKO_POLL_MIN_INTERVAL": "0.1",
             "TAKO_POLL_MAX_INTERVAL": "0.5", "TAKO_SIBLING_GRACE": "0.3"}


def workflow(event: str, *, run_name: bool = True, work: str = "echo working",
             fan_out: str | None = None) -> str:
    lines = ["name: on-tako"]
    if run_name:
        lines.append("run-name: ${{ github.event.client_payload.tako.title || github.workflow }}")
    lines += ["on:", "  repository_dispatch:", f"    types: [{event}]", "jobs:", "  work:",
              "    runs-on: ubuntu-latest", "    steps:", "      - name: work",
              f"        run: {work}"]
    if fan_out is not None:
        lines += ["      - name: fan out", "        env:"]
        lines += [f'          {k}: "{v}"' for k, v in CHILD_ENV.items()]
        lines += ["        run: |",
                  f"          {sys.executable} -m tako_gha fan-out --event {event} "
                  f"--timeout 30s --discovery-timeout 8s {fan_out}"]
    return "\n".join(lines) + "\n"


def tako_yml(subscriptions: list[tuple[str, str]], inputs: dict[str, str] | None = None) -> str:
    lines = ["version: 1", "events:", "  subscriptions:"]
    for producer, event in subscriptions:
        lines += [f"    - artifact: {producer}", f"      events: [{event}]"]
        if inputs:
            lines.append("      inputs:")
            lines += [f'        {k}: "{v}"' for k, v in inputs.items()]
    return "\n".join(lines) + "\n"


def repo(subs: list[tuple[str, str]], workflows: dict[str, str] | None = None,
         inputs: dict[str, str] | None = None) -> dict[str, str]:
    files = {"tako.yml": tako_yml(subs, inputs)}
    for name, text in (workflows or {}).items():
        files[f".github/workflows/{name}"] = text
    return files


def build_world() -> dict[str, dict[str, str]]:
    a = "acme/a"
    dedupe_arg = "--dedupe ${{ github.event.client_payload.inputs.dedupe }} " \
                 "--payload '{\"dedupe\": \"${{ github.event.client_payload.inputs.dedupe }}\"}'"
    world: dict[str, dict[str, str]] = {
        a: repo([("acme/y", "cyc")], {"w.yml": workflow("cyc")}),
        # simple 1 -> 2
        "acme/b": repo([(a, "simple")], {"w.yml": workflow("simple")}),
        "acme/c": repo([(a, "simple")], {"w.yml": workflow("simple")}),
        # diamond a -> b2, c2 -> d2
        "acme/b2": repo([(a, "diamond")], {"w.yml": workflow("diamond", fan_out=dedupe_arg)},
                        {"dedupe": "{{ .event.payload.dedupe }}"}),
        "acme/c2": repo([(a, "diamond")], {"w.yml": workflow("diamond", fan_out=dedupe_arg)},
                        {"dedupe": "{{ .event.payload.dedupe }}"}),
        "acme/d2": repo([("acme/b2", "diamond"), ("acme/c2", "diamond")],
                        {"w.yml": workflow("diamond", work="sleep 1")}),
        # chain a -> b3 -> c3 -> d3
        "acme/b3": repo([(a, "chain")], {"w.yml": workflow("chain", fan_out="")}),
        "acme/c3": repo([("acme/b3", "chain")], {"w.yml": workflow("chain", fan_out="")}),
        "acme/d3": repo([("acme/c3", "chain")], {"w.yml": workflow("chain")}),
        # a hanging child
        "acme/h": repo([(a, "hang")], {"w.yml": workflow("hang", work="sleep 60")}),
        # cycle a -> y -> a
        "acme/y": repo([(a, "cyc")], {"w.yml": workflow("cyc", fan_out="")}),
        # failing grandchild a -> f1 -> f2
        "acme/f1": repo([(a, "fg")], {"w.yml": workflow("fg", fan_out="")}),
        "acme/f2": repo([("acme/f1", "fg")], {"w.yml": workflow("fg", work="exit 1")}),
        # subscribed, but no workflow listens
        "acme/n": repo([(a, "nl")]),
        # receiver without run-name
        "acme/u": repo([(a, "heur")], {"w.yml": workflow("heur", run_name=False)}),
        # ... one level down: only its parent's fan-out can match it
        "acme/v1": repo([(a, "hdeep")], {"w.yml": workflow("hdeep", fan_out="")}),
        "acme/v2": repo([("acme/v1", "hdeep")], {"w.yml": workflow("hdeep", run_name=False)}),
    }
    for i in range(10):
        world[f"acme/k{i}"] = repo([(a, "conc")], {"w.yml": workflow("conc", work="sleep 0.4")})
    for i in range(5):
        world[f"acme/p{i}"] = repo([(a, "faulty")], {"w.yml": workflow("faulty")})
    return world


SETTINGS = {"secrets": {"TAKO_TOKEN": TOKEN}, "tokens": {TOKEN: {"repos": ["*"]}},
            "admin_token": TOKEN, "runner": {"capacity": 12}}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = write_world(tmp_path_factory.mktemp("e2e") / "world", build_world(), SETTINGS)
    emulator = Emulator(root, port=0).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def forge(emu: Emulator, tmp_path: Path) -> Any:
    return open_forge(emu.base_url, token=TOKEN, cache_dir=tmp_path / "cache")


def cascade(forge: Any, event: str, payload: dict | None = None, **opts: Any) -> TreeReport:
    request = FanOutRequest(event=Event(event, "acme/a", payload or {}), org="acme")
    return fan_out(forge, request, FanOutOptions(**{**QUICK, **opts}))


def shape(node: Node) -> list[tuple[int, str, str]]:
    return [(n.depth, n.repo, n.state.value) for n in node.walk()][1:]


def runs_of(emu: Emulator, *repos: str) -> list[Any]:
    wanted = set(repos)
    return [r for r in emu.runs.all_runs() if r.repo in wanted]


def test_simple_one_to_two(forge: Any, emu: Emulator) -> None:
    report = cascade(forge, "simple")
    assert report.status is TreeStatus.SUCCESS
    assert shape(report.origin) == [(1, "acme/b", "success"), (1, "acme/c", "success")]
    assert all(n.correlation == "strict" for n in report.origin.children)
    assert len(runs_of(emu, "acme/b", "acme/c")) == 2


@pytest.mark.parametrize("dedupe, d_runs", [("none", 2), ("root", 1)])
def test_diamond(forge: Any, emu: Emulator, dedupe: str, d_runs: int) -> None:
    before = len(runs_of(emu, "acme/d2"))
    report = cascade(forge, "diamond", {"dedupe": dedupe}, dedupe=dedupe)
    assert report.status is TreeStatus.SUCCESS, shape(report.origin)
    ds = [n for n in report.origin.walk() if n.repo == "acme/d2"]
    assert len(ds) == 2  # one under b2, one under c2
    states = sorted(n.state.value for n in ds)
    if dedupe == "none":
        assert states == ["success", "success"]
        assert len(runs_of(emu, "acme/d2")) - before == 2
    else:
        assert states == ["deduplicated", "success"]
        dup = next(n for n in ds if n.state is NodeState.DEDUPLICATED)
        first = next(n for n in ds if n.state is NodeState.SUCCESS)
        assert dup.duplicate_of == first.id
        # A racing second dispatch is cancelled; at most one d2 run did the work.
        new = runs_of(emu, "acme/d2")[before:]
        assert sum(1 for r in new if r.conclusion == "success") == d_runs


def test_deep_chain_every_level_in_the_root_tree(forge: Any) -> None:
    report = cascade(forge, "chain")
    assert report.status is TreeStatus.SUCCESS
    assert shape(report.origin) == [(1, "acme/b3", "success"), (2, "acme/c3", "success"),
                                    (3, "acme/d3", "success")]


def test_hanging_child_times_out_and_is_cancelled(forge: Any, emu: Emulator) -> None:
    report = cascade(forge, "hang", timeout=2.0)
    assert report.status is TreeStatus.TIMED_OUT and report.status.exit_code == 3
    node = report.origin.children[0]
    assert node.state is NodeState.TIMED_OUT and node.runs
    report = cascade(forge, "hang", timeout=2.0, cancel_on_timeout=True)
    node = report.origin.children[0]
    assert report.status is TreeStatus.TIMED_OUT
    # Cancelled by the fan-out because its deadline passed: timed out, and it says so.
    assert node.state is NodeState.TIMED_OUT and node.conclusion == "cancelled"
    assert node.reason == "cancelled when the 2s timeout passed"
    assert report.origin.state is NodeState.TIMED_OUT
    run = emu.runs.get(node.runs[0].run_id)
    assert run is not None and run.conclusion == "cancelled"
    for other in runs_of(emu, "acme/h"):  # the first one too, for the next tests
        if other.status != "completed":
            emu.runner.cancel(other.id)


def test_cycle_is_refused_at_the_child_with_the_path(forge: Any, emu: Emulator) -> None:
    before = len(runs_of(emu, "acme/a"))
    report = cascade(forge, "cyc")
    assert report.status is TreeStatus.FAILURE
    y = report.origin.children[0]
    assert y.repo == "acme/y" and y.state is NodeState.FAILURE
    assert "cycle: acme/a → acme/y → acme/a" in (y.reason or "")
    assert len(runs_of(emu, "acme/a")) == before  # never dispatched back to a


def test_failing_grandchild_fails_the_root_with_the_path(forge: Any) -> None:
    report = cascade(forge, "fg")
    assert report.status is TreeStatus.FAILURE and report.status.exit_code == 1
    assert shape(report.origin) == [(1, "acme/f1", "failure"), (2, "acme/f2", "failure")]
    f1 = report.origin.children[0]
    assert "acme/f1 → acme/f2" in (f1.reason or "")


def test_no_listening_workflow_is_not_started(forge: Any) -> None:
    report = cascade(forge, "nl", discovery_timeout=1.5)
    node = report.origin.children[0]
    assert node.state is NodeState.NOT_STARTED
    assert node.hint == ("acme/n may have no workflow listening for "
                         "repository_dispatch type nl on its default branch "
                         "(tako-gha lint in its checkout checks)")


def test_receiver_without_run_name_is_found_heuristically(forge: Any) -> None:
    report = cascade(forge, "heur")
    node = report.origin.children[0]
    assert node.state is NodeState.SUCCESS and node.correlation == "heuristic"


def test_heuristic_grandchild_is_handed_to_the_root(forge: Any) -> None:
    report = cascade(forge, "hdeep")
    assert report.status is TreeStatus.SUCCESS
    assert shape(report.origin) == [(1, "acme/v1", "success"), (2, "acme/v2", "success")]
    v2 = report.origin.children[0].children[0]
    assert v2.correlation == "heuristic" and v2.runs and v2.runs[0].run_id


def test_concurrency_limit_two_over_ten(forge: Any, emu: Emulator) -> None:
    repos = [f"acme/k{i}" for i in range(10)]
    report = cascade(forge, "conc", concurrency_limit=2)
    assert report.status is TreeStatus.SUCCESS and len(report.origin.children) == 10
    runs = runs_of(emu, *repos)
    assert len(runs) == 10
    events = sorted([(r.created_at, 1) for r in runs] + [(r.updated_at, -1) for r in runs],
                    key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    assert peak <= 2


def _cli(emu: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "TAKO_", "GH_"))}
    env.update({"GITHUB_TOKEN": TOKEN, "TAKO_POLL_MIN_INTERVAL": "0.1",
                "TAKO_POLL_MAX_INTERVAL": "0.5", "TAKO_SIBLING_GRACE": "0.3",
                "TAKO_STATE_DIR": os.environ["TAKO_STATE_DIR"]})  # tests/conftest.py
    return subprocess.run([sys.executable, "-m", "tako_gha", *args, "--api-url", emu.base_url],
                          capture_output=True, text=True, env=env, timeout=60)


def test_fire_and_forget_then_status_from_a_fresh_process(emu: Emulator) -> None:
    fired = _cli(emu, "fan-out", "--event", "simple", "--source", "acme/a", "--no-wait",
                 "--format", "json")
    assert fired.returncode == 0, fired.stderr
    sent = json.loads(fired.stdout)
    assert sent["status"] == "running"
    assert [n["state"] for n in sent["tree"]["children"]] == ["dispatched", "dispatched"]
    done = _cli(emu, "status", sent["root"], "--org", "acme", "--wait", "--format", "json")
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    assert tree["root"] == sent["root"] and tree["status"] == "success"
    assert tree["tree"]["repo"] == "acme/a" and tree["tree"]["id"] == sent["root"]
    # The same nodes the origin dispatched, now finished, with their runs.
    assert [(n["repo"], n["id"]) for n in tree["tree"]["children"]] == \
        [(n["repo"], n["id"]) for n in sent["tree"]["children"]]
    assert all(n["state"] == "success" and n["run_id"] for n in tree["tree"]["children"])


def test_faults_nothing_dispatched_twice_nothing_missing(forge: Any, emu: Emulator) -> None:
    repos = [f"acme/p{i}" for i in range(5)]
    emu.set_faults({
        "seed": 3,
        "dispatch": {"fail_after_create": {"status": 502, "next": 2}},
        "run_delay": "0.2s..0.8s",
        "secondary": {"kind": "*", "rate": 0.3, "status": 429, "retry_after": 0},
    })
    since = time.time()
    try:
        report = cascade(forge, "faulty", redispatch_grace=5.0)
    finally:
        emu.set_faults({})
    # From the emulator's request log: the 5xx-after-create did happen, and every
    # repo got exactly one dispatch that created a run (204, or 502 after creating).
    created = [e["path"] for e in emu.requests(since) if e["method"] == "POST"
               and e["path"].endswith("/dispatches") and e["status"] in (204, 502)]
    assert sum(1 for e in emu.requests(since) if e["path"].endswith("/dispatches")
               and e["status"] == 502) == 2
    assert sorted(created) == [f"/repos/{r}/dispatches" for r in repos]
    assert report.status is TreeStatus.SUCCESS, shape(report.origin)
    assert sorted(n.repo for n in report.origin.children) == repos
    runs = runs_of(emu, *repos)
    assert sorted(r.repo for r in runs) == repos  # exactly one run each
    assert report.cost["engine"]["redispatched"] == 0
    assert sum(report.cost["retries"].values()) > 0  # the 429 storm did happen


def test_status_of_unknown_root_is_a_clear_error(emu: Emulator) -> None:
    result = _cli(emu, "status", "0" * 12, "--org", "acme")
    assert result.returncode == 2
    assert "carries root" in result.stderr and "Traceback" not in result.stderr


def test_a_lost_dispatch_is_resent_once_and_runs_once(forge: Any, emu: Emulator) -> None:
    repos = [f"acme/p{i}" for i in range(5)]
    before = len(runs_of(emu, *repos))
    emu.set_faults({"errors": [{"kind": "dispatch", "status": 502, "next": 1}]})
    try:
        report = cascade(forge, "faulty", redispatch_grace=1.0)
    finally:
        emu.set_faults({})
    assert report.status is TreeStatus.SUCCESS, shape(report.origin)
    assert report.cost["engine"]["redispatched"] == 1
    resent = [n for n in report.origin.children if "re-sent once" in (n.reason or "")]
    assert len(resent) == 1
    assert len(runs_of(emu, *repos)) - before == 5  # one run per child, none twice


def test_cancel_on_timeout_reaches_runs_not_seen_yet(forge: Any, emu: Emulator) -> None:
    """The timeout can fall before any poll has seen the child's run (it was dispatched
    a moment ago, or polling is slow): cancel_on_timeout must still cancel that run
    instead of leaving it going with 'cancel not confirmed'."""
    report = cascade(forge, "hang", timeout=1.0, cancel_on_timeout=True,
                     poll_min_interval=5.0, poll_max_interval=5.0)
    assert report.status is TreeStatus.TIMED_OUT
    node = report.origin.children[0]
    mine = [r for r in runs_of(emu, "acme/h")
            if r.client_payload and r.client_payload["tako"]["root"] == report.root]
    assert len(mine) == 1
    assert mine[0].status == "completed" and mine[0].conclusion == "cancelled"
    assert node.state is NodeState.TIMED_OUT and node.runs[0].run_id == mine[0].id
    assert node.reason == "cancelled when the 1s timeout passed"


def test_fire_and_forget_deep_chain_then_status_wait_has_every_level(emu: Emulator) -> None:
    """The fresh process knows only the root id: it must still find the grandchildren
    and great-grandchildren (dispatched by the children's own runs) through title tags."""
    fired = _cli(emu, "fan-out", "--event", "chain", "--source", "acme/a", "--no-wait",
                 "--format", "json")
    assert fired.returncode == 0, fired.stderr
    sent = json.loads(fired.stdout)
    assert [n["repo"] for n in sent["tree"]["children"]] == ["acme/b3"]
    done = _cli(emu, "status", sent["root"], "--org", "acme", "--wait", "--format", "json")
    assert done.returncode == 0, done.stderr
    tree = json.loads(done.stdout)
    assert tree["status"] == "success"
    path, node = [], tree["tree"]
    while node["children"]:
        (node,) = node["children"]
        path.append((node["repo"], node["depth"], node["state"], node["correlation"]))
    assert path == [("acme/b3", 1, "success", "strict"), ("acme/c3", 2, "success", "strict"),
                    ("acme/d3", 3, "success", "strict")]
    assert tree["tree"]["children"][0]["id"] == sent["tree"]["children"][0]["id"]
