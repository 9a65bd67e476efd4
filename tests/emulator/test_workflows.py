"""Workflow files read into the runner's model: forms of ``on:``, jobs, errors."""

from __future__ import annotations

import pytest

from tako_gha.emulator.workflows import (
    WorkflowError,
    expand_matrix,
    is_workflow_path,
    job_order,
    parse_workflow,
    workflow_id_for,
)

STEPS = "    steps:\n      - run: 'true'\n"


def test_full_workflow_model() -> None:
    text = """
name: Rebuild
run-name: ${{ github.event.client_payload.tako.title || github.workflow }}
on:
  repository_dispatch:
    types: [library_built, other]
env: {A: "1"}
defaults:
  run:
    shell: sh
    working-directory: sub
jobs:
  test:
    needs: build
    name: Test it
    if: success()
    timeout-minutes: 5
    continue-on-error: true
    outputs: {o: "${{ steps.x.outputs.y }}"}
    steps:
      - id: x
        name: Step X
        run: echo hi
        env: {B: "2"}
        timeout-minutes: 0.5
        shell: bash
        working-directory: other
        continue-on-error: ${{ true }}
      - uses: owner/tako-gha@v1
        with: {event_type: e}
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          make
          make test
"""
    wf = parse_workflow(".github/workflows/r.yml", text)
    assert wf.display_name == "Rebuild"
    assert wf.run_name and "tako.title" in wf.run_name
    assert wf.env == {"A": "1"}
    assert wf.defaults_run == {"shell": "sh", "working-directory": "sub"}
    assert list(wf.jobs) == ["test", "build"]
    assert job_order(wf) == ["build", "test"]
    test = wf.jobs["test"]
    assert (test.name, test.needs, test.if_, test.timeout_minutes) == (
        "Test it", ["build"], "success()", 5)
    assert test.outputs == {"o": "${{ steps.x.outputs.y }}"}
    x, action = test.steps
    assert (x.id, x.display_name(), x.env, x.timeout_minutes, x.shell) == (
        "x", "Step X", {"B": "2"}, 0.5, "bash")
    assert x.working_directory == "other" and x.continue_on_error == "${{ true }}"
    assert action.display_name() == "Run owner/tako-gha@v1"
    assert action.with_ == {"event_type": "e"}
    assert wf.jobs["build"].steps[0].display_name() == "Run make"
    assert wf.listens_to("repository_dispatch", "library_built")
    assert not wf.listens_to("repository_dispatch", "nope")
    assert not wf.listens_to("push")


@pytest.mark.parametrize(
    ("on", "event_type", "listens"),
    [
        ("on: repository_dispatch", "anything", True),
        ("on: [push, repository_dispatch]", "x", True),
        ("on: [push]", "x", False),
        ("on:\n  repository_dispatch:", "x", True),
        ("on:\n  repository_dispatch:\n    types: x", "x", True),
        ("on:\n  repository_dispatch:\n    types: [a, b]", "b", True),
        ("on:\n  repository_dispatch:\n    types: [a, b]", "c", False),
        ("on:\n  repository_dispatch: {types: null}", "c", True),
        ("'on': repository_dispatch", "x", True),
        ("true: repository_dispatch", "x", True),
    ],
)
def test_on_forms(on: str, event_type: str, listens: bool) -> None:
    wf = parse_workflow("w.yml", f"{on}\njobs:\n  j:\n{STEPS}")
    assert wf.listens_to("repository_dispatch", event_type) is listens


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("on: [push\n", "w.yml:2:1: invalid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("jobs:\n  j:\n" + STEPS, "missing 'on'"),
        ("on: push\n", "'jobs' must be a non-empty mapping"),
        ("on: push\njobs:\n  j: 3\n", "'jobs.j' must be a mapping"),
        ("on: push\njobs:\n  j:\n    steps: []\n", "'jobs.j.steps' must be a non-empty list"),
        ("on: push\njobs:\n  j:\n    steps:\n      - name: x\n", "exactly one of 'run' or 'uses'"),
        ("on: push\njobs:\n  j:\n    steps:\n      - run: a\n        uses: b\n",
         "exactly one of 'run' or 'uses'"),
        ("on: push\njobs:\n  j:\n    steps:\n      - uses: [1]\n", "'jobs.j.steps[0].uses'"),
        ("on: push\njobs:\n  j:\n    steps:\n      - 3\n", "'jobs.j.steps[0]' must be a mapping"),
        ("on: push\njobs:\n  j:\n    needs: x\n" + STEPS, "needs 'x', which is not a job"),
        ("on: push\njobs:\n  j:\n    needs: {a: 1}\n" + STEPS, "'jobs.j.needs' must be"),
        ("on: push\njobs:\n  a:\n    needs: b\n" + STEPS + "  b:\n    needs: a\n" + STEPS,
         "form a cycle"),
        ("on: push\njobs:\n  j:\n    uses: o/r/.github/workflows/x.yml@v1\n",
         "reusable workflow"),
        ("on: 5\njobs:\n  j:\n" + STEPS, "'on' must be"),
        ("on: push\nenv: [a]\njobs:\n  j:\n" + STEPS, "'env' must be a mapping"),
    ],
)
def test_errors_name_file_and_key(text: str, message: str) -> None:
    with pytest.raises(WorkflowError) as info:
        parse_workflow("w.yml", text)
    assert message in str(info.value)
    assert str(info.value).startswith("w.yml")


