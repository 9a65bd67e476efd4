"""The state of many known runs in one GraphQL query.

A run's REST ``node_id`` is its GraphQL global id; ``nodes(ids:)`` takes up to 100 of
them and answers each with its check suite's status and conclusion. Waiting on N
known runs then costs ⌈N/100⌉ queries a round, whatever the wait, where reading
them one by one costs N requests (or one listing per repo).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from tako_gha.forge.base import MAX_STATE_IDS, NOT_GITHUB_HINT, ForgeError, RunState

RUN_STATES_QUERY = (
    "query($ids: [ID!]!) { nodes(ids: $ids) { "
    "... on WorkflowRun { id databaseId updatedAt checkSuite { status conclusion } } } }"
)
# GraphQL's check-suite status words, as the REST run status spells them.
_STATUS = {"COMPLETED": "completed", "IN_PROGRESS": "in_progress", "QUEUED": "queued",
           "WAITING": "waiting", "PENDING": "pending", "REQUESTED": "requested"}


def check_ids(node_ids: Sequence[str]) -> list[str]:
    ids = [str(i) for i in node_ids]
    if len(ids) > MAX_STATE_IDS:
        raise ValueError(f"at most {MAX_STATE_IDS} run ids per query, not {len(ids)}")
    return ids


def states_from_body(body: Any, asked: Sequence[str]) -> dict[str, RunState]:
    """The runs an answer resolved, by node id. An id GitHub could not resolve (the
    run was deleted, or this token cannot see it) is simply absent."""
    data = body.get("data") if isinstance(body, dict) else None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, list) or len(nodes) != len(asked):
        errors = body.get("errors") if isinstance(body, dict) else None
        detail = ""
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            detail = f": {errors[0].get('message', '')}"
        raise ForgeError(f"unexpected answer to the run-state query{detail}",
                         hint=NOT_GITHUB_HINT)
    out: dict[str, RunState] = {}
    for ident, node in zip(asked, nodes, strict=True):
        if not isinstance(node, dict):
            continue
        suite = node.get("checkSuite")
        if not isinstance(suite, dict) or not isinstance(node.get("databaseId"), int):
            continue
        status = str(suite.get("status") or "")
        conclusion = suite.get("conclusion")
        out[ident] = RunState(node_id=ident, run_id=node["databaseId"],
                              status=_STATUS.get(status, status.lower()),
                              conclusion=str(conclusion).lower() if conclusion else None,
                              updated_at=_time(node.get("updatedAt")))
    return out


def _time(value: Any) -> datetime | None:
    """GitHub's ``DateTime`` (``2026-11-25T10:00:05Z``); None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
