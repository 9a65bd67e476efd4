"""Waiting at scale: tako vs the anchors' pattern, side by side on one emulator.

    python benchmarks/bench_wait.py [--sizes 100,1000] [--minutes 5] [--tree 10,30,33]
                                    [--latency 50ms] [--write]
    python benchmarks/bench_wait.py --quick      # seconds; what the test suite runs

One emulator (a subprocess, github.com's limits on, ``latency`` added to every
answer, the simulated runner: every run lasts ``--minutes`` and succeeds, no process)
serves every scenario at the same time, each with a token of its own so budgets do
not mix:

- for each N in ``--sizes``, N children dispatched and awaited by tako (the engine's
  ``fan_out``: discovery, dispatch, then listings only where a run can still appear
  and the known runs' states in GraphQL batches, under the budget governor), and
  N other children dispatched and awaited by the anchors' pattern — what one
  repository-dispatch action plus one await-remote-run action per child do: dispatch,
  list the repo's runs every 5 s until the run with its id in the title appears, then
  a conditional GET of that run every 5 s until it completes (a faithful Python
  stand-in: 32 threads, requests with ETags, a refusal is counted and the poll goes
  on at the next tick, a refused dispatch is sent again after its retry-after; it is
  stopped 10 minutes after the runs' own time and reported as it stands);
- for each N in ``--sizes``, N more children whose subscriptions name a workflow that
  listens on ``workflow_dispatch`` (exact mode): tako dispatches them by workflow
  dispatch and GitHub's answer names each run, so none is found by listing; beside
  today's ``repository_dispatch`` figures for the same N (``exact-N`` vs ``tako-N``);
- the honest tree: ``--tree`` fan-outs per level (3 levels) where every intermediate
  level runs the real engine and makes its real API calls on the same token as the
  root — in-process workers: one thread per intermediate run, each with its own
  client, ledger and governor, in one *workers* process beside the root's
  (bench_tree.py); the simulated runner holds those runs until their fan-out ends —
  awaited by tako from its origin with a GitHub App installation's budget (12,500
  requests an hour: a user's 5,000 cannot list 10,000 repositories once within the
  hour); twice, side by side, each tree on its own token: ``tree`` (the token's budget
  handed down, children reporting up) and ``tree-alone`` (today's per-process
  governor: every process governs itself against the whole token, the root lists the
  repositories below each level; it is stopped after its dispatches' time at 720 REST
  points a minute, the runs' own time and ten minutes more, and reported as it
  stands). Receivers are exact-mode at every level; the
  intermediate levels fire and forget (``--levels wait``: they wait on their subtree),
  so only the root waits, following the levels below by their reports. The tree's
  figures are the token's, summed over all its processes, as the emulator counts them:
  requests, secondary-limit refusals, peak REST and GraphQL points in any trailing
  minute. No scenario is exempt from a goal; a goal missed is printed as missed.

Each strategy runs in its own process, so its peak RSS is its own. GitHub's limit
on content creation (80/min, 500/h), which GitHub does not say applies to a
dispatch, is lifted for everyone: with it, 1,000 dispatches do not fit in an hour.
The per-minute points (REST 900, a dispatch 5; GraphQL 2,000; 304s count) and the
primary budgets (5,000/h per token, REST and GraphQL) stay on.

Measured per strategy: requests (all sent, 304s, paid = not 304), dispatches, peak
REST and GraphQL points in any trailing minute (counted by the client), refusals
by GitHub's secondary limits (as the client saw them), lag from the last run's end
(the emulator's updated_at, 1 s resolution) to the strategy's exit, wall time, peak
RSS. ``--write`` replaces the "Waiting at scale" section of benchmarks/RESULTS.md
(a ``--quick`` run only with ``--results FILE``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import bench_tree
import results

EVENT = "built"
ANCHOR_INTERVAL = 5.0  # await-remote-run / return-dispatch poll every 5 s
ANCHOR_THREADS = 32
# The anchors' pattern on 1,000 children asks ~12,000 times a minute against 900
# points: it may never finish. It is stopped this long after the runs' own time and
# reported as it stands (children seen done, requests, refusals).
ANCHOR_EXTRA = 600.0
# A user's token (5,000 REST requests an hour) cannot list 10,000 repositories once
# within the hour; the tree's origin uses a GitHub App installation's budget.
APP_BUDGET = 12_500
SECONDARY = ("secondary rate limit",)


# ------------------------------------------------------------------ the world
def _receiver() -> str:
    from tako_gha.emulator.worldgen import receiver_workflow

    return receiver_workflow(EVENT, "true")


def _subscriber(producer: str) -> str:
    from tako_gha.emulator.worldgen import subscriber_config

    return subscriber_config(producer, EVENT)


# Exact mode: the receiver listens on workflow_dispatch (declaring tako's input) and
# the subscription names it.
EXACT_RECEIVER = ("name: on-tako\non:\n  workflow_dispatch:\n    inputs:\n"
                  "      tako: {description: tako-gha's cascade context}\n"
                  "jobs:\n  work:\n    runs-on: ubuntu-latest\n    steps:\n"
                  "      - name: work\n        run: 'true'\n")


# The trees' receivers also carry the title in their run-name, as the example does: a
# root that lists (today's way, tree-alone) finds a level's runs by it.
TREE_RECEIVER = EXACT_RECEIVER.replace(
    "name: on-tako\n",
    "name: on-tako\nrun-name: ${{ inputs.tako && fromJSON(inputs.tako).title || "
    "github.workflow }}\n", 1)


def _exact_subscriber(producer: str) -> str:
    return _subscriber(producer) + "      workflow: w.yml\n"


@dataclass
class Scenario:
    name: str  # "tako-100", "anchors-1000", "tree"
    strategy: str  # "tako" | "anchors"
    token: str
    source: str
    targets: list[str]  # what the origin dispatches to
    repos: list[str]  # every repo whose runs belong to it
    shared: bool = True  # the token's budget handed down, children reporting up
    children: dict[str, list[str]] = field(default_factory=dict)  # tree: parent -> kids
    levels_wait: bool = True  # intermediate levels wait on their subtree (else forget)
    # seconds this scenario's processes may run (None: the run's timeout); tree-alone
    # gets about what the shared tree needs, then is reported as it stands
    deadline: float | None = None


def dispatch_seconds(runs: int) -> float:
    """The least time ``runs`` dispatches take at 720 REST points a minute, 5 each."""
    return runs * 5 / 720 * 60


def alone_deadline(runs: int, minutes: float) -> float:
    """How long tree-alone may run: its runs' dispatches, the runs' own time, and ten
    minutes more."""
    return dispatch_seconds(runs) + minutes * 60 + 600


def build(root: Path, sizes: list[int], tree: list[int], minutes: float,
          latency: str, levels_wait: bool = True) -> tuple[Path, list[Scenario]]:
    from tako_gha.emulator.worldgen import build_bare_world

    world: dict[str, dict[str, str]] = {}
    scenarios: list[Scenario] = []
    flow = _receiver()
    for n in sizes:
        for strategy in ("tako", "anchors", "exact"):
            name = f"{strategy}-{n}"
            source = f"bench/src-{name}"
            world[source] = {"tako.yml": "version: 1\n"}
            kids = [f"bench/{name}-{i:04d}" for i in range(n)]
            exact = strategy == "exact"
            for kid in kids:
                world[kid] = {"tako.yml": (_exact_subscriber if exact else _subscriber)(source),
                              ".github/workflows/w.yml": EXACT_RECEIVER if exact else flow}
            scenarios.append(Scenario(name, "tako" if exact else strategy, f"t-{name}",
                                      source, kids, kids))
    hold: list[str] = []
    for name, prefix, shared in (("tree", "t", True), ("tree-alone", "u", False)):
        if not tree:
            break
        source, children = bench_tree.tree_repos(prefix, tree)
        world[source] = {"tako.yml": "version: 1\n"}
        every = bench_tree.below(children, source)
        for parent, kids in children.items():
            for kid in kids:
                world[kid] = {"tako.yml": _exact_subscriber(parent),
                              ".github/workflows/w.yml": TREE_RECEIVER}
            if parent != source and kids:
                hold.append(parent)
        # tree-alone lists what the reports would name, on the same hourly budget: on
        # a large tree it runs out and waits for resets long after the tree is done
        deadline = None if shared else alone_deadline(len(every), minutes)
        scenarios.append(Scenario(name, "tako", f"t-{name}", source, children[source],
                                  every, shared, children, levels_wait, deadline))
    settings = {
        "tokens": {s.token: ({"repos": ["*"], "rate_limit": APP_BUDGET,
                              "graphql_limit": APP_BUDGET} if s.children
                             else {"repos": ["*"]}) for s in scenarios} | {"t-admin": {}},
        "admin_token": "t-admin",
        "limits": {"content_per_minute": 1_000_000, "content_per_hour": 1_000_000},
        "runner": {"simulate": {"duration": f"{minutes * 60:g}s", "queued": "1s",
                                "conclusion": "success", "hold": hold}},
        "faults": {"latency": {"*": latency}} if latency else {},
    }
    return build_bare_world(root, world, settings), scenarios


class Server:
    """``tako-gha emulator serve`` in a subprocess."""

    def __init__(self, world: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TAKO_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tako_gha", "emulator", "serve", "--world", str(world)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise SystemExit(f"emulator did not start: {self.url!r}")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=120) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


# ------------------------------------------------------------------ measuring
@dataclass
class Figures:
    scenario: str
    strategy: str
    children: int
    status: str = ""
    requests: int = 0
    not_modified: int = 0
    dispatches: int = 0
    peak_rest: int = 0
    peak_graphql: int = 0
    refusals: int = 0
    wall: float = 0.0
    exit_epoch: float = 0.0
    rss_mb: float = 0.0
    runs_seen: int = 0
    lag: float | None = None
    minutes_waited: float = 0.0
    governor: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def paid(self) -> int:
        return self.requests - self.not_modified

    @property
    def waiting_requests(self) -> int:
        return self.requests - self.dispatches

    @property
    def state_reads(self) -> int:
        """Batched reads of known runs' states (tako: GraphQL, 100 runs a query)."""
        return int((self.extra.get("engine") or {}).get("status_calls", 0))

    @property
    def start_per_child(self) -> float:
        """Requests per child to dispatch it and find its run: every request but the
        batched state reads (discovery, preflight, the dispatch, the listings)."""
        return (self.requests - self.state_reads) / self.children if self.children else 0.0

    @property
    def reads_per_child_minute(self) -> float:
        minutes = max(self.minutes_waited, 1 / 60)
        return self.state_reads / (self.children * minutes) if self.children else 0.0


    @property
    def tree(self) -> dict[str, Any]:
        """A tree's figures over all its processes (the token's, as the emulator counts)."""
        return self.extra.get("tree") or {}

    @property
    def per_run(self) -> float:
        return self.tree.get("requests", 0) / self.children if self.children else 0.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_tako(url: str, scenario: Scenario, timeout: float) -> Figures:
    from tako_gha.core.events import Event
    from tako_gha.engine.api import FanOutOptions, FanOutRequest
    from tako_gha.engine.fanout import fan_out
    from tako_gha.surfaces.connect import open_forge

    forge = open_forge(url, token=scenario.token, cache_dir=None)
    refusals = [0]

    def on_wait(event: Any) -> None:
        if event.reason == "secondary-limit":
            refusals[0] += 1

    forge.on_wait = on_wait
    messages: list[str] = []

    class Notes:
        def on_update(self, report: Any) -> None:
            pass

        def on_message(self, text: str) -> None:
            if text.startswith("polling slowed"):
                messages.append(text)

    request = FanOutRequest(event=Event(EVENT, scenario.source, {"v": 1}), org="bench",
                            repos=tuple([scenario.source, *scenario.repos]))
    size = len(scenario.targets)
    options = FanOutOptions(timeout=min(timeout, scenario.deadline or timeout),
                            discovery_timeout=600, concurrency_limit=size,
                            max_children=size, dispatches_per_minute=100_000,
                            dispatches_per_hour=100_000, shared_budget=scenario.shared,
                            reports=scenario.shared)
    started = time.monotonic()
    report = fan_out(forge, request, options, Notes())
    wall = time.monotonic() - started
    ledger = forge.ledger.to_json()
    figures = Figures(scenario.name, "tako", len(scenario.repos), status=report.status.value,
                      requests=ledger["total_calls"],
                      not_modified=sum(ledger["not_modified"].values()),
                      dispatches=ledger["calls"].get("dispatch", 0),
                      peak_rest=ledger["peak_points_per_minute"].get("rest", 0),
                      peak_graphql=ledger["peak_points_per_minute"].get("graphql", 0),
                      refusals=refusals[0], wall=wall, exit_epoch=time.time(),
                      rss_mb=_rss_mb(),
                      runs_seen=sum(len(n.runs) for n in report.origin.walk()),
                      governor=messages[0] if messages else "")
    figures.extra = {"calls": ledger["calls"], "engine": report.cost["engine"]}
    forge.close()
    return figures


