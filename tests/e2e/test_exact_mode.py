"""Exact mode end to end on the emulator: one tree mixing workflow-dispatch (exact) and
repository_dispatch receivers, an exact child fanning out again from its run (its
context read from ``inputs.tako``); then the same tree on a server that refuses
``return_run_details`` (a GHES 3.20)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tako_gha.core.events import Event
from tako_gha.core.tree import TreeStatus
from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.engine.api import FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.journal import Journal, read
from tako_gha.engine.watch import watch
from tako_gha.forge import exact
from tako_gha.surfaces.connect import open_forge

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
TOKEN = "t-admin"
ROOT = "00000000e1ac"
QUICK = {"poll_min_interval": 0.1, "poll_max_interval": 0.5, "sibling_grace": 0.3,
         "discovery_timeout": 10.0, "timeout": 60.0}
SETTINGS = {"secrets": {"TAKO_TOKEN": TOKEN}, "tokens": {TOKEN: {"repos": ["*"]}},
            "admin_token": TOKEN, "runner": {"capacity": 8}}
CHILD_ENV = {"GITHUB_TOKEN": "${{ secrets.TAKO_TOKEN }}", "TAKO_POLL_MIN_INTERVAL": "0.1",
             "TAKO_POLL_MAX_INTERVAL": "0.5", "TAKO_SIBLING_GRACE": "0.3"}


def release(fan_out_event: str | None = None) -> str:
    """An exact-mode receiver: listens on workflow_dispatch, declares its input and
    `tako`, names its run from `tako` (so the tree can also be rebuilt from titles)."""
    lines = [
        "name: release",
        "run-name: ${{ inputs.tako && fromJSON(inputs.tako).title || github.workflow }}",
        "on:", "  workflow_dispatch:", "    inputs:",
        "      version: {required: true}",
        "      tako: {description: the cascade context (tako-gha), required: false}",
        "jobs:", "  work:", "    runs-on: ubuntu-latest", "    steps:",
        "      - run: test \"$VERSION\" = 2.1.0 && test \"$SOURCE\" = acme/a",
        "        env:",
        "          VERSION: ${{ inputs.version }}",
        "          SOURCE: ${{ fromJSON(inputs.tako).event.source }}",
    ]
    if fan_out_event:
        lines += ["      - name: fan out", "        env:"]
        lines += [f'          {k}: "{v}"' for k, v in CHILD_ENV.items()]
        lines += ["        run: |",
                  f"          {sys.executable} -m tako_gha fan-out --event {fan_out_event}"
                  " --timeout 30s --discovery-timeout 8s --payload '{\"version\": \"2.1.0\"}'"]
    return "\n".join(lines) + "\n"


def on_tako(event: str) -> str:
    return ("name: on-tako\n"
            "run-name: ${{ github.event.client_payload.tako.title || github.workflow }}\n"
            f"on:\n  repository_dispatch:\n    types: [{event}]\n"
            "jobs:\n  work:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ok\n")


def tako_yml(producer: str, event: str, workflow: str | None = None) -> str:
    text = (f"version: 1\nevents:\n  subscriptions:\n    - artifact: {producer}\n"
            f"      events: [{event}]\n")
    if workflow:
        text += f"      workflow: {workflow}\n"
    return text + '      inputs:\n        version: "{{ .event.payload.version }}"\n'


@pytest.fixture(autouse=True)
def _hosts_learnt_afresh() -> Iterator[None]:
    """What this process learnt of a host (no run details) must not outlive the test:
    a later emulator may get the same port."""
    exact.forget_hosts()
    yield
    exact.forget_hosts()


def world(tmp_path: Path, settings: dict[str, Any]) -> Path:
    """acme/a → acme/b (repository_dispatch), acme/x (exact; its run fans out to acme/e,
    repository_dispatch), acme/y (exact)."""
    wf = ".github/workflows/"
    return write_world(tmp_path / "world", {
        "acme/a": {"tako.yml": "version: 1\n"},
        "acme/b": {"tako.yml": tako_yml("acme/a", "shipped"), wf + "w.yml": on_tako("shipped")},
        "acme/x": {"tako.yml": tako_yml("acme/a", "shipped", "release.yml"),
                   wf + "release.yml": release("shipped")},
        "acme/y": {"tako.yml": tako_yml("acme/a", "shipped", "release.yml"),
                   wf + "release.yml": release()},
        "acme/e": {"tako.yml": tako_yml("acme/x", "shipped"), wf + "w.yml": on_tako("shipped")},
    }, settings)


def cascade(emu: Emulator, tmp_path: Path) -> tuple[Any, Path]:
    forge = open_forge(emu.base_url, token=TOKEN, cache_dir=tmp_path / "cache")
    journal_path = tmp_path / "journal.jsonl"
    request = FanOutRequest(event=Event("shipped", "acme/a", {"version": "2.1.0"}),
                            org="acme", root=ROOT)
    report = fan_out(forge, request, FanOutOptions(**QUICK), journal=Journal(journal_path))
    return report, journal_path


def listings(emu: Emulator, repo: str) -> list[str]:
    """The run listings of ``repo`` in the request log (reading one run is not one)."""
    listing = re.compile(rf"^/repos/{repo}/actions/(workflows/[^/]+/)?runs(\?|$)")
    return [e["path"] for e in emu.requests()
            if e["method"] == "GET" and listing.match(e["path"])]


def shape(report: Any) -> list[tuple[int, str, str, str | None]]:
    return [(n.depth, n.repo, n.state.value, n.correlation) for n in report.origin.walk()][1:]


def test_a_tree_mixing_exact_and_repository_dispatch(tmp_path: Path) -> None:
    with Emulator(world(tmp_path, SETTINGS)) as emu:
        report, journal_path = cascade(emu, tmp_path)
        assert report.status is TreeStatus.SUCCESS, shape(report)
        assert sorted(shape(report)) == [(1, "acme/b", "success", "strict"),
                                         (1, "acme/x", "success", "exact"),
                                         (1, "acme/y", "success", "exact"),
                                         (2, "acme/e", "success", "strict")]
        # the exact repositories' runs were never listed, by the root or anyone
        assert listings(emu, "acme/x") == [] and listings(emu, "acme/y") == []
        assert listings(emu, "acme/b") and listings(emu, "acme/e")
        # each exact node's run is the one its dispatch's answer named (the journal
        # recorded the answer), and the only run of that repository
        answered = {e.repo: e.answered_run for e in read(journal_path, ROOT).entries.values()}
        for node in report.origin.children:
            runs = [r.id for r in emu.runs.all_runs() if r.repo == node.repo]
            assert [r.run_id for r in node.runs] == runs
            if node.correlation == "exact":
                assert runs == [answered[node.repo]]
        assert emu.runs.all_runs() and all(
            r.event == ("workflow_dispatch" if r.repo in ("acme/x", "acme/y")
                        else "repository_dispatch") for r in emu.runs.all_runs())
        # `tako-gha status` rebuilds the same tree from the runs' titles alone (the
        # exact receivers name their runs from inputs.tako)
        rebuilt = watch(open_forge(emu.base_url, token=TOKEN, cache_dir=None), ROOT, "acme",
                        FanOutOptions(**{**QUICK, "wait": False}))
        assert sorted((d, r, s) for d, r, s, _ in shape(rebuilt)) == [
            (1, "acme/b", "success"), (1, "acme/x", "success"), (1, "acme/y", "success"),
            (2, "acme/e", "success")]


def test_the_same_tree_on_a_server_without_run_details(tmp_path: Path) -> None:
    settings = {**SETTINGS, "features": {"return_run_details": False}}
    with Emulator(world(tmp_path, settings)) as emu:
        report, _ = cascade(emu, tmp_path)
        assert report.status is TreeStatus.SUCCESS, shape(report)
        assert sorted(shape(report)) == [(1, "acme/b", "success", "strict"),
                                         (1, "acme/x", "success", "strict"),
                                         (1, "acme/y", "success", "strict"),
                                         (2, "acme/e", "success", "strict")]
        posts = [e["status"] for e in emu.requests()
                 if e["method"] == "POST" and "/actions/workflows/" in e["path"]]
        assert posts.count(422) == 1 and posts.count(204) == 2  # one refusal per host
        runs = sorted(r.repo for r in emu.runs.all_runs())
        assert runs == ["acme/b", "acme/e", "acme/x", "acme/y"]  # each exactly once


@pytest.mark.parametrize("first_attempt", [True, False])
def test_a_childs_first_attempt_sends_to_exact_targets_without_listing_them(
        tmp_path: Path, first_attempt: bool) -> None:
    """Inside a run on its first attempt nothing was sent for its dispatch before: its
    exact targets are dispatched without a listing first (one request each, not two).
    A later attempt lists each target once, to adopt what the first attempt sent."""
    from tako_gha.engine.api import CascadeContext

    with Emulator(world(tmp_path, SETTINGS)) as emu:
        forge = open_forge(emu.base_url, token=TOKEN, cache_dir=None)
        ctx = CascadeContext(root=ROOT, parent="0000000000aa", depth=1,
                             chain=("acme/a",), deadline=None)
        request = FanOutRequest(event=Event("shipped", "acme/a", {"version": "2.1.0"}),
                                org="acme", repos=("acme/a", "acme/y"), context=ctx)
        options = FanOutOptions(**{**QUICK, "first_attempt": first_attempt})
        report = fan_out(forge, request, options)
        assert report.status is TreeStatus.SUCCESS, shape(report)
        assert shape(report) == [(1, "acme/y", "success", "exact")]
        assert len(listings(emu, "acme/y")) == (0 if first_attempt else 1)
        assert [r.repo for r in emu.runs.all_runs()] == ["acme/y"]
