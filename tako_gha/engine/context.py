"""Continuing a tree inside a run that a tako dispatch started (docs/protocol.md, The tree)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tako_gha.core.budget import Budget, Slot
from tako_gha.core.ids import is_id
from tako_gha.core.strictjson import Limits, read_json
from tako_gha.engine import streams
from tako_gha.engine.payload import parse_rfc3339

if TYPE_CHECKING:
    from tako_gha.engine.api import CascadeContext


def context_from_payload(cls: type[CascadeContext], payload: dict[str, Any] | None,
                         this_repo: str) -> CascadeContext | None:
    if not isinstance(payload, dict):
        return None
    tako = payload.get("tako")
    if tako is None:
        return None
    if not isinstance(tako, dict):
        raise ValueError("client_payload.tako is not an object")
    root, own_id = tako.get("root"), tako.get("id")
    if not isinstance(root, str) or not is_id(root):
        raise ValueError(f"client_payload.tako.root is not a tako id: {root!r}")
    if not isinstance(own_id, str) or not is_id(own_id):
        raise ValueError(f"client_payload.tako.id is not a tako id: {own_id!r}")
    depth = tako.get("depth", 1)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"client_payload.tako.depth is not a non-negative integer: {depth!r}")
    chain_raw = tako.get("chain") or []
    if not isinstance(chain_raw, list) or not all(isinstance(c, str) for c in chain_raw):
        raise ValueError("client_payload.tako.chain is not a list of owner/repo names")
    chain = tuple(chain_raw)
    # The sender puts the target (this repo) at the end of the chain; add it if not.
    if not chain or chain[-1].lower() != this_repo.lower():
        chain = (*chain, this_repo)
    deadline: datetime | None = None
    raw_deadline = tako.get("deadline")
    if raw_deadline:
        try:
            deadline = parse_rfc3339(str(raw_deadline))
        except ValueError as exc:
            raise ValueError(
                f"client_payload.tako.deadline is not an RFC 3339 time: {raw_deadline!r}"
            ) from exc
    budget = None
    if tako.get("budget") is not None:
        budget = Budget.from_json(tako["budget"], "client_payload.tako.budget")
    slot = None
    if tako.get("slot") is not None:
        slot = Slot.from_json(tako["slot"], "client_payload.tako.slot")
    return cls(root=root, parent=own_id, depth=depth + 1, chain=chain, deadline=deadline,
               budget=budget, slot=slot)


# The event file GitHub writes: at most its 25 MB webhook size; the client_payload a
# dispatch carries sits a few levels below the top, so a little more depth than a
# payload gets.
EVENT_LIMITS = Limits(max_depth=80, max_bytes=25 * 1024 * 1024)


def read_event_file(path: str) -> dict[str, Any] | None:
    """The event of ``GITHUB_EVENT_PATH`` as a dict; None when it is missing or not a
    JSON object within ``EVENT_LIMITS`` (a hostile dispatch nested 30,000 deep used
    to stop the step with Python's recursion error)."""
    try:
        # A FIFO or a device at the path is refused at once, never waited on.
        data = streams.read_regular(path, EVENT_LIMITS.max_bytes + 1)
        event = read_json(data.decode("utf-8"), EVENT_LIMITS)
    except (OSError, ValueError):  # JsonInputError and UnicodeDecodeError are ValueErrors
        return None
    return event if isinstance(event, dict) else None


def context_from_environment(env: Mapping[str, str]) -> CascadeContext | None:
    """The context of the Actions run this process is in, from ``GITHUB_EVENT_PATH``
    (a ``repository_dispatch`` carrying ``client_payload.tako``, or a workflow dispatch
    carrying it as the ``tako`` input); None otherwise."""
    from tako_gha.engine.api import CascadeContext

    path = env.get("GITHUB_EVENT_PATH")
    repo = env.get("GITHUB_REPOSITORY", "")
    if not path or not repo:
        return None
    name = env.get("GITHUB_EVENT_NAME", "repository_dispatch")
    if name not in ("repository_dispatch", "workflow_dispatch"):
        return None
    event = read_event_file(path)
    if event is None:
        return None
    if name == "workflow_dispatch":
        try:
            return CascadeContext.from_client_payload(tako_from_inputs(event.get("inputs")),
                                                      repo)
        except ValueError as exc:  # name the field as this run has it
            raise ValueError(str(exc).replace("client_payload.tako", "inputs.tako")) from None
    return CascadeContext.from_client_payload(event.get("client_payload"), repo)


def tako_from_inputs(inputs: Any) -> dict[str, Any] | None:
    """A workflow dispatch (exact mode) carries the context in one input, ``tako``: a
    JSON string of what ``client_payload.tako`` holds (and the event). None without it
    (a person dispatching the workflow by hand starts a new tree)."""
    raw = inputs.get("tako") if isinstance(inputs, dict) else None
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ValueError("inputs.tako is not a JSON string")
    try:
        tako = read_json(raw, Limits(max_depth=40, max_bytes=65_536))
    except ValueError as exc:
        raise ValueError(f"inputs.tako is not JSON: {exc}") from None
    if not isinstance(tako, dict):
        raise ValueError("inputs.tako is not a JSON object")
    return {"tako": tako}


def first_attempt_inside(env: Mapping[str, str], context: CascadeContext | None) -> bool:
    """A child's fan-out on its job's first attempt (``FanOutOptions.first_attempt``):
    inside a run a tako dispatch started, ``GITHUB_RUN_ATTEMPT`` 1. A root, a run
    outside Actions, or an unreadable attempt number is not (it lists first); a
    ``--resume`` is a root (it is refused inside a tree), so never a first attempt."""
    return (context is not None and context.parent is not None
            and env.get("GITHUB_ACTIONS") == "true"
            and env.get("GITHUB_RUN_ATTEMPT", "").strip() == "1")