class AnchorClient:
    """One HTTP session per thread, ETags per URL, every request counted."""

    def __init__(self, url: str, token: str) -> None:
        from tako_gha.forge.base import CostLedger

        self.url, self.token = url, token
        self.ledger = CostLedger()
        self.local = threading.local()
        self.etags: dict[str, tuple[str, Any]] = {}
        self.lock = threading.Lock()
        self.refusals = 0
        self.requests = 0
        self.not_modified = 0

    def _session(self) -> Any:
        import requests

        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers["Authorization"] = f"token {self.token}"
        return self.local.session

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, dict]:
        from tako_gha.forge.base import CallKind, request_points

        headers = {}
        if method == "GET":
            with self.lock:
                known = self.etags.get(path)
            if known:
                headers["If-None-Match"] = known[0]
        resp = self._session().request(method, self.url + path, json=body, headers=headers,
                                       timeout=60)
        self.ledger.record(CallKind.POLL, points=request_points(method, "rest"),
                           not_modified=resp.status_code == 304)
        with self.lock:
            self.requests += 1
            if resp.status_code == 304:
                self.not_modified += 1
        if resp.status_code in (403, 429) and any(
                m in resp.text.lower() for m in SECONDARY):
            with self.lock:
                self.refusals += 1
            return resp.status_code, None, dict(resp.headers)
        if resp.status_code == 304 and known:
            return 200, known[1], dict(resp.headers)
        data = resp.json() if resp.content else None
        if method == "GET" and resp.status_code == 200 and resp.headers.get("etag"):
            with self.lock:
                self.etags[path] = (resp.headers["etag"], data)
        return resp.status_code, data, dict(resp.headers)


