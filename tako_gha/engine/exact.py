"""Exact mode: a target whose subscription names a ``workflow:`` is dispatched through the
workflow dispatch endpoint, and GitHub's answer names the run it started
(docs/protocol.md, "Exact mode"). The run id goes straight into the journal and the
tree (``correlation: exact``): no listing of that repository, no title tag needed.

What still needs a search, and why:
- a server without run details (GHES 3.20 and older; the forge learns it once per
  host): the run is found by listing that repository's ``workflow_dispatch`` runs, by
  the tag in its title (``inputs.tako`` carries it) or the fallback heuristic;
- a lost answer (a timeout, a 5xx): the run may exist; it is looked for the same way
  before anything is sent again.

A workflow that does not listen on ``workflow_dispatch`` (GitHub's 422 says so and
starts nothing) is sent a ``repository_dispatch`` instead, as before. A receiver that
does not declare the ``tako`` input gets the dispatch without it (its own fan-outs
then start new trees); ``tako-gha lint`` shows the two lines to add.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState, RunRef
from tako_gha.core.workflow_inputs import EVENT, TAKO_INPUT, WorkflowInputs, as_text, check
from tako_gha.engine.journal import SENT, Entry
from tako_gha.engine.payload import PayloadError, TakoMeta
from tako_gha.forge.base import (
    ForgeError,
    NotDispatchableError,
    UnexpectedInputsError,
    WorkflowDispatch,
)

if TYPE_CHECKING:
    from tako_gha.engine.correlate import Track
    from tako_gha.engine.fanout import FanOut

# GitHub: the inputs of one workflow dispatch, all values together, at most 65,535
# characters.
MAX_INPUTS_CHARS = 65_535
REPOSITORY_DISPATCH = "repository_dispatch"


def wants_exact(workflow: str | None, ref: str | None, trigger: str | None,
                declared: WorkflowInputs | None = None) -> bool:
    """A subscription naming a workflow file is exact unless it asks for the old way,
    or the file (read at plan time) does not listen on workflow_dispatch. A file that
    is not there at all stays exact: ``prepare`` makes it an error (a repository_dispatch
    would reach no workflow and wait for a run that never comes)."""
    if declared is not None and not declared.listens and not declared.missing \
            and trigger != EVENT:
        return False  # (asked for by name, it is an error in ``prepare``)
    return bool(workflow) and bool(ref) and trigger != REPOSITORY_DISPATCH


def prepare(fanout: FanOut, track: Track, declared: WorkflowInputs | None) -> None:
    """What the workflow declares, read at plan time, settles what would otherwise cost
    a refused request: ``tako`` is sent only when declared (said once per repository),
    and a dispatch GitHub would refuse for its inputs is an error now, naming the
    declaration, instead of a 422."""
    if declared is None:
        return
    node = track.node
    if declared.missing:
        node.state = NodeState.ERROR
        node.reason = (f"{declared.path} is not on {track.ref!r} in {node.repo} (no such "
                       "branch or tag, or no such file on it); nothing was dispatched")
        node.hint = (f"check the subscription's workflow: and ref: in {node.repo}'s tako.yml "
                     "(tako-gha plan --org reads the workflow where the dispatch would run)")
        return
    if not declared.listens:
        node.state = NodeState.ERROR
        node.reason = (f"{track.workflow} does not listen on workflow_dispatch, and the "
                       "subscription says trigger: workflow_dispatch; nothing was dispatched")
        node.hint = (f"add `workflow_dispatch:` under `on:` in {track.workflow}, or drop "
                     "`trigger:` (then a repository_dispatch is sent)")
        return
    if TAKO_INPUT not in declared.inputs:
        track.inputs.pop(TAKO_INPUT, None)
        fanout.session.message(
            f"{node.repo}: {track.workflow} does not declare the '{TAKO_INPUT}' input: sent "
            "without the cascade context, so its own fan-outs start new trees (tako-gha lint "
            "shows the two lines to add)")
    problems = check(declared, track.inputs)
    if problems:
        first = problems[0]
        where = f" ({first.declared.where})" if first.declared and first.declared.where \
            else f" ({declared.where})" if declared.where else ""
        node.state = NodeState.ERROR
        node.reason = (f"GitHub would refuse the workflow dispatch of {track.workflow}: "
                       f"{first.message}{where}; nothing was dispatched")
        node.hint = "tako-gha lint (in the repository) and tako-gha plan show both sides"


def workflow_inputs(inputs: dict[str, Any], meta: TakoMeta, event: Event) -> dict[str, str]:
    """The dispatch's inputs: the rendered ones as strings, and ``tako`` (a JSON string:
    the cascade context and the event)."""
    out = {name: as_text(value) for name, value in inputs.items() if name != TAKO_INPUT}
    out[TAKO_INPUT] = json.dumps({**meta.to_json(), "event": event.to_json()},
                                 separators=(",", ":"), ensure_ascii=False)
    return out


def check_inputs(inputs: dict[str, str]) -> None:
    """What GitHub would refuse in any workflow: more than 25 inputs, too many characters."""
    if len(inputs) > 25:
        raise PayloadError(f"the dispatch has {len(inputs)} workflow inputs (with tako's "
                           "own); GitHub allows 25",
                           "send fewer inputs from the subscription (tako-gha lint names them)")
    size = sum(len(k) + len(v) for k, v in inputs.items())
    if size > MAX_INPUTS_CHARS:
        raise PayloadError(f"the workflow inputs are {size} characters; GitHub allows "
                           f"{MAX_INPUTS_CHARS}",
                           "send a smaller event payload: put large data in an artifact or "
                           "release and pass its URL")


def send(fanout: FanOut, track: Track, payload: dict) -> WorkflowDispatch | None:
    """Dispatch ``track`` through the workflow dispatch endpoint. None when it went as a
    ``repository_dispatch`` instead (its workflow does not listen on workflow_dispatch).
    Refusals that started nothing are recorded and followed by the one send that fits;
    anything else raises as ``Forge.dispatch`` does."""
    node, forge = track.node, fanout.forge
    assert track.workflow is not None and track.ref is not None
    inputs = dict(track.inputs)
    try:
        answer = forge.dispatch_workflow(node.repo, track.workflow, track.ref, inputs)
    except NotDispatchableError as exc:
        _refused(fanout, track, exc.message)
        fanout.session.message(f"{node.repo}: {track.workflow} does not listen on "
                               "workflow_dispatch; sent repository_dispatch instead")
        track.exact_mode = False
        track.event = REPOSITORY_DISPATCH
        _intent(fanout, track)
        forge.dispatch(node.repo, node.event_type, payload)
        return None
    except UnexpectedInputsError as exc:
        if list(exc.names) != [TAKO_INPUT]:
            raise
        _refused(fanout, track, exc.message)
        fanout.session.message(
            f"{node.repo}: {track.workflow} does not declare the '{TAKO_INPUT}' input: sent "
            "without the cascade context, so its own fan-outs start new trees (tako-gha lint "
            "shows the two lines to add)")
        track.inputs.pop(TAKO_INPUT, None)
        _intent(fanout, track)
        answer = forge.dispatch_workflow(node.repo, track.workflow, track.ref, track.inputs)
    if answer.note:
        fanout.session.message(answer.note)
    if answer.run_id is None:
        track.exact_mode = False  # found by listing its workflow_dispatch runs
    return answer


def _refused(fanout: FanOut, track: Track, detail: str) -> None:
    if fanout.journal is not None:
        fanout.journal.outcome(fanout.root, track.node.id, "refused", detail)


def _intent(fanout: FanOut, track: Track) -> None:
    if fanout.journal is not None:
        node = track.node
        fanout.journal.intent(fanout.root, node.id, node.repo, node.event_type,
                              fanout.forge.now(), workflow=intent_workflow(track))


def intent_workflow(track: Track) -> str | None:
    """What the journal's intent names: the workflow file of a workflow dispatch."""
    return track.workflow if track.event == EVENT else None


