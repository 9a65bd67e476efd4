"""The workflow dispatch endpoint as GitHub has it: by file name or id, ``ref``, inputs
checked against the declaration with GitHub's 422 texts, ``return_run_details``, and a
world that plays a server without it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import Reply, call

pytestmark = pytest.mark.timeout(60)

RELEASE = """name: release
run-name: release ${{ inputs.version }} dry=${{ inputs.dry }}
on:
  workflow_dispatch:
    inputs:
      version: {required: true}
      dry: {type: boolean, default: false}
      level: {type: choice, options: [low, high], default: low}
      tako: {required: false}
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "name=$EVENT_NAME ctx=$VERSION dry=$DRY event=$FROM_EVENT" > "$GITHUB_STEP_SUMMARY"
          python3 -c "$SHOW"
        env:
          EVENT_NAME: ${{ github.event_name }}
          VERSION: ${{ inputs.version }}
          DRY: ${{ inputs.dry && 'yes' || 'no' }}
          FROM_EVENT: ${{ github.event.inputs.version }}
          SHOW: >-
            import json, os; e = json.load(open(os.environ['GITHUB_EVENT_PATH']));
            print('EVENT', json.dumps(e['inputs'], sort_keys=True), e['ref'])
"""
OTHER = """name: other
on:
  repository_dispatch:
    types: [built]
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


def _world(make_world: Callable[..., Path], settings: dict | None = None) -> Path:
    return make_world({"acme/app": {".github/workflows/release.yml": RELEASE,
                                    ".github/workflows/other.yml": OTHER}}, settings)


def _post(emu: Emulator, workflow: str, body: object) -> Reply:
    return call(emu.base_url, "POST",
                f"/repos/acme/app/actions/workflows/{workflow}/dispatches",
                token=emu.admin_token, body=body)


def test_run_details_name_the_run_it_started_with_inputs_in_both_contexts(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    emu = start_emulator(_world(make_world))
    reply = _post(emu, "release.yml", {"ref": "main", "inputs": {"version": "2.1.0",
                                                                 "dry": "true"},
                                       "return_run_details": True})
    assert reply.status == 200, reply.body
    body = reply.json()
    run_id = body["workflow_run_id"]
    assert body["run_url"] == f"{emu.base_url}/repos/acme/app/actions/runs/{run_id}"
    assert body["html_url"] == f"{emu.base_url}/acme/app/actions/runs/{run_id}"
    assert emu.wait_idle(30)
    run = call(emu.base_url, "GET", f"/repos/acme/app/actions/runs/{run_id}",
               token=emu.admin_token).json()
    assert run["event"] == "workflow_dispatch" and run["conclusion"] == "success"
    assert run["display_title"] == "release 2.1.0 dry=true"
    job = emu.runs.get(run_id).jobs[0]
    assert "name=workflow_dispatch ctx=2.1.0 dry=yes event=2.1.0" in emu.runner.job_summary(job.id)
    log = emu.runner.job_log(job.id)
    # the event file: strings as sent, no defaults filled in; the ref as a full ref
    assert 'EVENT {"dry": "true", "version": "2.1.0"} refs/heads/main' in log


def test_without_run_details_204_and_workflow_by_numeric_id(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    emu = start_emulator(_world(make_world))
    workflows = call(emu.base_url, "GET", "/repos/acme/app/actions/workflows",
                     token=emu.admin_token).json()["workflows"]
    number = next(w["id"] for w in workflows if w["path"].endswith("release.yml"))
    reply = _post(emu, str(number), {"ref": "main", "inputs": {"version": "1"}})
    assert reply.status == 204 and reply.body == b""
    assert emu.wait_idle(30)
    assert [r.event for r in emu.runs.all_runs()] == ["workflow_dispatch"]


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"ref": "main", "inputs": {"version": "1", "nope": "x", "zap": "y"}}, 422,
     'Unexpected inputs provided: ["nope", "zap"]'),
    ({"ref": "main", "inputs": {}}, 422, "Required input 'version' not provided"),
    ({"ref": "main", "inputs": {"version": "1", "level": "mid"}}, 422,
     "Provided value 'mid' for input 'level' not in the list of allowed values"),
    ({"ref": "main", "inputs": {"version": "1", "dry": "yes"}}, 422,
     "Provided value 'yes' for input 'dry' is not a boolean"),
    ({"ref": "nope", "inputs": {"version": "1"}}, 422, "No ref found for: nope"),
    ({"inputs": {"version": "1"}}, 422, "Invalid request.\n\n\"ref\" wasn't supplied."),
    ({"ref": "main", "inputs": {str(i): "x" for i in range(26)}}, 422,
     "Invalid request.\n\nNo more than 25 properties are allowed; 26 were supplied."),
    ({"ref": "main", "inputs": {"version": "1"}, "return_run_details": "yes"}, 422,
     "Invalid request.\n\nFor 'properties/return_run_details', \"yes\" is not a boolean."),
])
def test_refusals_use_githubs_texts_and_start_nothing(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator],
    body: dict, status: int, message: str,
) -> None:
    emu = start_emulator(_world(make_world))
    reply = _post(emu, "release.yml", body)
    assert (reply.status, reply.json()["message"]) == (status, message)
    assert emu.runs.all_runs() == []


def test_workflow_without_the_trigger_and_unknown_workflow(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    emu = start_emulator(_world(make_world))
    reply = _post(emu, "other.yml", {"ref": "main"})
    assert reply.status == 422
    assert reply.json()["message"] == "Workflow does not have 'workflow_dispatch' trigger"
    assert _post(emu, "ghost.yml", {"ref": "main"}).status == 404
    assert emu.runs.all_runs() == []


def test_a_world_without_return_run_details_refuses_the_property(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    emu = start_emulator(_world(make_world, {"features": {"return_run_details": False}}))
    reply = _post(emu, "release.yml", {"ref": "main", "inputs": {"version": "1"},
                                       "return_run_details": True})
    assert reply.status == 422
    assert reply.json()["message"] == ('Invalid request.\n\n"return_run_details" is not a '
                                       "permitted key.")
    assert emu.runs.all_runs() == []
    again = _post(emu, "release.yml", {"ref": "main", "inputs": {"version": "1"}})
    assert again.status == 204
    assert emu.wait_idle(30)
    assert len(emu.runs.all_runs()) == 1


def test_features_setting_is_checked(make_world: Callable[..., Path],
                                     start_emulator: Callable[..., Emulator]) -> None:
    from tako_gha.emulator.settings import WorldError, parse_settings

    with pytest.raises(WorldError, match=r"features\.return_run_details: expected true or false"):
        parse_settings({"features": {"return_run_details": "no"}})
    with pytest.raises(WorldError, match=r"features\.nope"):
        parse_settings({"features": {"nope": True}})
    assert json.dumps(parse_settings({"features": {"return_run_details": False}}).features) \
        == '{"return_run_details": false}'