def run_anchors(url: str, scenario: Scenario, timeout: float,
                run_seconds: float = 300.0) -> Figures:
    """Per child, independently: dispatch; list its repo's runs every 5 s until the
    run carrying its id appears; GET that run every 5 s until it completes."""
    from tako_gha.core.ids import TitleTag, make_title, new_root_id, parse_title

    client = AnchorClient(url, scenario.token)
    root = new_root_id()
    started = time.monotonic()
    deadline = started + min(timeout, run_seconds + ANCHOR_EXTRA)
    states: dict[str, dict[str, Any]] = {}
    for repo in scenario.targets:
        ident = new_root_id()
        states[repo] = {"id": ident, "run": None, "done": False, "sent": False,
                        "title": make_title(EVENT, scenario.source, TitleTag(root, None, ident)),
                        "next": started}
    dispatches = [0]

    def step(repo: str) -> None:
        state = states[repo]
        if not state["sent"]:
            # the id rides in the payload and the receiver's run-name shows it (the
            # receivers here read it where tako puts its title)
            status, _, headers = client.call("POST", f"/repos/{repo}/dispatches", {
                "event_type": EVENT, "client_payload": {"tako": {"title": state["title"]}}})
            dispatches[0] += 1
            if status == 204:
                state["sent"] = True
                state["next"] = time.monotonic() + ANCHOR_INTERVAL
            else:  # refused: try again after what GitHub asked
                state["next"] = time.monotonic() + float(headers.get("retry-after", 60))
            return
        if state["run"] is None:
            status, data, _ = client.call("GET", f"/repos/{repo}/actions/runs"
                                          "?event=repository_dispatch&per_page=100")
            for run in (data or {}).get("workflow_runs", []) if status == 200 else []:
                tag = parse_title(run.get("display_title"))
                if tag is not None and tag.id == state["id"]:
                    state["run"] = run["id"]
        else:
            status, data, _ = client.call("GET", f"/repos/{repo}/actions/runs/{state['run']}")
            if status == 200 and data and data.get("status") == "completed":
                state["done"] = True
                state["conclusion"] = data.get("conclusion")
                return
        state["next"] = time.monotonic() + ANCHOR_INTERVAL

    with ThreadPoolExecutor(ANCHOR_THREADS) as pool:
        while time.monotonic() < deadline:
            now = time.monotonic()
            due = [r for r, s in states.items() if not s["done"] and s["next"] <= now]
            if not due and all(s["done"] for s in states.values()):
                break
            list(pool.map(step, due))
            time.sleep(0.05)
    wall = time.monotonic() - started
    done = [s for s in states.values() if s["done"]]
    ok = len(done) == len(states) and all(s.get("conclusion") == "success" for s in done)
    status = "success" if ok else (f"stopped: {len(done):,} of {len(states):,} seen done "
                                   f"after {wall / 60:.0f} min")
    return Figures(scenario.name, "anchors", len(scenario.targets),
                   status=status, requests=client.requests,
                   not_modified=client.not_modified, dispatches=dispatches[0],
                   peak_rest=client.ledger.peak_per_minute.get("rest", 0), peak_graphql=0,
                   refusals=client.refusals, wall=wall, exit_epoch=time.time(),
                   rss_mb=_rss_mb(), runs_seen=len(done))