def attach(fanout: FanOut, track: Track, run_id: int, url: str) -> None:
    """The run the answer named: in the tree at once, ``correlation: exact``."""
    tracker = fanout.tracker
    if run_id in tracker.run_owner:
        return
    track.known_runs.add(run_id)  # the outcome record carries it: no `run` record
    ref = RunRef(run_id, url, _workflow_path(track.workflow or ""), "queued", None, "exact")
    tracker.attach_ref(track, ref, fanout.clock.monotonic())


def resume_by_id(fanout: FanOut, track: Track, entry: Entry) -> bool:
    """A resumed dispatch the journal says went by workflow dispatch. Its answer named
    a run: read that run by id (True; no listing). Otherwise (a lost answer, or a
    server without run details) its runs are looked for among the repository's
    workflow_dispatch runs in the window it was sent in, as for repository_dispatch."""
    if entry.workflow is None:
        track.exact_mode, track.event = False, REPOSITORY_DISPATCH
        return False
    track.exact_mode, track.event = False, EVENT
    if entry.answered_run is None or entry.status != SENT:
        return False
    node = track.node
    try:
        run = fanout.forge.get_run(node.repo, entry.answered_run)
    except ForgeError as exc:
        fanout.session.message(f"cannot read run {entry.answered_run} of {node.repo}, "
                               f"named by its dispatch's answer: {exc}")
        return False  # found by listing instead
    track.exact_mode = True
    ref = RunRef(run.id, run.html_url, run.workflow_path, run.status, run.conclusion,
                 "exact", created_at=run.created_at, updated_at=run.updated_at)
    fanout.tracker.attach_ref(track, ref, fanout.clock.monotonic())
    if run.node_id:
        fanout.session.poller.node_ids[run.id] = run.node_id
    fanout.tracker.refresh(fanout.clock.monotonic(), [track])
    return True


def _workflow_path(workflow: str) -> str:
    name = workflow.rsplit("/", 1)[-1]
    return f".github/workflows/{name}"
