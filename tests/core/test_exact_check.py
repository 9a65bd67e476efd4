"""Exact mode's input rules at lint and plan time: every rule GitHub applies to a
workflow dispatch's inputs, each pointing at both sides (the subscription's input in
tako.yml and the workflow's declaration), file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from tako_gha.core import exact_check, workflow_inputs
from tako_gha.core.config import load_config
from tako_gha.core.lint import listening_warnings, read_workflow

WORKFLOW = """name: release
on:
  workflow_dispatch:
    inputs:
      version:
        required: true
      dry:
        type: boolean
        default: false
      level:
        type: choice
        options: [low, high]
      count:
        type: number
      tako:
        description: tako-gha's cascade context
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""
WF = ".github/workflows/release.yml"


def tako_yml(inputs: dict[str, str], extra: str = "") -> str:
    lines = ["version: 1", "events:", "  subscriptions:", "    - artifact: acme/a",
             "      events: [built]", "      workflow: release.yml"]
    if extra:
        lines.append(extra)
    if inputs:
        lines.append("      inputs:")
        lines += [f'        {k}: "{v}"' for k, v in inputs.items()]
    return "\n".join(lines) + "\n"


def lint(inputs: dict[str, str], workflow: str = WORKFLOW, extra: str = ""
         ) -> list[tuple[str, str, str]]:
    """(code, where, message) of each exact-mode problem lint reports."""
    result = load_config(tako_yml(inputs, extra), path="tako.yml", repo="acme/b")
    assert result.config is not None, [d.format() for d in result.diagnostics]
    info = read_workflow(Path(WF), workflow)
    assert not isinstance(info, exact_check.Diagnostic)
    return [(d.code, d.location(), d.message) for d in listening_warnings(result, [info])]


def test_a_good_subscription_has_nothing_to_say() -> None:
    assert lint({"version": "{{ .event.payload.version }}", "dry": "true", "level": "high",
                 "count": "3"}) == []


def test_unknown_input_points_at_both_sides() -> None:
    [(code, where, message)] = lint({"version": "1", "flavour": "x"})
    assert (code, where) == ("unknown-input", "tako.yml:9:18")
    assert f"({WF}:3:3 declares: version, dry, level, count)" in message


def test_missing_required_input_points_at_both_sides() -> None:
    [(code, where, message)] = lint({"dry": "true"})
    assert (code, where) == ("missing-input", "tako.yml:6:17")  # the workflow: line
    assert f"requires input 'version' ({WF}:5:7)" in message


def test_a_required_input_with_a_default_may_be_left_out() -> None:
    workflow = WORKFLOW.replace("        required: true\n",
                                "        required: true\n        default: '1.0'\n")
    assert lint({}, workflow) == []


@pytest.mark.parametrize(("name", "value", "declared", "says"), [
    ("dry", "yes", f"{WF}:7:7: type boolean", "is not a boolean"),
    ("count", "many", f"{WF}:13:7: type number", "is not a number"),
    ("level", "mid", f"{WF}:10:7: type choice, options low, high",
     "not in the list of allowed values"),
])
def test_typed_inputs_check_literal_values(name: str, value: str, declared: str,
                                           says: str) -> None:
    [(code, where, message)] = lint({"version": "1", name: value})
    assert (code, where) == ("bad-input-value", "tako.yml:9:" + str(11 + len(name)))
    assert says in message and f"(declared at {declared})" in message


def test_a_templated_value_is_judged_at_plan_time_not_lint_time() -> None:
    assert lint({"version": "1", "dry": "{{ .event.payload.dry }}"}) == []
    result = load_config(tako_yml({"version": "1", "dry": "{{ .event.payload.dry }}"}),
                         path="tako.yml", repo="acme/b")
    assert result.config is not None
    sub = result.config.subscriptions[0]
    declared = workflow_inputs.parse(WORKFLOW, WF)
    found = exact_check.check("tako.yml", sub, declared, values={"version": "1", "dry": "1"})
    assert [(d.code, d.location()) for d in found] == [("bad-input-value", "tako.yml:9:14")]
    assert exact_check.check("tako.yml", sub, declared,
                             values={"version": "1", "dry": "false"}) == []


