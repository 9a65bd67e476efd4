"""Children report up (docs/protocol.md, Reports up the tree).

A fan-out inside a child's run ends by writing what it knows of its subtree — every
node below it with its runs (id, node id, state) — and the action uploads that as an
artifact of the run, named after the root and the run's own dispatch id
(``report_name``). A process following the tree then reads that one artifact (a
listing of the run's artifacts by name, then its zip: two requests) instead of
listing every repository below the child to find the runs: the runs are then known
by id, and their states come in GraphQL batches.

A report is trusted only for this root, and only for what lies below the node whose
run wrote it (a hostile or broken report cannot graft runs elsewhere in the tree);
anything unreadable is treated as no report, and the repositories are listed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tako_gha.core.ids import TitleTag, is_id, make_title
from tako_gha.core.strictjson import Limits, read_json
from tako_gha.core.tree import Node, TreeReport
from tako_gha.engine.payload import format_rfc3339, parse_rfc3339
from tako_gha.forge.base import RunInfo

REPORT_VERSION = 1
REPORT_PREFIX = "tako-report-"
REPORT_FILE = "tako-report.json"
MAX_REPORT_BYTES = 8 * 1024 * 1024
MAX_REPORT_NODES = 50_000
REPORT_LIMITS = Limits(max_depth=12, max_bytes=MAX_REPORT_BYTES)


def report_name(root: str, dispatch_id: str) -> str:
    """The artifact a child's run leaves for the tree ``root``: one per fan-out step
    (a run is one dispatch, so its id names it)."""
    return f"{REPORT_PREFIX}{root}-{dispatch_id}"


def build_report(report: TreeReport) -> dict[str, Any]:
    """What a fan-out hands up: every node below its origin that has runs, with the
    tag its runs carry, and those without runs (so a reader lists only their repos)."""
    nodes = []
    for node in report.origin.walk():
        if node is report.origin:
            continue
        nodes.append({
            "repo": node.repo,
            "id": node.id,
            "parent": node.parent_id,
            "event_type": node.event_type,
            "state": node.state.value,
            "runs": [_run_json(ref) for ref in node.runs],
        })
    share = (report.cost.get("engine") or {}).get("share") or {}
    return {"version": REPORT_VERSION, "root": report.root, "origin": report.origin.id,
            "status": report.status.value, "nodes": nodes,
            "share": {"refusals_seen": share.get("refusals_seen", 0),
                      "halvings": share.get("halvings", 0)}}


def _run_json(ref: Any) -> dict[str, Any]:
    return {"id": ref.run_id, "node_id": getattr(ref, "node_id", "") or "",
            "url": ref.url, "workflow": ref.workflow, "status": ref.status,
            "conclusion": ref.conclusion, "correlation": ref.correlation,
            "created_at": format_rfc3339(ref.created_at) if ref.created_at else None,
            "updated_at": format_rfc3339(ref.updated_at) if ref.updated_at else None}


def report_text(report: TreeReport, node_ids: dict[int, str] | None = None) -> str:
    data = build_report(report)
    for node in data["nodes"]:
        for run in node["runs"]:
            run["node_id"] = run["node_id"] or (node_ids or {}).get(run["id"], "")
    return json.dumps(data, separators=(",", ":"))


def write_report(path: str, report: TreeReport, node_ids: dict[int, str]) -> None:
    """Write the report to ``path`` (its directory made), whole or not at all."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_text(report_text(report, node_ids), encoding="utf-8")
    os.replace(partial, target)


@dataclass
class ReadReport:
    """A child's report as a reader uses it: runs by repository (shaped like a
    listing's), and the repositories where a dispatch is known but no run."""

    runs: dict[str, list[RunInfo]] = field(default_factory=dict)  # lower-case repo
    without_runs: set[str] = field(default_factory=set)  # lower-case repos
    count: int = 0
    complete: bool = False  # its writer waited on its whole subtree
    refusals: int = 0  # secondary-limit refusals its writer saw
    halvings: int = 0  # times its writer's share was halved for them
    exact: set[int] = field(default_factory=set)  # runs its writer had from a dispatch answer


def parse_report(raw: bytes | str, root: str, below: str) -> ReadReport | None:
    """The report of the run of node ``below``; None when it is not one (wrong root,
    wrong origin, malformed): the reader then lists, as without a report."""
    try:
        data = read_json(raw if isinstance(raw, str) else raw.decode("utf-8"), REPORT_LIMITS)
    except ValueError:
        return None
    if (not isinstance(data, dict) or data.get("version") != REPORT_VERSION
            or data.get("root") != root or data.get("origin") != below):
        return None
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or len(nodes) > MAX_REPORT_NODES:
        return None
    out = ReadReport(complete=data.get("status") not in ("running", None))
    share = data.get("share")
    if isinstance(share, dict):
        out.refusals, out.halvings = _count(share.get("refusals_seen")), _count(
            share.get("halvings"))
    known = {below}
    for item in nodes:
        parsed = _node(item, root)
        if parsed is None or item["parent"] not in known:
            return None  # only what lies below the node whose run wrote it
        known.add(item["id"])
        repo, runs = parsed
        out.exact.update(run["id"] for run in item["runs"] if run.get("correlation") == "exact")
        out.count += 1
        if runs:
            out.runs.setdefault(repo.lower(), []).extend(runs)
        else:
            out.without_runs.add(repo.lower())
    return out