def test_bytes_input_and_display_name_defaults() -> None:
    wf = parse_workflow(".github/workflows/a.yml", b"on: push\njobs:\n  j:\n" + STEPS.encode())
    assert wf.display_name == ".github/workflows/a.yml"
    assert wf.jobs["j"].steps[0].display_name() == "Run true"


def test_workflow_paths_and_ids() -> None:
    assert is_workflow_path(".github/workflows/ci.yml")
    assert is_workflow_path(".github/workflows/ci.yaml")
    assert not is_workflow_path(".github/workflows/sub/ci.yml")
    assert not is_workflow_path(".github/workflows/notes.md")
    assert not is_workflow_path("ci.yml")
    a = workflow_id_for("acme/app", ".github/workflows/ci.yml")
    assert a == workflow_id_for("ACME/App", ".github/workflows/ci.yml")
    assert a != workflow_id_for("acme/app", ".github/workflows/other.yml")
    assert 10_000_000 <= a < 100_000_000


def test_expand_matrix_follows_githubs_include_example() -> None:
    # the worked example of GitHub's "Expanding or adding matrix configurations"
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand_matrix("w.yml", matrix) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_expand_matrix_exclude_only_include_and_limits() -> None:
    assert expand_matrix("w", {"os": ["a", "b"], "v": [1, 2],
                               "exclude": [{"os": "a", "v": 2}]}) == [
        {"os": "a", "v": 1}, {"os": "b", "v": 1}, {"os": "b", "v": 2}]
    assert expand_matrix("w", {"include": [{"x": 1}, {"x": 2}]}) == [{"x": 1}, {"x": 2}]
    with pytest.raises(WorkflowError, match="limit is 256"):
        expand_matrix("w", {"a": list(range(20)), "b": list(range(20))})
    with pytest.raises(WorkflowError, match="exclude must be a list of mappings"):
        expand_matrix("w", {"a": [1], "exclude": {"a": 1}})


def test_strategy_matrix_is_parsed() -> None:
    text = "on: push\njobs:\n  j:\n    strategy:\n      matrix: {n: [1, 2]}\n" + STEPS
    assert parse_workflow("w.yml", text).jobs["j"].matrix == {"n": [1, 2]}
    with pytest.raises(WorkflowError, match=r"strategy\.matrix' must be a mapping"):
        parse_workflow("w.yml", "on: push\njobs:\n  j:\n    strategy:\n      matrix: [1]\n"
                       + STEPS)


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("'true'", True),
                                                 ("'FALSE'", False)])
def test_fail_fast_values(value: str, expected: bool) -> None:
    text = f"on: push\njobs:\n  j:\n    strategy:\n      fail-fast: {value}\n" + STEPS
    assert parse_workflow("w.yml", text).jobs["j"].fail_fast is expected
    assert parse_workflow("w.yml", "on: push\njobs:\n  j:\n" + STEPS).jobs["j"].fail_fast


def test_fail_fast_must_be_boolean() -> None:
    with pytest.raises(WorkflowError, match="fail-fast' must be true or false"):
        parse_workflow("w.yml", "on: push\njobs:\n  j:\n    strategy:\n      fail-fast: 3\n"
                       + STEPS)


def test_the_world_builders_receiver_listens_and_names_its_run() -> None:
    from tako_gha.emulator.worldgen import receiver_workflow

    workflow = parse_workflow(".github/workflows/w.yml",
                              receiver_workflow(["a", "b"], "exit 1", timeout_minutes=2))
    assert workflow.listens_to("repository_dispatch", "b")
    assert not workflow.listens_to("repository_dispatch", "c")
    assert "client_payload.tako.title" in (workflow.run_name or "")
    (job,) = workflow.jobs.values()
    assert job.timeout_minutes == 2 and job.steps[0].run == "exit 1"
