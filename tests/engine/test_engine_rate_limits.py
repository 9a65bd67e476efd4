"""Rate limits against the fan-out's deadline, end to end on the emulator.

A primary budget that runs out mid-fan-out with a reset later than the deadline
must not park the process until the reset: the wait ends at the deadline, what
was never sent says so (and why), and nothing is dispatched twice.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState, TreeStatus
from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import receiver_workflow, subscriber_config, write_world
from tako_gha.engine.api import FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.surfaces.connect import open_forge

pytestmark = pytest.mark.e2e
TOKEN = "t-admin"
WORKFLOW = receiver_workflow("built", "echo working")
SUBSCRIBE = subscriber_config("acme/src", "built")
CHILDREN = [f"acme/c{i}" for i in range(4)]


def test_budget_exhausted_past_the_deadline_ends_at_the_deadline(tmp_path: Path) -> None:
    world = {"acme/src": {"tako.yml": "version: 1\n"}}
    world.update({r: {"tako.yml": SUBSCRIBE, ".github/workflows/w.yml": WORKFLOW}
                  for r in CHILDREN})
    settings = {"tokens": {TOKEN: {"repos": ["*"]}}, "admin_token": TOKEN,
                "limits": {"window": "40s"}, "faults": {"budgets": {"core": 2}}}
    root = write_world(tmp_path / "world", world, settings)
    with Emulator(root, port=0) as emu:
        forge = open_forge(emu.base_url, token=TOKEN, cache_dir=tmp_path / "cache")
        request = FanOutRequest(event=Event("built", "acme/src", {}), org="acme")
        options = FanOutOptions(timeout=3.0, discovery_timeout=10.0, poll_min_interval=0.1,
                                poll_max_interval=0.5, sibling_grace=0.2,
                                dispatches_per_minute=1000)
        started = time.monotonic()
        report = fan_out(forge, request, options)
        elapsed = time.monotonic() - started
        runs = emu.runs.all_runs()

    # The reset is 40 s away: before, the forge slept until it, far past --timeout.
    assert elapsed < 15, elapsed
    assert report.status is TreeStatus.TIMED_OUT
    kids = {n.repo: n for n in report.origin.children}
    assert sorted(kids) == CHILDREN
    sent = sorted(r.repo for r in runs)
    assert len(sent) == 2 and len(set(sent)) == 2  # the budget allowed two, none twice
    for repo in set(CHILDREN) - set(sent):
        node = kids[repo]
        assert node.state is NodeState.TIMED_OUT and not node.runs
        assert node.reason.startswith("not dispatched"), node.reason
        assert "rate limit" in node.reason, node.reason
    for repo in sent:  # sent, but their runs could not be listed any more
        assert "not dispatched" not in (kids[repo].reason or "")
