"""The action's root inside Actions: derived from (repository, run id, job, step,
event type), so attempt 2 of a job continues attempt 1's cascade (on_rerun)."""

from __future__ import annotations

import pytest

from tako_gha.engine.api import CascadeContext
from tako_gha.surfaces.action import InputError, read_inputs, rerun_plan, step_root

ENV = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/core", "GITHUB_RUN_ID": "41",
       "GITHUB_JOB": "release", "GITHUB_ACTION": "tako", "TAKO_INPUT_EVENT_TYPE": "built",
       "GITHUB_TOKEN": "t"}


def test_the_root_is_the_same_in_every_attempt_and_differs_per_step() -> None:
    root = step_root(ENV, "built")
    assert root is not None and len(root) == 12
    assert step_root({**ENV, "GITHUB_RUN_ATTEMPT": "2"}, "built") == root
    assert step_root({**ENV, "GITHUB_ACTION": "tako2"}, "built") != root
    assert step_root({**ENV, "GITHUB_RUN_ID": "42"}, "built") != root
    assert step_root(ENV, "other") != root
    assert step_root({**ENV, "GITHUB_ACTIONS": ""}, "built") is None


def test_attempt_two_resumes_unless_fresh() -> None:
    first = rerun_plan(ENV, read_inputs(ENV), None)
    assert first == (None, step_root(ENV, "built"), False)
    again = {**ENV, "GITHUB_RUN_ATTEMPT": "2"}
    context, root, rerun = rerun_plan(again, read_inputs(again), None)
    assert context is not None and context.root == first[1] and context.parent is None
    assert root is None and rerun is True
    fresh = {**again, "TAKO_INPUT_ON_RERUN": "fresh"}
    assert rerun_plan(fresh, read_inputs(fresh), None) == (None, None, False)
    inside = CascadeContext(root="0" * 12, parent="1" * 12, depth=2, chain=("acme/x",),
                            deadline=None)
    assert rerun_plan(again, read_inputs(again), inside) == (inside, None, True)
    with pytest.raises(InputError, match="input on_rerun: expected resume or fresh"):
        read_inputs({**ENV, "TAKO_INPUT_ON_RERUN": "sometimes"})