def role_main(args: argparse.Namespace) -> None:
    scenario = Scenario(**json.loads(Path(args.scenario).read_text()))
    if args.workers:  # the intermediate levels of a tree (bench_tree.py)
        workers = bench_tree.Workers(args.url, scenario.token, scenario.children,
                                     scenario.shared, scenario.deadline or args.timeout,
                                     scenario.levels_wait)
        expected = sum(1 for p, kids in scenario.children.items()
                       if kids and p != scenario.source)
        print(json.dumps(workers.run(expected)), flush=True)
        return
    if scenario.strategy == "tako":
        figures = run_tako(args.url, scenario, args.timeout)
    else:
        figures = run_anchors(args.url, scenario, args.timeout, args.run_seconds)
    print(json.dumps(asdict(figures)), flush=True)


# ------------------------------------------------------------------ the run
def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measure(sizes: list[int], tree: list[int], minutes: float, latency: str,
            workdir: Path, levels_wait: bool = True) -> list[Figures]:
    world, scenarios = build(workdir / "world", sizes, tree, minutes, latency, levels_wait)
    server = Server(world)
    # a tree dispatches every run at 5 REST points of 720 a minute: 10,210 take 71 min
    writes = dispatch_seconds(sum(len(s.repos) for s in scenarios if s.children))
    timeout = minutes * 60 + 3600 + 2 * writes
    procs: list[tuple[Scenario, subprocess.Popen[str]]] = []
    helpers: list[tuple[Scenario, subprocess.Popen[str]]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TAKO_"))}
    try:
        for scenario in scenarios:
            spec = workdir / f"{scenario.name}.json"
            spec.write_text(json.dumps(asdict(scenario)))
            proc = subprocess.Popen(
                [sys.executable, __file__, "--role", "--url", server.url, "--scenario",
                 str(spec), "--timeout", str(timeout), "--run-seconds", str(minutes * 60)],
                stdout=subprocess.PIPE, text=True, env=env)
            procs.append((scenario, proc))
            if scenario.children:
                helpers.append((scenario, subprocess.Popen(
                    [sys.executable, __file__, "--role", "--workers", "--url", server.url,
                     "--scenario", str(spec), "--timeout", str(timeout)],
                    stdout=subprocess.PIPE, text=True, env=env)))
        out: list[Figures] = []
        for scenario, proc in procs:
            stdout, _ = proc.communicate()
            lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                raise SystemExit(f"{scenario.name} failed (exit {proc.returncode})")
            out.append(Figures(**json.loads(lines[-1])))
        played = {}
        for scenario, proc in helpers:
            stdout, _ = proc.communicate()
            lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
            played[scenario.name] = json.loads(lines[-1]) if lines else {"failed": True}
        runs = server.get("/_emulator/runs")
        stats = server.get("/_emulator/stats")
        tokens, kinds = stats.get("tokens", {}), stats.get("by_token", {})
    finally:
        server.stop()
    for figures, (scenario, _) in zip(out, procs, strict=True):
        if scenario.children:  # the token's figures, over every process of the tree
            token_id = "tok-" + hashlib.sha256(scenario.token.encode()).hexdigest()[:10]
            figures.extra["tree"] = {**tokens.get(token_id, {}),
                                     "kinds": kinds.get(token_id, {}),
                                     "workers": played.get(scenario.name, {})}
        mine = {r.lower() for r in scenario.repos}
        ends = [_parse_iso(r["updated_at"]) for r in runs
                if r["repository"]["full_name"].lower() in mine and r["status"] == "completed"]
        starts = [_parse_iso(r["created_at"]) for r in runs
                  if r["repository"]["full_name"].lower() in mine]
        if ends:
            figures.lag = figures.exit_epoch - max(ends)
            figures.minutes_waited = (max(ends) - min(starts)) / 60
    return out


# ------------------------------------------------------------------ reporting
def _n(value: float) -> str:
    return f"{value:,.0f}"


def table(rows: list[Figures]) -> str:
    lines = ["| scenario | children | status | requests | 304s | paid | dispatches "
             "| waiting requests per child | peak REST pts/min | peak GraphQL pts/min "
             "| secondary refusals | lag last end → exit | wall time | peak RSS |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in rows:
        per_child = f.waiting_requests / f.children if f.children else 0
        lag = f"{f.lag:.1f} s" if f.lag is not None else "—"
        lines.append(
            f"| {f.scenario} | {_n(f.children)} | {f.status} | {_n(f.requests)} | "
            f"{_n(f.not_modified)} | {_n(f.paid)} | {_n(f.dispatches)} | {per_child:.2f} | "
            f"{_n(f.peak_rest)} | {_n(f.peak_graphql)} | {_n(f.refusals)} | {lag} | "
            f"{f.wall:.0f} s | {f.rss_mb:.0f} MB |")
    return "\n".join(lines)


def exact_table(rows: list[Figures]) -> str:
    """Exact mode beside repository_dispatch, per N: what finding the runs costs."""
    lines = ["| scenario | children | status | requests | requests per child | "
             "requests per child to dispatch and find | run listings | state reads per "
             "child-minute | lag last end → exit |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for f in rows:
        if not f.scenario.startswith(("tako-", "exact-")):
            continue
        listings = (f.extra.get("engine") or {}).get("list_calls", 0)
        lag = f"{f.lag:.1f} s" if f.lag is not None else "—"
        lines.append(
            f"| {f.scenario} | {_n(f.children)} | {f.status} | {_n(f.requests)} | "
            f"{f.requests / f.children:.2f} | {f.start_per_child:.2f} | {_n(listings)} | "
            f"{f.reads_per_child_minute:.3f} | {lag} |")
    return "\n".join(lines)


def exact_goals(f: Figures) -> list[tuple[str, bool]]:
    """The exact-mode goals: dispatching and finding a run costs ~1 request (the
    dispatch), waiting stays batched, the end is seen within 10 s."""
    lag = f.lag if f.lag is not None else float("inf")
    listings = (f.extra.get("engine") or {}).get("list_calls", 0)
    return [(f"requests per child to dispatch and find {f.start_per_child:.2f} ≤ 1.15",
             f.start_per_child <= 1.15),
            (f"run listings {listings} = 0", listings == 0),
            (f"state reads per child-minute {f.reads_per_child_minute:.3f} ≤ 0.1",
             f.reads_per_child_minute <= 0.1),
            (f"lag {lag:.1f} s ≤ 10 s", lag <= 10),
            (f"secondary refusals {f.refusals} = 0", f.refusals == 0)]


def tree_goals(f: Figures) -> list[tuple[str, bool]]:
    """A tree's goals, on the token's figures over all its processes."""
    t, lag = f.tree, f.lag if f.lag is not None else float("inf")
    return [(f"secondary refusals over all processes {t.get('refusals', '?')} = 0",
             t.get("refusals") == 0),
            (f"peak REST points in a minute {t.get('peak_rest', '?')} ≤ 900",
             0 <= t.get("peak_rest", 10**9) <= 900),
            (f"peak GraphQL points in a minute {t.get('peak_graphql', '?')} ≤ 2,000",
             0 <= t.get("peak_graphql", 10**9) <= 2000),
            (f"lag {lag:.1f} s ≤ 30 s", lag <= 30),
            (f"requests per run {f.per_run:.2f} ≤ 1.3", 0 < f.per_run <= 1.3),
            (f"root peak RSS {f.rss_mb:.0f} MB ≤ 150 MB", f.rss_mb <= 150)]


def goals(f: Figures) -> list[tuple[str, bool]]:
    """The issue's goals for tako, checked on the figures."""
    if f.scenario.startswith("exact-"):
        return exact_goals(f)
    if f.tree:
        return tree_goals(f)
    budget = f.children * (3 + 0.1 * max(f.minutes_waited, 0.0))
    out = [(f"waiting requests {f.waiting_requests:,} ≤ {budget:,.0f} (3 per child + "
            f"0.1 per child-minute over {f.minutes_waited:.1f} min)",
            f.waiting_requests <= budget),
           (f"secondary refusals {f.refusals} = 0", f.refusals == 0)]
    lag = f.lag if f.lag is not None else float("inf")
    per_child = f.requests / f.children if f.children else 0.0
    out += [(f"requests per child {per_child:.2f} ≤ 2.2", per_child <= 2.2),
            (f"lag {lag:.1f} s ≤ 10 s", lag <= 10),
            (f"peak RSS {f.rss_mb:.0f} MB ≤ 150 MB", f.rss_mb <= 150)]
    return out


def tree_table(rows: list[Figures]) -> str:
    lines = ["| tree | runs | status | processes | requests (all) | per run | root's "
             "requests | refusals (all) | halvings | peak REST pts/min (all) | peak GraphQL "
             "pts/min (all) | lag last end → exit | wall time | root peak RSS |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in rows:
        if not f.tree:
            continue
        t, w = f.tree, f.tree.get("workers") or {}
        lag = f"{f.lag:.1f} s" if f.lag is not None else "—"
        lines.append(
            f"| {f.scenario} | {_n(f.children)} | {f.status} | {1 + w.get('intermediates', 0)}"
            f" | {_n(t.get('requests', 0))} | {f.per_run:.2f} | {_n(f.requests)} | "
            f"{_n(t.get('refusals', 0))} | {w.get('halvings', 0)} | "
            f"{_n(t.get('peak_rest', 0))} | {_n(t.get('peak_graphql', 0))} | {lag} | "
            f"{f.wall:.0f} s | {f.rss_mb:.0f} MB |")
    return "\n".join(lines)


def tree_kinds(rows: list[Figures]) -> str:
    """Where each tree's requests went, by endpoint kind, over all its processes."""
    lines = []
    for f in rows:
        kinds = (f.tree or {}).get("kinds") or {}
        if kinds:
            parts = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append(f"- {f.scenario}: " + ", ".join(
                f"{kind} {_n(n)} ({n / max(1, f.children):.2f}/run)" for kind, n in parts))
    return ("Requests by endpoint kind, all processes of each tree:\n" + "\n".join(lines)
            if lines else "")


def reading(rows: list[Figures]) -> str:
    lines = ["Reading (computed from the figures above):"]
    by = {f.scenario: f for f in rows}
    for f in rows:
        if f.strategy != "tako":
            continue
        met = goals(f)
        lines.append(f"- {f.scenario}: " + "; ".join(
            ("met: " if ok else "NOT met: ") + text for text, ok in met) + ".")
        rd = by.get(f.scenario.replace("exact", "tako"))
        if f.scenario.startswith("exact-") and rd is not None:
            lines.append(
                f"  Against repository_dispatch on the same {f.children:,} children: "
                f"{f.requests:,} requests vs {rd.requests:,}; to dispatch and find, "
                f"{f.start_per_child:.2f} per child vs {rd.start_per_child:.2f} (the runs "
                "come in the dispatch answers: no listing); waiting, "
                f"{f.reads_per_child_minute:.3f} vs {rd.reads_per_child_minute:.3f} state "
                "reads per child-minute.")
        alone = by.get(f.scenario + "-alone")
        if f.tree and alone is not None:
            lines.append(
                f"  Against today's per-process governor on the same tree (tree-alone): "
                f"refusals {f.tree.get('refusals', 0):,} vs {alone.tree.get('refusals', 0):,}; "
                f"peak REST points {f.tree.get('peak_rest', 0):,} vs "
                f"{alone.tree.get('peak_rest', 0):,}; requests {f.tree.get('requests', 0):,} "
                f"vs {alone.tree.get('requests', 0):,}; lag "
                + (f"{f.lag:.1f} s" if f.lag is not None else "—") + " vs "
                + (f"{alone.lag:.1f} s" if alone.lag is not None else "—") + ".")
        twin = by.get(f.scenario.replace("tako", "anchors"))
        if twin is not None and twin is not f:
            ratio = twin.requests / f.requests if f.requests else 0
            slower = f.wall - twin.wall
            lines.append(
                f"  Against the anchors' pattern on {twin.children:,} children: "
                f"{twin.requests:,} requests ({twin.refusals:,} refused by the secondary "
                f"limits) vs {f.requests:,} ({ratio:.0f}× fewer); wall time "
                f"{f.wall:.0f} s vs {twin.wall:.0f} s"
                + (f" (tako {slower:.0f} s slower)" if slower > 0 else "")
                + f"; peak RSS {f.rss_mb:.0f} MB vs {twin.rss_mb:.0f} MB"
                + (" (tako uses more)" if f.rss_mb > twin.rss_mb else "") + ".")
        if f.governor:
            lines.append(f"  The governor slowed it and said: “{f.governor}”.")
    losses = where_tako_loses(rows)
    lines.append("- Where tako loses: " + ("; ".join(losses) if losses else
                                          "nowhere in these figures") + ".")
    return "\n".join(lines)


def where_tako_loses(rows: list[Figures]) -> list[str]:
    """Every figure in which tako does worse than the anchors' pattern on the same N."""
    by = {f.scenario: f for f in rows}
    out = []
    for f in rows:
        twin = by.get(f.scenario.replace("tako", "anchors"))
        if f.strategy != "tako" or twin is None or twin is f:
            continue
        n = f"{f.children:,} children"
        if f.wall > twin.wall:
            out.append(f"on {n} it exited {f.wall - twin.wall:.0f} s later "
                       f"({f.wall:.0f} s vs {twin.wall:.0f} s)")
        if f.lag is not None and twin.lag is not None and f.lag > twin.lag:
            out.append(f"on {n} its lag from the last run's end was {f.lag:.1f} s vs "
                       f"{twin.lag:.1f} s")
        if f.rss_mb > twin.rss_mb:
            out.append(f"on {n} its peak RSS was {f.rss_mb:.0f} MB vs {twin.rss_mb:.0f} MB")
        if f.requests > twin.requests:
            out.append(f"on {n} it sent {f.requests:,} requests vs {twin.requests:,}")
    return out


def main(argv: list[str] | None = None) -> list[Figures]:
    run = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--tree", default="10,30,33", help="fan-out per level (3 levels)")
    parser.add_argument("--latency", default="50ms")
    parser.add_argument("--quick", action="store_true", help="a few children, seconds")
    parser.add_argument("--levels", choices=("wait", "forget"), default="forget",
                        help="the trees' intermediate levels fire and forget (default: "
                             "the root follows the whole tree by their reports) or wait "
                             "on their subtree (wait_for_children)")
    results.add_arguments(parser)
    parser.add_argument("--role", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=3600, help=argparse.SUPPRESS)
    parser.add_argument("--run-seconds", type=float, default=300, help=argparse.SUPPRESS)
    parser.add_argument("--workers", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        role_main(args)
        return []
    results.check_quick(args)
    if args.quick:
        args.sizes, args.minutes, args.tree, args.latency = "4", 0.1, "2,2,2", "5ms"
    sizes = [int(x) for x in args.sizes.split(",") if x]
    tree = [int(x) for x in args.tree.split(",") if x]
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(sizes, tree, args.minutes, args.latency, Path(tmp),
                       args.levels == "wait")
    print(table(rows))
    print(exact_table(rows))
    print(tree_table(rows))
    print(tree_kinds(rows))
    print(reading(rows))
    print(f"total {time.monotonic() - began:.0f} s", flush=True)
    if args.write:
        tree_runs = sum(f.children for f in rows if f.scenario == "tree")
        run.write("Waiting at scale", "\n\n".join([
            f"Sizes {args.sizes}, runs of {args.minutes:g} min, tree {args.tree} = "
            f"{tree_runs:,} runs (intermediate levels: {args.levels}), latency "
            f"{args.latency}. "
            + " ".join(__doc__.split("\n\n")[2:6]).replace("\n", " "),
            f"The runs last their real {args.minutes:g} minutes (the emulator has no time "
            "scale); every scenario ran at the same time on the one emulator, each with its "
            "own token.",
            table(rows),
            "Exact mode (workflow dispatch whose answer names the run) beside "
            "repository_dispatch, same sizes, same run: requests per child to dispatch and "
            "find are all requests but the batched state reads; state reads per "
            "child-minute are those reads over the children and the minutes from the first "
            "run's start to the last run's end.",
            exact_table(rows),
            "The honest trees: every intermediate level ran the real engine on the tree's "
            "token; requests, refusals and peak points are the token's, over all of its "
            "processes (the emulator's count); lag and RSS are the root's.",
            tree_table(rows),
            tree_kinds(rows),
            reading(rows),
        ]), args.results)
    return rows


if __name__ == "__main__":
    main()
