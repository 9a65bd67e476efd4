"""CEL filters on cel-python (docs/filters.md): the package's public face.

Everything other modules and tests use is here:

    FilterLimits(max_length, max_ast_nodes, max_depth, max_eval_seconds,
                 max_value_size, max_match_work, max_eval_steps, max_eval_memory)
    DEFAULT_LIMITS
    compile_filter(source, limits=DEFAULT_LIMITS) -> CompiledFilter
        cached per process (same source+limits -> same object); raises
        FilterError(message, limit=<name or None>, line=, column=, hint=) when it does
        not compile or breaks a limit.
    CompiledFilter.source: str
    CompiledFilter.evaluate(activation: dict, *, memo=True, max_steps=None) -> FilterOutcome
        never raises for run-time problems: FilterOutcome(matched=False, reason=...,
        error=True, limit=..., detail=...) for missing fields, type errors, non-bool
        results and breached limits; ``steps`` is what the call spent. ``tool_error``:
        no verdict, tako-gha failed (its CPU backstop, an internal error);
        ``limit == ALLOWANCE``: no verdict, the caller's ``max_steps`` ran out.
    CompiledFilter.warnings() -> list[FilterWarning(message, line, column, hint)]
        cost warnings for lint (nested iteration, values that grow with the payload).
    activation_for(event: Event, subscriber: str) -> dict
        the variables ``event`` (type, schema_version, source, payload) and
        ``subscriber`` (repo).
    FUNCTIONS: name -> one-line help, for docs and lint hints.

How it works. celpy parses the source into a lark tree; ``checks`` checks it (limits,
known names, static result type) and rewrites it (``semver.major(x)`` -- which CEL
parses as a method call on an identifier ``semver`` -- into a flat function call named
``semver.major``, a name no user can type); ``evaluator`` runs it with celpy's
``Evaluator``, subclassed so that every tree node visited counts against the step
budget of ``budget`` (a CPU-time clock is only a backstop). Bounded by construction:

- every function and operator is wrapped (``budget._metered``), and the type
  conversions are metered where they are called (``evaluator.function_eval``): each is
  charged steps for what it reads before it runs and for the strings it builds, which
  are capped by max_value_size and count against a memory budget;
- every list or map the filter builds is weighed by its tree size (shared parts
  counted each time), so nothing can print or compare as the square of what it holds;
- error values are flattened to short messages as soon as they appear (``errors``:
  celpy quotes operands, errors included, in the next error);
- the five macros are run by ``evaluator``; before one starts, its worst case over the
  actual list is estimated (``cost``) and a hopeless one is stopped at once;
- operations that could blow up in a single step (string or list concatenation,
  ``replace``, ``join``) check a size cap first (``functions``); ``matches`` uses RE2
  (linear time), each pattern compiled once, and checks pattern size x text length
  first.

The modules: ``limits`` (limits and outcomes), ``functions`` (the function table and
size-bounded operators), ``budget`` (budget and metering), ``evaluator`` (evaluator and
macros), ``errors`` (celpy's error texts made readable), ``checks`` (compile-time checks
and tree rewriting), ``compiled`` (compile_filter, CompiledFilter, activation_for),
``cost`` (worst-case estimates) and ``cost_warnings`` (lint's cost warnings). Names with
a leading underscore are shared inside the package only.

What this relies on in celpy, beyond its documented entry points
(``celpy.Environment().compile``, ``celpy.json_to_cel``, ``celpy.celtypes``):

- ``celpy.evaluation.Evaluator`` is subclassed and its internals overridden or called:
  the grammar-rule methods ``conditionaland``, ``conditionalor`` and ``member_dot_arg``,
  and ``function_eval``, ``visit``, ``visit_children``, ``sub_evaluator``, ``build_ss_macro_eval``,
  ``evaluate`` and the ``activation`` attribute; so the shape of celpy's lark tree
  (rule names such as ``member_dot_arg``, ``ident_arg``, ``exprlist`` and their
  children) is relied on by the evaluator and by every compile-time check;
- ``celpy.evaluation.Activation(functions=, package=, based_on=)`` and its
  ``resolve_variable``; ``base_functions`` (the operator table, by names such as
  ``_+_``), ``boolean`` (optional) and ``celstr``; ``CELEvalError``'s ``args`` layout
  (message, exception type, arguments) and its ``line``/``column``;
- ``celpy.celparser.CELParseError`` (``line``, ``column``, and the lark exception as its
  ``__context__``) and ``CELParser.CEL_PARSER`` (the lark parser, read for its terminals);
- the wording of celpy's evaluation errors (``errors`` rewrites them by pattern).

None of these is a stable API, hence the exact pin ``cel-python==0.5.0`` in
pyproject.toml: a new celpy release may rename a rule or a method, and a changed
``Evaluator`` could skip our budget check without failing anything. CI also runs the
suite on the newest celpy so such a change is seen before the pin moves. No module of
celpy is patched: everything is done in subclasses and our own function table (patching
celpy's hot paths made evaluation ~1.5x faster but changed celpy for every user in the
process); see ``checks._collapse`` for what is done on our side to keep it fast.
"""

from __future__ import annotations

from tako_gha.core.cel.compiled import CompiledFilter, activation_for, compile_filter
from tako_gha.core.cel.functions import FUNCTIONS
from tako_gha.core.cel.limits import (
    ALLOWANCE,
    DEFAULT_LIMITS,
    FilterError,
    FilterLimits,
    FilterOutcome,
    FilterWarning,
)

__all__ = [
    "ALLOWANCE",
    "DEFAULT_LIMITS",
    "FUNCTIONS",
    "CompiledFilter",
    "FilterError",
    "FilterLimits",
    "FilterOutcome",
    "FilterWarning",
    "activation_for",
    "compile_filter",
]
