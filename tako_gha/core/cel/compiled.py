"""Compiled filters: ``compile_filter`` (parse and check once) and
``CompiledFilter.evaluate`` (run against an event, never raising for run-time
problems), and the variables a filter sees (``activation_for``).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import celpy
import celpy.evaluation
import lark
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import Activation, CELEvalError

from tako_gha.core.cel.budget import _BUDGET, _Budget, _facts_for, _metered
from tako_gha.core.cel.checks import (
    _check_names,
    _check_result_type,
    _check_size,
    _collapse,
    _rebalance,
)
from tako_gha.core.cel.cost import estimate, shape_of
from tako_gha.core.cel.cost_warnings import _cost_warnings
from tako_gha.core.cel.errors import _cel_type_name, _describe_parse_error, _readable_eval_error
from tako_gha.core.cel.evaluator import _BoundedEvaluator
from tako_gha.core.cel.functions import (
    _COMPARISONS,
    _SEMVER_FUNCTIONS,
    _STRING_FUNCTIONS,
    _make_size_bounded,
)
from tako_gha.core.cel.limits import (
    ALLOWANCE,
    DEFAULT_LIMITS,
    FilterError,
    FilterLimits,
    FilterOutcome,
    FilterWarning,
    _Abort,
)

if TYPE_CHECKING:
    from tako_gha.core.events import Event


class CompiledFilter:
    """One filter, parsed and checked once; ``evaluate`` runs it against an event."""

    __slots__ = (
        "_activation",
        "_ast",
        "_estimate",
        "_memo",
        "_uses_subscriber",
        "_warnings",
        "limits",
        "source",
    )

    def __init__(
        self, source: str, ast: lark.Tree, limits: FilterLimits, uses_subscriber: bool
    ) -> None:
        self.source = source
        self.limits = limits
        self._ast = ast
        self._uses_subscriber = uses_subscriber
        self._warnings: list[FilterWarning] | None = None
        # Type names (``int``, ``string``...) are values too (``type(x) == int``): they
        # stay themselves; what they convert is already weighed, so bounded.
        functions: dict[str, Callable[..., Any]] = {
            name: function if isinstance(function, type) else _metered(name, function)
            for name, function in {
                **celpy.evaluation.base_functions,
                **_COMPARISONS,
                **_SEMVER_FUNCTIONS,
                **_STRING_FUNCTIONS,
                **_make_size_bounded(limits),
            }.items()
        }
        # Built once: celpy would otherwise rebuild it (with protobuf annotations we do
        # not use) for every evaluation.
        self._activation = Activation(functions=functions)
        # (event value, outcome) of the last evaluation: filters are pure, and matching
        # evaluates the same filter against the same event once per subscriber.
        self._memo: tuple[object, FilterOutcome] | None = None
        # (event value, worst-case steps) of the last estimate: one per event, however
        # many repositories share this filter
        self._estimate: tuple[object, int] | None = None

    def __repr__(self) -> str:
        return f"CompiledFilter({self.source!r})"

    @property
    def reads_subscriber(self) -> bool:
        """Whether the filter reads ``subscriber`` (its outcome then differs per
        subscriber, and is never remembered)."""
        return self._uses_subscriber

    def evaluate(
        self, activation: Mapping[str, Any], *, memo: bool = True, max_steps: int | None = None
    ) -> FilterOutcome:
        """Run the filter; problems become ``FilterOutcome(False, reason, error=True)``.

        A filter is a pure function of its variables, so the outcome for the last
        ``event`` object is kept and reused (unless the filter reads ``subscriber``):
        matching one event against 10,000 subscriptions sharing a filter evaluates it
        once. ``memo=False`` always evaluates (benchmarks measure that). Do not mutate
        an event value between calls.

        ``max_steps``: what the caller has left of a larger budget; below
        max_eval_steps, an evaluation that needs more stops with ``limit ==
        ALLOWANCE`` (no verdict: it may be run again with more). Such an outcome, and
        a tool error, are never remembered.
        """
        event = activation.get("event")
        last = self._memo
        if memo and last is not None and last[0] is event and not self._uses_subscriber:
            return last[1]
        try:
            context = {name: _to_cel(value) for name, value in activation.items()}
        except ValueError as exc:
            outcome = self._failed(f"the event cannot be given to CEL: {exc}")
        else:
            outcome = self._run(context, max_steps)
        if (
            event is not None
            and not self._uses_subscriber
            and not outcome.tool_error
            and outcome.limit != ALLOWANCE
        ):
            self._memo = (event, replace(outcome, steps=0))  # a remembered outcome is free
        return outcome

    def worst_case(self, activation: Mapping[str, Any]) -> int:
        """Estimated worst-case steps of ``evaluate(activation)``: 0 when its outcome is
        remembered, else from the syntax tree and the sizes of the actual values
        (``cost``). Lets a caller sharing a budget order its work cheapest first."""
        event = activation.get("event")
        last = self._memo
        if last is not None and last[0] is event and not self._uses_subscriber:
            return 0
        if not isinstance(event, (celtypes.MapType, dict)):
            return 0  # an event CEL cannot take: every evaluation fails at once
        known = self._estimate
        if known is not None and known[0] is event:
            return known[1]
        facts = _facts_for({"event": event})
        steps = estimate(self._ast, shape_of(event, facts.shapes)).steps
        self._estimate = (event, steps)
        return steps

    def _run(self, context: dict[str, Any], max_steps: int | None = None) -> FilterOutcome:
        budget = _Budget(self.limits, _facts_for(context), max_steps)
        outcome = self._spend(context, budget)
        return replace(outcome, steps=max(budget.steps, 1))

    def _spend(self, context: dict[str, Any], budget: _Budget) -> FilterOutcome:
        token = _BUDGET.set(budget)
        try:
            value = _BoundedEvaluator(self._ast, self._activation, budget).evaluate(context)
        except CELEvalError as exc:
            return self._failed(_readable_eval_error(exc))
        except _Abort as exc:
            return self._failed(exc.message, exc.limit, tool_error=exc.limit == "max_eval_seconds")
        except RecursionError:
            return self._failed("nested too deeply to evaluate", "max_depth")
        except MemoryError:  # pragma: no cover - guarded by max_value_size
            return self._failed("ran out of memory", "max_value_size")
        except Exception as exc:  # a bug in celpy must not crash a cascade
            return self._failed(
                f"internal error: {type(exc).__name__}: {str(exc)[:200]}", tool_error=True
            )
        finally:
            _BUDGET.reset(token)
        if isinstance(value, CELEvalError):  # pragma: no cover - celpy raises these
            return self._failed(_readable_eval_error(value))
        if not isinstance(value, (bool, celtypes.BoolType)):
            return self._failed(f"the filter returned {_cel_type_name(value)}, not bool")
        if value:
            return FilterOutcome(True)
        return FilterOutcome(False, f"filter is false: {self.source}", detail="is false")

    def warnings(self) -> list[FilterWarning]:
        """Cost warnings for ``lint``: parts whose cost grows faster than the payload."""
        if self._warnings is None:
            self._warnings = _cost_warnings(self._ast, self.limits)
        return list(self._warnings)

    def _failed(
        self, why: str, limit: str | None = None, *, tool_error: bool = False
    ) -> FilterOutcome:
        return FilterOutcome(
            False,
            f"filter {self.source!r} failed: {why}",
            True,
            limit,
            detail=f"failed: {why}",
            tool_error=tool_error,
        )


_CEL_VALUE_TYPES = (
    celtypes.BoolType,
    celtypes.IntType,
    celtypes.UintType,
    celtypes.DoubleType,
    celtypes.StringType,
    celtypes.BytesType,
    celtypes.ListType,
    celtypes.MapType,
    celtypes.TimestampType,
    celtypes.DurationType,
)


def _to_cel(value: Any) -> Any:
    """Accept plain JSON values in an activation as well as celpy ones."""
    if value is None or isinstance(value, _CEL_VALUE_TYPES):
        return value
    if isinstance(value, _Unusable):
        raise ValueError(value.reason)
    converted = _event_to_cel(value)
    if isinstance(converted, _Unusable):
        raise ValueError(converted.reason)
    return converted


_last_event: tuple[object, Any] | None = None


def activation_for(event: Event, subscriber: str) -> dict[str, Any]:
    """The variables a filter sees: ``event`` and ``subscriber``.

    The event is converted to CEL values once per Event object, so matching one
    event against 10,000 subscriptions converts its payload once.
    """
    global _last_event
    cached = _last_event
    if cached is not None and cached[0] is event:
        event_value = cached[1]
    else:
        event_value = _event_to_cel(event.to_json())
        _last_event = (event, event_value)
    return {"event": event_value, "subscriber": celtypes.StringType(subscriber)}


class _Unusable:
    """Stands in for an event CEL cannot take; every filter then fails with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _event_to_cel(data: Any) -> Any:
    try:
        return celpy.json_to_cel(data)
    except RecursionError:
        return _Unusable("the payload is nested too deeply")
    except (TypeError, ValueError) as exc:
        return _Unusable(str(exc))


