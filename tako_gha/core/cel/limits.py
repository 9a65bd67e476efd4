"""Limits and outcomes of CEL filters: what a filter may spend, and what it gave.

Owns ``FilterLimits`` (every cap, each named in the message of the breach),
``FilterError`` (compile-time refusal), ``FilterOutcome`` (the verdict of one
evaluation), ``FilterWarning`` (a lint cost warning) and ``_Abort`` (how a breached
limit stops an evaluation from anywhere inside celpy).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FilterLimits:
    """Caps against hostile or accidental cost; each breach names its field."""

    max_length: int = 2000  # characters of source
    max_ast_nodes: int = 1000  # syntax nodes (literals, names, operators, calls)
    max_depth: int = 50  # nesting of operators, calls, parentheses, lists, macros
    # A backstop only, in CPU seconds of the evaluating thread (time.thread_time: load
    # from other processes does not advance it). The step budget decides every verdict:
    # 15,000 steps took at most 0.25 s of CPU here with the costliest operations per
    # step (split, errors in a comprehension), so 5 s is 20x that, room for a machine
    # many times slower or a coverage tracer. A stop by it is a fault of tako-gha's
    # metering, reported as such (``FilterOutcome.tool_error``), never a verdict.
    max_eval_seconds: float = 5.0
    # Longest string, or heaviest list/map (items and characters counted with repeats),
    # a filter may build.
    max_value_size: int = 100_000
    # One matches() call: RE2 program size x text length. RE2 is linear in the text but
    # its slowest path costs about (pattern size x text length), ~4e8 units a second:
    # a 50,000-character pattern from the payload run on itself took 6 s, in C, where
    # the per-node clock cannot stop it. So the cost is bounded before the search; on a
    # loaded machine 16,000,000 units took 0.5 s, hence a cap of 10,000,000.
    max_match_work: int = 10_000_000
    # Steps of one evaluation: about one per syntax node evaluated, three more per
    # element a macro visits, one per 64 characters / 4 list items an operation reads.
    # 15,000 steps take 0.04-0.12 s in celpy's evaluator (an exists() over ~2,000
    # items); counting them makes the stop deterministic (the clock is a backstop).
    max_eval_steps: int = 15_000
    # Bytes (estimated) of the strings, lists and maps one evaluation builds.
    max_eval_memory: int = 16_000_000


DEFAULT_LIMITS = FilterLimits()

# ``FilterOutcome.limit`` of an evaluation stopped by the step allowance its caller gave
# (``CompiledFilter.evaluate(..., max_steps=)``) before its own max_eval_steps: no
# verdict, the caller's budget ran out.
ALLOWANCE = "allowance"

VARIABLES = ("event", "subscriber")


class FilterError(ValueError):
    """A filter that does not compile, or breaks a limit (``.limit`` names it)."""

    def __init__(
        self,
        message: str,
        limit: str | None = None,
        *,
        line: int = 0,
        column: int = 0,
        hint: str = "",
    ) -> None:
        self.message = message
        self.limit = limit
        self.line = line
        self.column = column
        self.hint = hint
        text = message
        if line:
            text += f" (line {line}, column {column})" if line > 1 else f" (column {column})"
        if hint:
            text += f"; hint: {hint}"
        super().__init__(text)


@dataclass(frozen=True)
class FilterOutcome:
    """Whether a subscription's filter matched, and if not, why (for ``plan``)."""

    matched: bool
    # ``reason`` names the filter ("filter is false: SRC" / "filter 'SRC' failed: ...");
    # ``detail`` says the same without the source, for callers that show it already.
    reason: str = ""
    error: bool = False  # the filter failed (missing field, type error, limit, non-bool)
    limit: str | None = None  # the limit that stopped it, if any
    detail: str = ""
    # No verdict: tako-gha itself failed to evaluate the filter (its CPU backstop
    # stopped it, or an internal error). Neither "matches" nor "does not match".
    tool_error: bool = False
    # Steps this call spent (0 when the outcome was remembered): what matching adds up
    # per repository, so one tako.yml with many costly subscriptions stays bounded.
    steps: int = field(default=0, compare=False)


class _Abort(BaseException):
    """Stops an evaluation outright (a limit was hit).

    A BaseException on purpose: celpy turns ordinary exceptions raised inside
    functions into CEL error *values*, which ``||``/``exists`` may then swallow; a
    breached limit must end the evaluation instead.
    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message


@dataclass(frozen=True)
class FilterWarning:
    """A costly construct in a filter, at (line, column) inside the expression."""

    message: str
    line: int = 0
    column: int = 0
    hint: str = ""
