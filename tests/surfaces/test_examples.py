"""The copy-paste examples in docs/examples and the bundled demo world stay valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tako_gha.core.config import load_config
from tako_gha.emulator.workflows import parse_workflow
from tako_gha.surfaces.cli import cli

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
    from tako_gha.core.action_contract import INPUT_DEFAULTS

    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if "tako-gha@" in step.get("uses", ""):
                    assert set(step.get("with", {})) <= set(INPUT_DEFAULTS), path


@pytest.mark.parametrize(("tako_file", "workflow"), [
    ("tako-library.yml", "release.yml"),   # the producer
    ("tako-service.yml", "on-tako.yml"),   # the subscriber
    ("tako-exact.yml", "on-tako-exact.yml"),  # a subscriber in exact mode
])
def test_each_example_checkout_lints_clean_with_its_workflow(tmp_path: Path, tako_file: str,
                                                             workflow: str) -> None:
    """A repository set up from the examples as docs/examples/README.md says gets no
    warning either: every subscribed type has a listening workflow, with the run-name."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "tako.yml").write_text((EXAMPLES / tako_file).read_text())
    (tmp_path / ".github" / "workflows" / workflow).write_text(
        (EXAMPLES / "workflows" / workflow).read_text())
    result = CliRunner().invoke(cli, ["lint", "--strict", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_the_fan_out_example_workflow_with_the_tako_yml_its_comment_describes(
        tmp_path: Path) -> None:
    """on-tako-and-fan-out.yml's header shows the tako.yml it needs: with it, no warning."""
    workflow = EXAMPLES / "workflows" / "on-tako-and-fan-out.yml"
    comment = [line[4:] for line in workflow.read_text().splitlines()
               if line.startswith("#   ")]
    produces = yaml.safe_load("\n".join(comment).split("subscriptions:")[0])
    service = yaml.safe_load((EXAMPLES / "tako-service.yml").read_text())
    first = {**service["events"]["subscriptions"][0], "workflow": workflow.name}
    config = {"version": 1, "events": {**produces["events"], "subscriptions": [first]}}
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / workflow.name).write_text(workflow.read_text())
    (tmp_path / "tako.yml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(cli, ["lint", "--strict", str(tmp_path)])
    assert result.exit_code == 0, result.output
