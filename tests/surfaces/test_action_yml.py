"""action.yml keeps the contract the entry and the emulator rely on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tako_gha.core.action_contract import ENTRY_MODULE, INPUT_DEFAULTS, OUTPUTS, env_name

ROOT = Path(__file__).resolve().parents[2]


def _action() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def _step(action: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in action["runs"]["steps"] if s.get("id") == step_id)


def test_inputs_and_defaults_match_the_contract() -> None:
    inputs = _action()["inputs"]
    assert set(inputs) == set(INPUT_DEFAULTS)
    for name, spec in inputs.items():
        assert spec.get("default", "") == INPUT_DEFAULTS[name], name
        assert spec["description"].strip(), name
    assert inputs["event_type"]["required"] is True


def test_outputs_match_the_contract_and_come_from_the_entry_step() -> None:
    outputs = _action()["outputs"]
    assert tuple(outputs) == OUTPUTS
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.tako.outputs.{name} }}}}"


def test_composite_without_docker_and_every_input_through_env() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    tako = _step(action, "tako")
    env = tako["env"]
    for name in INPUT_DEFAULTS:
        assert f"inputs.{name}" in env[env_name(name)], name
    assert env["TAKO_INPUT_ORG"] == "${{ inputs.org || github.repository_owner }}"
    assert env["TAKO_INPUT_API_URL"] == "${{ inputs.api_url || github.api_url }}"
    assert ENTRY_MODULE in tako["run"]


def test_no_expressions_inside_scripts() -> None:
    for step in _action()["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step.get("id")
            assert step["shell"] == "bash"


def test_python_set_up_without_touching_the_caller() -> None:
    action = _action()
    python = _step(action, "python")
    assert re.fullmatch(r"actions/setup-python@[0-9a-f]{40}", python["uses"])
    assert python["with"]["update-environment"] is False
    for step_id in ("venv", "install"):
        step = _step(action, step_id)
        assert step["env"]["TAKO_BASE_PYTHON"] == "${{ steps.python.outputs.python-path }}"
        assert '"$GITHUB_ACTION_PATH/tako_gha/surfaces/action_setup.py"' in step["run"]


def test_install_is_locked_and_the_venv_cached() -> None:
    action = _action()
    install = _step(action, "install")["run"]
    assert "--require-hashes" in install
    assert '-r "$GITHUB_ACTION_PATH/requirements/action.txt"' in install
    # the package itself: no dependency resolution, no unhashed build requirements
    assert re.search(r'--no-deps --no-build-isolation .*"\$GITHUB_ACTION_PATH"$', install,
                     re.MULTILINE)
    cache = _step(action, "cache")
    assert re.fullmatch(r"actions/cache@[0-9a-f]{40}", cache["uses"])
    assert cache["with"] == {"path": "${{ steps.venv.outputs.venv }}",
                             "key": "${{ steps.venv.outputs.key }}",
                             "restore-keys": "${{ steps.venv.outputs.restore-key }}"}
    # nothing to restore when an interpreter already runs this tako-gha
    assert cache["if"] == "steps.venv.outputs.ready == ''"
    ids = [s.get("id") for s in action["runs"]["steps"]]
    assert ids == ["python", "venv", "cache", "install", "tako", "report"]


def test_inside_a_cascade_the_last_step_leaves_the_report_for_the_root() -> None:
    report = _step(_action(), "report")
    assert re.fullmatch(r"actions/upload-artifact@[0-9a-f]{40}", report["uses"])
    # even when the fan-out failed: the root then knows what it did dispatch
    assert report["if"].startswith("always()")
    assert "steps.tako.outputs.report_name" in report["if"]
    assert report["with"]["name"] == "${{ steps.tako.outputs.report_name }}"
    assert report["with"]["path"] == "${{ steps.tako.outputs.report_path }}"