def test_more_than_25_inputs_counting_takos_own() -> None:
    workflow = WORKFLOW.replace("      tako:\n", "".join(
        f"      i{n}: {{}}\n" for n in range(24)) + "      tako:\n")
    inputs = {"version": "1", **{f"i{n}": "x" for n in range(24)}}  # 25 + tako = 26
    problems = lint(inputs, workflow)
    assert [(c, w) for c, w, _ in problems] == [("too-many-inputs", "tako.yml:6:17")]
    assert "sends 26 inputs" in problems[0][2]
    assert lint({k: v for k, v in inputs.items() if k != "i23"}, workflow) == []


def test_tako_is_reserved() -> None:
    [(code, where, _)] = lint({"version": "1", "tako": "{}"})
    assert (code, where) == ("reserved-input", "tako.yml:9:15")


def test_a_receiver_without_the_tako_input_is_warned_with_the_two_lines() -> None:
    workflow = WORKFLOW.replace("      tako:\n        description: tako-gha's cascade context\n",
                                "")
    result = load_config(tako_yml({"version": "1"}), path="tako.yml", repo="acme/b")
    info = read_workflow(Path(WF), workflow)
    assert result.config is not None and not isinstance(info, exact_check.Diagnostic)
    [warning] = listening_warnings(result, [info])
    assert (warning.code, warning.location(), warning.is_error) == ("tako-input",
                                                                    f"{WF}:3:3", False)
    assert warning.hint.splitlines()[1:] == [
        "      tako:", "        description: tako-gha's cascade context (JSON)"]


def test_repository_dispatch_trigger_keeps_the_old_rules() -> None:
    problems = lint({"flavour": "x"}, extra="      trigger: repository_dispatch")
    # not exact: the inputs are not workflow inputs; the file must listen for the type
    assert [c for c, _, _ in problems] == ["no-listener"]


def test_workflow_dispatch_trigger_needs_a_workflow() -> None:
    result = load_config("version: 1\nevents:\n  subscriptions:\n    - artifact: acme/a\n"
                         "      events: [built]\n      trigger: workflow_dispatch\n",
                         path="tako.yml", repo="acme/b")
    assert [(d.code, d.location()) for d in result.diagnostics] == [("bad-trigger",
                                                                     "tako.yml:6:16")]



def test_an_explicit_workflow_dispatch_trigger_needs_a_listening_workflow() -> None:
    """`trigger: workflow_dispatch` naming a workflow that listens only on
    repository_dispatch: an error at the workflow: value (the fan-out sends nothing
    there), not silence and a quiet repository_dispatch."""
    deaf = ("name: release\nrun-name: ${{ github.event.client_payload.tako.title }}\n"
            "on:\n  repository_dispatch:\n    types: [built]\njobs: {}\n")
    problems = lint({}, deaf, extra="      trigger: workflow_dispatch")
    assert [(c, w) for c, w, _ in problems] == [("trigger-not-heard", "tako.yml:6:17")]
    assert "says trigger: workflow_dispatch, but release.yml does not listen on " \
        "workflow_dispatch" in problems[0][2]
    assert lint({}, deaf) == []  # without the trigger: repository_dispatch, and it listens


def test_a_receiver_without_any_inputs_is_shown_the_block_to_write() -> None:
    """`on: workflow_dispatch` (no inputs at all): "under on.workflow_dispatch.inputs"
    names a mapping that is not there, so the hint shows the whole block."""
    bare = "name: release\non: [push, workflow_dispatch]\njobs: {}\n"
    result = load_config(tako_yml({}), path="tako.yml", repo="acme/b")
    info = read_workflow(Path(WF), bare)
    assert result.config is not None and not isinstance(info, exact_check.Diagnostic)
    [warning] = listening_warnings(result, [info])
    assert (warning.code, warning.location()) == ("tako-input", f"{WF}:2:12")
    assert warning.hint.splitlines()[1:] == [
        "  on:", "    workflow_dispatch:", "      inputs:", "        tako:",
        "          description: tako-gha's cascade context (JSON)"]
