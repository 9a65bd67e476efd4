"""A step that ``uses:`` the tako action runs this package's real action entry, which
fans out through the same emulator: the cascade nests for real."""

from __future__ import annotations

import pytest
from github import Auth, Github

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def gh(emu) -> Github:
    return Github(auth=Auth.Token(emu.admin_token), base_url=emu.base_url, retry=None,
                  seconds_between_requests=None, seconds_between_writes=None)


ROOT_WORKFLOW = """name: release
on:
  repository_dispatch:
    types: [release]
jobs:
  fan-out:
    steps:
      - id: tako
        uses: acme/tako-gha@v1
        with:
          event_type: library_built
          payload: '{"version": "${{ github.event.client_payload.version }}"}'
          token: ${{ secrets.TAKO_TOKEN }}
          timeout: 60s
          discovery_timeout: 20s
        env:
          TAKO_POLL_MIN_INTERVAL: "0.2"
      - run: echo "tree status ${{ steps.tako.outputs.status }}"
"""

CHILD_WORKFLOW = """name: rebuild
run-name: ${{ github.event.client_payload.tako.title || github.workflow }}
on:
  repository_dispatch:
    types: [library_built]
jobs:
  rebuild:
    steps:
      - run: echo "rebuilding for ${{ github.event.client_payload.inputs.version }}"
"""


def test_tako_action_step_fans_out_through_the_same_server(make_world, start_emulator) -> None:
    producer = "version: 1\nevents:\n  produces:\n    - type: library_built\n"
    subscriber = ("version: 1\nevents:\n  subscriptions:\n    - artifact: acme/core-lib\n"
                  "      events: [library_built]\n      inputs:\n"
                  "        version: \"{{ .event.payload.version }}\"\n")
    world = make_world(
        {"acme/core-lib": {"tako.yml": producer, ".github/workflows/release.yml": ROOT_WORKFLOW},
         "acme/svc": {"tako.yml": subscriber, ".github/workflows/rebuild.yml": CHILD_WORKFLOW}},
        settings={"secrets": {"TAKO_TOKEN": "t-admin"},
                  "tokens": {"t-admin": {"repos": ["*"]}}, "admin_token": "t-admin"},
    )
    emu = start_emulator(world)
    client = gh(emu)
    assert client.get_repo("acme/core-lib").create_repository_dispatch("release",
                                                                       {"version": "2.0.0"})
    assert emu.wait_idle(60)
    root = next(r for r in emu.runs.all_runs() if r.repo == "acme/core-lib")
    child = next(r for r in emu.runs.all_runs() if r.repo == "acme/svc")
    root_log = emu.runner.job_log(root.jobs[0].id)
    assert root.conclusion == "success", root_log
    assert "tree status success" in root_log
    assert child.conclusion == "success"
    assert child.display_title != "rebuild"  # the tako title tag, not the fallback
    assert "rebuilding for 2.0.0" in emu.runner.job_log(child.jobs[0].id)
    assert "t-admin" not in root_log  # the secret token is masked


MIDDLE_WORKFLOW = """name: rebuild-and-fan-out
run-name: ${{ github.event.client_payload.tako.title || github.workflow }}
on:
  repository_dispatch:
    types: [library_built]
jobs:
  rebuild:
    steps:
      - uses: acme/tako-gha@v1
        with:
          event_type: library_built
          token: ${{ secrets.TAKO_TOKEN }}
          timeout: 60s
          discovery_timeout: 20s
        env:
          TAKO_POLL_MIN_INTERVAL: "0.2"
"""


def test_a_level_leaves_its_report_and_the_root_reads_it(make_world, start_emulator) -> None:
    from tako_gha.emulator.artifacts import store_for
    from tako_gha.engine.report import REPORT_PREFIX

    producer = "version: 1\nevents:\n  produces:\n    - type: library_built\n"

    def subscriber(to: str) -> str:
        return (f"version: 1\nevents:\n  produces:\n    - type: library_built\n"
                f"  subscriptions:\n    - artifact: {to}\n      events: [library_built]\n")

    world = make_world(
        {"acme/core-lib": {"tako.yml": producer, ".github/workflows/release.yml": ROOT_WORKFLOW},
         "acme/svc": {"tako.yml": subscriber("acme/core-lib"),
                      ".github/workflows/rebuild.yml": MIDDLE_WORKFLOW},
         "acme/leaf": {"tako.yml": subscriber("acme/svc"),
                       ".github/workflows/rebuild.yml": CHILD_WORKFLOW}},
        settings={"secrets": {"TAKO_TOKEN": "t-admin"},
                  "tokens": {"t-admin": {"repos": ["*"]}}, "admin_token": "t-admin"},
    )
    emu = start_emulator(world)
    assert gh(emu).get_repo("acme/core-lib").create_repository_dispatch("release",
                                                                        {"version": "2.0.0"})
    assert emu.wait_idle(90)
    runs = {r.repo: r for r in emu.runs.all_runs()}
    root_log = emu.runner.job_log(runs["acme/core-lib"].jobs[0].id)
    assert runs["acme/core-lib"].conclusion == "success", root_log
    middle = runs["acme/svc"]
    reports = store_for(world).of_run("acme/svc", middle.id)
    assert [a.name.startswith(REPORT_PREFIX) for a in reports] == [True]
    sent = [(e["path"], e["status"]) for e in emu.requests()]
    assert any(p.startswith(f"/repos/acme/svc/actions/runs/{middle.id}/artifacts") and s == 200
               for p, s in sent)
    assert any(p.startswith(f"/repos/acme/svc/actions/artifacts/{reports[0].id}/zip")
               and s == 302 for p, s in sent)
    assert "no report from" not in root_log
