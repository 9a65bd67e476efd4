"""One verdict: the node states and the cascade's status from the same facts,
whichever command asks (``fan-out``, ``status``, ``wait``; docs/protocol.md).

- **A run cancelled at or after its sender's deadline timed out.** The deadline
  travels in every payload and in the run title's tag, so a tree rebuilt from runs
  alone reads such a run as ``timed_out`` exactly as the fan-out that cancelled it
  did; a run a person cancelled before then reads ``cancelled``. Cancels take a
  moment to land and clocks differ by a little: ``CANCEL_SLACK`` before the deadline
  still counts as at it.
- **Failure outranks time.** The cascade failed (exit 1) when any node failed for
  a reason of its own; it timed out (exit 3) only when time is the sole problem:
  nodes still going (or never sent) when the deadline came, or cancelled for it. A
  run GitHub itself ended ``timed_out`` (a job's ``timeout-minutes``) is a failure
  of that run, not the cascade running out of time.
- **The root cause once.** ``root_causes`` names the failed nodes whose failure is
  their own (no failed node below them): the rest only carry it up.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from tako_gha.core.tree import NodeState, TreeStatus, state_for_run

if TYPE_CHECKING:
    from tako_gha.core.tree import Node, RunRef

CANCEL_SLACK = timedelta(seconds=2)


def cancelled_for_time(run: RunRef) -> bool:
    """A run that ended ``cancelled`` at or after its sender's deadline."""
    return (run.status == "completed" and run.conclusion == "cancelled"
            and run.deadline is not None and run.updated_at is not None
            and run.updated_at >= run.deadline - CANCEL_SLACK)


def run_state(run: RunRef) -> NodeState:
    """One run's node state: GitHub's (status, conclusion), except that a run
    cancelled for time reads ``timed_out``."""
    if cancelled_for_time(run):
        return NodeState.TIMED_OUT
    return state_for_run(run.status, run.conclusion)


def out_of_time(node: Node) -> bool:
    """The node's only problem is time: ``timed_out`` by the cascade's deadline,
    not by GitHub ending one of its runs ``timed_out``."""
    return node.state is NodeState.TIMED_OUT and not any(
        r.status == "completed" and r.conclusion == "timed_out" for r in node.runs)


def failed_on_its_own(node: Node) -> bool:
    return node.state.is_failure and not out_of_time(node)


def tree_status(origin: Node, *, timed_out: bool = False) -> TreeStatus:
    """The cascade's status over every node below ``origin``. ``timed_out``: the
    wait itself ran out of time (what was still going is ``timed_out``)."""
    nodes = [n for n in origin.walk() if n is not origin]
    failed = any(failed_on_its_own(n) for n in nodes)
    going = any(not n.state.is_terminal for n in nodes)
    if going and not timed_out:
        return TreeStatus.RUNNING
    if failed:
        return TreeStatus.FAILURE
    if going or any(out_of_time(n) for n in nodes):
        return TreeStatus.TIMED_OUT
    # The last look at the deadline found everything finished: nothing timed out.
    return TreeStatus.SUCCESS


def root_causes(origin: Node) -> list[Node]:
    """The failed nodes whose failure is their own, in tree order: none of their
    descendants failed (a parent whose child failed only carries it up)."""
    causes = []
    for node in origin.walk():
        if node is origin or not failed_on_its_own(node):
            continue
        if not any(failed_on_its_own(below) for below in node.walk() if below is not node):
            causes.append(node)
    return causes
