"""Hand-built execution trees for report tests (no engine needed)."""

from __future__ import annotations

from tako_gha.core.tree import Node, NodeState, RunRef, TreeReport, TreeStatus

COST = {
    "calls": {"discovery": 2, "dispatch": 3, "poll": 20},
    "total_calls": 25,
    "not_modified": {"poll": 12},
    "retries": {},
    "rate_remaining": 4975,
    "rate_limit": 5000,
    "waited_seconds": 0.0,
}


def run(run_id: int, repo: str, conclusion: str | None = "success") -> RunRef:
    status = "completed" if conclusion else "in_progress"
    return RunRef(run_id, f"http://127.0.0.1:1/{repo}/actions/runs/{run_id}",
                  ".github/workflows/on-tako.yml", status, conclusion, "strict")


def sample_report() -> TreeReport:
    """core-lib → svc-a (ok) → svc-c (failed), core-lib → svc-b (not_started),
    core-lib → svc-d deduplicated, svc-e heuristic success."""
    svc_c = Node("acme/svc-c", "cccccccccccc", NodeState.FAILURE, "library_built", 2,
                 reason="job build failed: exit 1", runs=[run(1003, "acme/svc-c", "failure")])
    svc_a = Node("acme/svc-a", "aaaaaaaaaaaa", NodeState.SUCCESS, "library_built", 1,
                 runs=[run(1001, "acme/svc-a")], children=[svc_c], correlation="strict")
    svc_b = Node("acme/svc-b", "bbbbbbbbbbbb", NodeState.NOT_STARTED, "library_built", 1,
                 reason="no run appeared within 2m",
                 hint="no workflow in acme/svc-b listens for repository_dispatch type "
                      "library_built")
    svc_d = Node("acme/svc-d", "dddddddddddd", NodeState.DEDUPLICATED, "library_built", 1,
                 duplicate_of="aaaaaaaaaaaa")
    svc_e = Node("acme/svc-e", "eeeeeeeeeeee", NodeState.SUCCESS, "library_built", 1,
                 runs=[run(1002, "acme/svc-e")], correlation="heuristic")
    origin = Node("acme/core-lib", "f00df00df00d", NodeState.SUCCESS, "library_built", 0,
                  children=[svc_a, svc_b, svc_d, svc_e])
    return TreeReport("f00df00df00d", TreeStatus.FAILURE, origin, cost=dict(COST),
                      elapsed_seconds=12.34)


def wide_report(children: int, reason: str = "", failed_every: int = 0) -> TreeReport:
    kids = []
    for i in range(children):
        failed = failed_every and i % failed_every == 0
        kids.append(Node(f"acme/service-{i:05d}", f"{i:012x}",
                         NodeState.FAILURE if failed else NodeState.SUCCESS,
                         "library_built", 1, reason=reason or None,
                         runs=[run(10_000 + i, f"acme/service-{i:05d}",
                                   "failure" if failed else "success")]))
    origin = Node("acme/core-lib", "f00df00df00d", NodeState.SUCCESS, "library_built", 0,
                  children=kids)
    status = TreeStatus.FAILURE if failed_every else TreeStatus.SUCCESS
    return TreeReport("f00df00df00d", status, origin, cost=dict(COST), elapsed_seconds=99.0)


def rerun_report() -> TreeReport:
    """svc-a's run 1042 re-run once (attempt 1 failed, attempt 2 passed, both seen);
    svc-b's run 1043 at attempt 3 failed, earlier attempts not seen (a rebuilt tree)."""
    again = run(1042, "acme/svc-a")
    again.attempt, again.earlier = 2, ["failure"]
    unseen = run(1043, "acme/svc-b", "failure")
    unseen.attempt = 3
    svc_a = Node("acme/svc-a", "aaaaaaaaaaaa", NodeState.SUCCESS, "library_built", 1,
                 runs=[again])
    svc_b = Node("acme/svc-b", "bbbbbbbbbbbb", NodeState.FAILURE, "library_built", 1,
                 reason="job build failed: exit 1", runs=[unseen])
    svc_c = Node("acme/svc-c", "cccccccccccc", NodeState.SUCCESS, "library_built", 1,
                 runs=[run(1044, "acme/svc-c")])
    origin = Node("acme/core-lib", "f00df00df00d", NodeState.SUCCESS, "library_built", 0,
                  children=[svc_a, svc_b, svc_c])
    return TreeReport("f00df00df00d", TreeStatus.FAILURE, origin, cost=dict(COST),
                      elapsed_seconds=30.0)
