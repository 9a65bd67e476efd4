"""A filter's verdict does not depend on the machine's load (docs/filters.md, Limits).

Two processes burn CPU beside the evaluations. A filter using 95 % of the step budget
must give the same verdict, after the same steps, every time; one past the budget must
be refused the same way every time. (With the 0.25 s wall clock that used to stop
evaluations, a 96 %-of-budget filter matched 4 times out of 20 beside two such
processes.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import celpy
import pytest

from tako_gha.core.cel import DEFAULT_LIMITS, FilterOutcome, compile_filter

RUNS = 20


@pytest.fixture
def two_cpu_burners() -> Iterator[list[subprocess.Popen[bytes]]]:
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(2)]
    time.sleep(0.1)  # let them start burning
    try:
        yield burners
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def _evaluate_repeatedly(items: int) -> list[FilterOutcome]:
    # A comprehension over the whole list, the last element deciding; most of each
    # element's steps are for reading a 6,400-character string (100 steps, at C speed),
    # so 20 runs stay quick even on a crowded machine.
    compiled = compile_filter(
        f"event.payload.l.exists(x, event.payload.s.startsWith('q') || x == {items - 1})")
    payload = {"l": list(range(items)), "s": "p" * 6_400}
    activation = {"event": celpy.json_to_cel({"payload": payload})}
    return [compiled.evaluate(activation, memo=False) for _ in range(RUNS)]


def test_verdicts_do_not_change_with_cpu_load(
    two_cpu_burners: list[subprocess.Popen[bytes]],
) -> None:
    budget = DEFAULT_LIMITS.max_eval_steps
    near = _evaluate_repeatedly(125)
    past = _evaluate_repeatedly(140)
    assert all(burner.poll() is None for burner in two_cpu_burners)  # still burning

    answers = {(o.matched, o.error, o.limit, o.reason, o.steps) for o in near}
    assert len(answers) == 1, answers
    (matched, error, limit, _reason, steps) = answers.pop()
    assert matched and not error and limit is None
    assert 0.94 * budget <= steps <= 0.96 * budget  # ~95 % of the budget

    refusals = {(o.matched, o.limit, o.tool_error, o.reason, o.steps) for o in past}
    assert len(refusals) == 1, refusals
    (matched, limit, tool_error, reason, steps) = refusals.pop()
    assert not matched and limit == "max_eval_steps" and not tool_error
    assert f"max_eval_steps limit of {budget:,} steps" in reason and steps > budget