_ENVIRONMENT: celpy.Environment | None = None


def _environment() -> celpy.Environment:
    # Building the LALR parser takes ~0.1 s: once per process, and only when needed.
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        # celpy sets the recursion limit to 2500 outright; never lower one already higher.
        before = sys.getrecursionlimit()
        _ENVIRONMENT = celpy.Environment()
        sys.setrecursionlimit(max(before, sys.getrecursionlimit()))
    return _ENVIRONMENT


def compile_filter(source: str, limits: FilterLimits = DEFAULT_LIMITS) -> CompiledFilter:
    """Parse and check ``source`` once per process; raises FilterError.

    The same (source, limits) always gives the same CompiledFilter object. Failures
    are not cached (they are rare and cheap: the length cap bounds the parse).
    """
    return _compile_cached(source, limits)


@functools.lru_cache(maxsize=65536)
def _compile_cached(source: str, limits: FilterLimits) -> CompiledFilter:
    if not isinstance(source, str):
        raise FilterError(
            f"a filter must be a CEL expression string, not {type(source).__name__}",
            hint="quote it in YAML, e.g. - 'event.payload.build_status == \"success\"'",
        )
    if not source.strip():
        raise FilterError("the filter is empty", hint="write a CEL expression such as true")
    if len(source) > limits.max_length:
        raise FilterError(
            f"the filter is {len(source):,} characters long, over the max_length limit of "
            f"{limits.max_length:,}",
            "max_length",
            hint="split it into several filters (all must be true)",
        )
    ast = _rebalance(_parse(source))
    _check_size(ast, limits)
    uses_subscriber = _check_names(ast)
    _check_result_type(ast)
    return CompiledFilter(source, _collapse(ast), limits, uses_subscriber)


def _parse_hint(described: str) -> str:
    # A lone "=" is the most common slip (YAML and shell habits): name the operator.
    if described.startswith("unexpected character '='"):
        return ("CEL compares with ==, not =: write e.g. event.payload.channel == "
                "\"stable\"")
    return "check for a missing operand, quote or parenthesis at that position"


def _parse(source: str) -> lark.Tree:
    try:
        return _environment().compile(source)
    except CELParseError as exc:
        described = _describe_parse_error(exc)
        raise FilterError(
            f"the filter does not parse: {described}",
            line=exc.line or 0,
            column=exc.column or 0,
            hint=_parse_hint(described),
        ) from None
    except RecursionError:  # pragma: no cover - the LALR parser is not recursive
        raise FilterError("the filter is nested too deeply", "max_depth") from None
