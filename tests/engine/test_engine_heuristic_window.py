"""Heuristic correlation when polling runs late: a dispatch's untagged run created
inside its window is matched even when the first listing that shows it comes just
after the discovery deadline (a loaded machine, a budget that slows polling)."""

from __future__ import annotations

from fakes import FakeClock, FakeForge, FakeWorkflow

from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState
from tako_gha.engine.api import FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.planning import StaticPlanner, Target

ROOT = "0123456789ab"
OPTS = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 600.0}


def test_an_untagged_run_first_seen_past_the_discovery_deadline_still_matches() -> None:
    """A loaded machine (or a budget that slows polling) lists the repo only just after
    the dispatch's discovery deadline; its run was created at once. It is this
    dispatch's run, not a reason to call the node not_started."""
    class Late(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + 0.5)  # every wake-up comes a little late

    clock = Late()
    forge = FakeForge(clock, {"acme/u": [FakeWorkflow(run_name=False)]})
    forge.appear_delay["acme/u"] = 30.2  # listed only after the 30 s window
    report = fan_out(forge, FanOutRequest(event=Event("built", "acme/a"), org="acme",
                                          root=ROOT),
                     FanOutOptions(**OPTS), planner=StaticPlanner([Target("acme/u")], {}),
                     clock=clock)
    (node,) = report.origin.children
    assert node.state is NodeState.SUCCESS and node.correlation == "heuristic"
    assert forge.calls["dispatch"] == 1
