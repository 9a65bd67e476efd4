"""The copy-paste examples in docs/examples and the bundled demo world stay valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tako_gha.core.config import load_config
from tako_gha.emulator.workflows import parse_workflow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
DEMO = ROOT / "tako_gha" / "demo_world"
RUN_NAME = "${{ github.event.client_payload.tako.title || github.workflow }}"
TAKO_FILES = sorted(EXAMPLES.glob("tako-*.yml")) + sorted(DEMO.glob("acme/*/tako.yml"))
WORKFLOWS = sorted(EXAMPLES.glob("workflows/*.yml")) + sorted(DEMO.glob("acme/*/dot-github/"
                                                                         "workflows/*.yml"))


@pytest.mark.parametrize("path", TAKO_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tako_files_load_without_any_diagnostic(path: Path) -> None:
    result = load_config(path.read_text(), path=str(path), repo="my-org/example")
    assert result.config is not None
    assert result.diagnostics == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_workflows_parse_and_receivers_set_the_run_name(path: Path) -> None:
    workflow = parse_workflow(path.name, path.read_text())
    if "repository_dispatch" in workflow.on:
        assert workflow.run_name == RUN_NAME
    text = path.read_text()
    for uses in re.findall(r"uses:\s*(\S+)", text):
        if uses.startswith("acme/tako-gha@"):
            continue  # the demo world: the emulator runs this package for it
        assert re.search(r"@[0-9a-f]{40}$", uses), f"{uses} is not pinned to a commit"
    for step_script in re.findall(r"run: \|\n((?:\s{10,}.*\n?)+)", text):
        assert "${{" not in step_script


def test_examples_reference_the_action_inputs_that_exist() -> None:
    from tako_gha.surfaces.action_contract import INPUT_DEFAULTS

    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if "tako-gha@" in step.get("uses", ""):
                    assert set(step.get("with", {})) <= set(INPUT_DEFAULTS), path
