"""The simulated runner: declared durations and conclusions, no process, and a tree
that unfolds through declared fan-outs with tako's titles and payloads."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tako_gha.core.ids import parse_title
from tako_gha.emulator import Emulator, WorldError
from tako_gha.emulator.settings import parse_settings
from tako_gha.emulator.simulated import SimulatedRunner
from tako_gha.emulator.testing import call
from tako_gha.emulator.worldgen import receiver_workflow

pytestmark = pytest.mark.timeout(60)

ROOT = "a1b2c3d4e5f6"


def _world(make_world: Callable[..., Path], **simulate: object) -> Path:
    flow = {".github/workflows/w.yml": receiver_workflow("built", "exit 1")}
    return make_world({"acme/a": flow, "acme/b": flow, "acme/c": flow, "acme/quiet": {}},
                      settings={"runner": {"simulate": simulate}})


def _dispatch(emu: Emulator, repo: str, payload: dict) -> None:
    reply = call(emu.base_url, "POST", f"/repos/{repo}/dispatches", emu.admin_token,
                 {"event_type": "built", "client_payload": payload})
    assert reply.status == 204


def _runs(emu: Emulator) -> list[dict]:
    return call(emu.base_url, "GET", "/_emulator/runs", "").json()


def test_runs_last_the_declared_time_and_end_as_declared(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    emu = start_emulator(_world(make_world, duration="1s", queued="0.2s",
                                conclusion="neutral"))
    assert isinstance(emu.runner, SimulatedRunner)
    began = time.monotonic()
    _dispatch(emu, "acme/a", {"tako": {"title": f"built from x [tako:{ROOT}:-:{ROOT}]"}})
    _dispatch(emu, "acme/quiet", {})  # no workflow listens: no run
    (run,) = _runs(emu)
    assert run["status"] == "queued" and run["display_title"].endswith(f"{ROOT}]")
    time.sleep(0.5)
    assert _runs(emu)[0]["status"] == "in_progress"
    assert emu.wait_idle(10)
    took = time.monotonic() - began
    assert 1.0 <= took < 5
    (done,) = _runs(emu)
    # the workflow says `exit 1`, the simulation says neutral: nothing was executed
    assert (done["status"], done["conclusion"]) == ("completed", "neutral")
    jobs = call(emu.base_url, "GET", f"/repos/acme/a/actions/runs/{done['id']}/jobs",
                emu.admin_token).json()["jobs"]
    assert [(j["status"], j["conclusion"]) for j in jobs] == [("completed", "neutral")]


def test_a_declared_fan_out_unfolds_a_tree_with_tako_titles(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    emu = start_emulator(_world(make_world, duration="0.5s", queued="0.1s",
                                fan_out={"acme/a": ["acme/b", "acme/c"]}))
    tako = {"root": ROOT, "parent": None, "id": ROOT, "depth": 1, "chain": ["x", "acme/a"],
            "deadline": None, "title": f"built from x [tako:{ROOT}:-:{ROOT}]"}
    _dispatch(emu, "acme/a", {"event": {"type": "built", "source": "x"}, "tako": tako})
    assert emu.wait_idle(10)
    runs = {r["repository"]["full_name"]: r for r in _runs(emu)}
    assert set(runs) == {"acme/a", "acme/b", "acme/c"}
    for child in ("acme/b", "acme/c"):
        tag = parse_title(runs[child]["display_title"])
        assert tag is not None and (tag.root, tag.parent) == (ROOT, ROOT)
        assert runs[child]["display_title"].startswith("built from acme/a")
    assert parse_title(runs["acme/b"]["display_title"]) != parse_title(
        runs["acme/c"]["display_title"])


def test_cancel_ends_a_simulated_run_at_once(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    emu = start_emulator(_world(make_world, duration="1h"))
    _dispatch(emu, "acme/a", {})
    (run,) = _runs(emu)
    reply = call(emu.base_url, "POST", f"/repos/acme/a/actions/runs/{run['id']}/cancel",
                 emu.admin_token)
    assert reply.status == 202
    assert emu.wait_idle(5) and _runs(emu)[0]["conclusion"] == "cancelled"


@pytest.mark.parametrize(("simulate", "message"), [
    ("fast", "runner.simulate: expected a mapping"),
    ({"speed": 2}, "unknown key 'speed'"),
    ({"conclusion": "great"}, "runner.simulate.conclusion: expected one of success"),
    ({"duration": "soon"}, "runner.simulate.duration"),
    ({"fan_out": {"acme/a": "acme/b"}}, "runner.simulate.fan_out.acme/a: expected a list"),
])
def test_bad_simulation_settings_say_where(simulate: object, message: str) -> None:
    with pytest.raises(WorldError, match=message.replace(".", r"\.")):
        parse_settings({"runner": {"simulate": simulate}})