def _count(value: Any) -> int:
    return value if type(value) is int and 0 <= value < 10**9 else 0


def _node(item: Any, root: str) -> tuple[str, list[RunInfo]] | None:
    if not isinstance(item, dict):
        return None
    repo, ident, parent = item.get("repo"), item.get("id"), item.get("parent")
    event_type, runs = item.get("event_type"), item.get("runs")
    if (not isinstance(repo, str) or repo.count("/") != 1 or not isinstance(ident, str)
            or not is_id(ident) or not isinstance(parent, str) or not is_id(parent)
            or not isinstance(event_type, str) or not isinstance(runs, list)):
        return None
    title = make_title(event_type, repo, TitleTag(root, parent, ident))
    infos = []
    for run in runs:
        info = _run(run, repo, title)
        if info is None:
            return None
        infos.append(info)
    return repo, infos


def _run(run: Any, repo: str, title: str) -> RunInfo | None:
    if not isinstance(run, dict):
        return None
    run_id = run.get("id")
    if type(run_id) is not int or run_id <= 0:
        return None
    texts = {k: run.get(k) for k in ("node_id", "url", "workflow", "status", "conclusion",
                                     "correlation")}
    if any(v is not None and not isinstance(v, str) for v in texts.values()):
        return None
    created, updated = _time(run.get("created_at")), _time(run.get("updated_at"))
    if created is False or updated is False:
        return None
    from tako_gha.engine.correlate import DISPATCH_EVENT

    return RunInfo(id=run_id, repo=repo, workflow_path=texts["workflow"] or "",
                   display_title=title, name=None, event=DISPATCH_EVENT,
                   status=texts["status"], conclusion=texts["conclusion"],
                   created_at=created or datetime.fromtimestamp(0).astimezone(),
                   html_url=texts["url"] or "", updated_at=updated or None,
                   node_id=texts["node_id"] or "")


def _time(value: Any) -> datetime | bool | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return False
    try:
        return parse_rfc3339(value)
    except ValueError:
        return False


# ---------------------------------------------------------------- reading, in a wait
def read_reports(session: Any, now: float) -> bool:
    """Look for the report of every finished node that may have fanned out (two
    requests each, within the governor's REST room); fold what it names into the
    tree. True when the tree changed."""
    tracker = session.tracker
    reader = getattr(session.forge, "run_report", None)
    if not tracker.reporting or reader is None:
        return False
    changed = False
    for track in tracker.nodes():
        node = track.node
        if not node.state.is_terminal or not tracker.awaits_report(track):
            continue
        if session.governor.rest_room() < 2 * len(node.runs):
            break  # the rest when the minute has room
        found = _find_report(session, reader, node)
        if found is None:
            tracker.reports[node.id] = "missing"
            session.message(f"no report from {node.repo} (run "
                            f"{', '.join(str(r.run_id) for r in node.runs)}): listing the "
                            "repositories subscribed to it instead")
            continue
        changed |= _fold(session, node, found, now)
    return changed


def _find_report(session: Any, reader: Any, node: Node) -> ReadReport | None:
    from tako_gha.forge.base import AuthError, ForgeError, RateLimitError

    name = report_name(session.tracker.root, node.id)
    for ref in node.runs:
        try:
            raw = reader(node.repo, ref.run_id, name, REPORT_FILE, MAX_REPORT_BYTES)
        except (RateLimitError, AuthError):
            raise
        except ForgeError:
            continue
        found = parse_report(raw, session.tracker.root, node.id) if raw else None
        if found is not None:
            return found
    return None


def _fold(session: Any, node: Node, found: ReadReport, now: float) -> bool:
    tracker = session.tracker
    tracker.reports[node.id] = "read"
    if found.refusals:
        # a level's refusals show in the tree: the token is shared, they are everyone's
        session.message(f"{node.repo}: GitHub's secondary limits refused its fan-out "
                        f"{found.refusals} time(s); its share was halved "
                        f"{found.halvings} time(s)")
    changed = False
    for repo, runs in found.runs.items():
        changed |= tracker.ingest(repo, runs, now)
        session.poller._learn_ids(runs)
    _mark_exact(tracker, found.exact)
    covered = tracker.subscribers_of(node.repo)
    if found.complete:
        # the child waited on its whole subtree: what it reports below is all there is
        for below in node.walk():
            if below is not node and below.runs:
                tracker.reports.setdefault(below.id, "read")
                covered |= tracker.subscribers_of(below.repo)
    for repo in covered - found.without_runs:
        tracker.last_polled[repo] = max(tracker.last_polled.get(repo, now), now)
    if not found.without_runs and not node.state.is_failure:
        # every node below it has a run the report names: no notice to read for it
        tracker.tracks[node.id].annotated = True
    return changed


def _mark_exact(tracker: Any, run_ids: set[int]) -> None:
    """Runs the report's writer knew from its dispatch's answer (exact mode): the same
    id reached the reader through the report, so the node stays ``correlation: exact``
    (ingesting matched them by the tag the report gives them, as ``strict``)."""
    for run_id in run_ids:
        owner = tracker.run_owner.get(run_id)
        if owner is None:
            continue
        node = tracker.tracks[owner].node
        for ref in node.runs:
            if ref.run_id == run_id:
                ref.correlation = "exact"
        if all(ref.correlation == "exact" for ref in node.runs):
            node.correlation = "exact"
