"""The evaluator: celpy's ``Evaluator`` subclassed to check the budget at every node,
short-circuit ``&&``/``||``, and run the five macros itself.

Owns ``_BoundedEvaluator`` (its overrides of celpy's grammar-rule methods
``conditionaland``, ``conditionalor`` and ``member_dot_arg``, and of ``visit``,
``visit_children`` and ``sub_evaluator``), ``_Binding`` (a macro variable rebound per
element) and ``_logic`` (CEL's commutative ``&&``/``||`` on types only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lark
from celpy import celtypes
from celpy.evaluation import Activation, CELEvalError, Evaluator

from tako_gha.core.cel.budget import _Budget
from tako_gha.core.cel.checks import _macro_parts
from tako_gha.core.cel.cost import MACRO_ITERATION, Shape, estimate_macro
from tako_gha.core.cel.errors import _body_error, _Flat, _flatten, _type_error
from tako_gha.core.cel.functions import _CONVERSIONS, _MACROS
from tako_gha.core.cel.limits import _Abort

# A macro is stopped before it starts when its estimated worst case is this many times
# the steps left (the estimate counts every element and overcounts a little).
OVER_BUDGET_FACTOR = 8


class _Binding(Activation):
    """A macro's variable over the enclosing activation, rebound for each element.

    Built once per macro (celpy's public ``Activation``, its ``resolve_variable``
    overridden): the variable resolves here, every other name in the enclosing
    activation -- outer macro variables included.
    """

    def __init__(self, parent: Activation, name: str) -> None:
        super().__init__(functions=parent.functions, package=parent.package, based_on=parent)
        self.parent = parent
        self.name = name
        self.value: Any = None

    def resolve_variable(self, name: str) -> Any:
        if name == self.name:
            return self.value
        return self.parent.resolve_variable(name)


class _BoundedEvaluator(Evaluator):
    """celpy's tree-walking evaluator, checking the budget at every node it visits.

    It also short-circuits ``&&``, ``||``, ``exists`` and ``all``, which celpy 0.5
    evaluates in full (it only combines the results commutatively). The results are
    the same -- CEL defines ``false && x`` as false whatever ``x`` is, errors
    included -- but "cheap checks first" then really saves the expensive ones.
    Combining is done here, on types only: celpy's own combination quotes both
    operands in its error message, and inside a macro that message grows with each
    element (a 40-element ``exists`` with a non-bool body took 40 s and 5 GB).
    """

    def __init__(self, ast: lark.Tree, activation: Activation, budget: _Budget) -> None:
        super().__init__(ast, activation)
        self._budget = budget

    def sub_evaluator(self, ast: lark.Tree) -> Evaluator:
        # Macros (map/filter/all/exists) evaluate their body with a nested evaluator:
        # it must share the same budget.
        return _BoundedEvaluator(ast, self.activation, self._budget)

    def function_eval(
        self, name_token: lark.Token, exprlist: Iterable[Any] | None = None
    ) -> Any:
        """celpy's function call, with type conversions metered like every operation.

        The function table keeps conversions as the types themselves (they are values
        too), so they are charged here: for what they read before they run, for what
        they build after (capped by max_value_size)."""
        name = str(name_token)
        if name not in _CONVERSIONS or isinstance(exprlist, CELEvalError):
            return super().function_eval(name_token, exprlist)
        args = list(exprlist or ())
        self._budget.convert(name, args)
        result = super().function_eval(name_token, args)
        self._budget.built_text(name, result, args)
        return result

    def _macro_body(self, tree: lark.Tree) -> Callable[[Any], Any]:
        """The macro's condition/expression as a function of one element.

        celpy's own (``build_macro_eval``) builds a fresh activation, a copy of every
        name and function, for each element: ~20 us, most of a macro's cost. Here the
        variable is rebound in place (``_Binding``) and one evaluator serves all
        elements; the answers are the same. An error is returned as a value.
        """
        variable, body = _macro_parts(tree)
        try:
            binding = _Binding(self.activation, variable)
        except TypeError:  # pragma: no cover - a celpy whose Activation changed shape
            return self.build_ss_macro_eval(tree)  # celpy's own way: slower, same answers
        evaluator = _BoundedEvaluator(body, binding, self._budget)
        budget = self._budget

        def run(item: Any) -> Any:
            budget.charge(MACRO_ITERATION)
            binding.value = item
            try:
                return evaluator.visit(body)
            except CELEvalError as error:
                return error

        return run

    def visit(self, tree: lark.Tree) -> Any:
        self._budget.check()
        value = super().visit(tree)
        return self._seen(value)

    def visit_children(self, tree: lark.Tree) -> list[Any]:
        self._budget.check()
        values = super().visit_children(tree)
        for index, value in enumerate(values):
            if isinstance(value, (celtypes.ListType, celtypes.MapType, CELEvalError)):
                values[index] = self._seen(value)
        return values

    def _seen(self, value: Any) -> Any:
        if isinstance(value, CELEvalError):
            return value if value.args[1:2] == (_Flat,) else _flatten(value)
        self._budget.seen(value)
        return value

    def conditionaland(self, tree: lark.Tree) -> Any:
        return self._logical(tree, decisive=False, op="&&")

    def conditionalor(self, tree: lark.Tree) -> Any:
        return self._logical(tree, decisive=True, op="||")

    def _logical(self, tree: lark.Tree, *, decisive: bool, op: str) -> Any:
        if len(tree.children) != 2:
            return self.visit(tree.children[0])
        left = self.visit(tree.children[0])
        if isinstance(left, celtypes.BoolType) and bool(left) is decisive:
            return left  # false && _ is false, true || _ is true
        return _logic(decisive, op, left, self.visit(tree.children[1]))

    def member_dot_arg(self, tree: lark.Tree) -> Any:
        """The macros, all five here: bounded before they start, errors kept as errors.

        celpy 0.5 runs ``filter`` and ``exists_one`` on the truthiness of the body, so an
        error value (an exception object, hence truthy) counted as true there.
        """
        name = str(tree.children[1])
        if name not in _MACROS or len(tree.children) != 3:
            return super().member_dot_arg(tree)
        items = self.visit(tree.children[0])
        if isinstance(items, CELEvalError):
            return items
        if not isinstance(items, (list, dict)):
            return _type_error(name, items)
        self._check_worst_case(tree, name, items)
        if name == "map":
            return self._map(items, self._macro_body(tree))
        body = self._macro_body(tree)
        if name == "filter":
            return self._filter(items, body)
        if name == "exists_one":
            return self._exists_one(items, body)
        decisive = name == "exists"  # one true decides exists(), one false decides all()
        result: Any = celtypes.BoolType(not decisive)
        for item in items:
            value = body(item)
            if not isinstance(value, (celtypes.BoolType, CELEvalError)):
                value = _body_error(name, value)
            if isinstance(value, celtypes.BoolType) and bool(value) is decisive:
                return value
            result = _logic(decisive, name, result, value)
        return result

    def _check_worst_case(self, tree: lark.Tree, name: str, items: Any) -> None:
        """Stop now a macro whose worst case over *these* items cannot fit the budget.

        Run, it would burn the rest of the budget and fail anyway; with many hostile
        subscriptions, that would be the whole fan-out's time. The estimate uses the
        actual length and element shapes of the list (and of the other variables).
        """
        budget = self._budget
        budget.charge(len(items) >> 6)

        def lookup(variable: str) -> Shape | None:
            try:
                value = self.activation.resolve_variable(variable)
            except (KeyError, TypeError):
                return None
            return budget.shape(value)

        _variable, body = _macro_parts(tree)
        receiver = budget.shape(items)
        inner = estimate_macro(body, _variable, receiver, lookup)
        left = budget.limits.max_eval_steps - budget.steps
        if inner > left * OVER_BUDGET_FACTOR:
            raise _Abort(
                "max_eval_steps",
                f"{name}() over {len(items):,} items would need about {inner:,} steps in the "
                f"worst case, more than the {max(left, 0):,} left of the max_eval_steps "
                f"limit of {budget.limits.max_eval_steps:,} (stopped before it started)",
            )
        if inner > (budget.cap - budget.steps) * OVER_BUDGET_FACTOR:
            budget.over_allowance()  # hopeless within what the caller has left: no verdict

    def _map(self, items: Iterable[Any], mapped: Callable[[Any], Any]) -> Any:
        # Weighed as it grows: ``l.map(x, l)`` is refused after a few elements, not after
        # building all of them.
        budget, cap = self._budget, self._budget.limits.max_value_size
        values, weight = [], 1
        for item in items:
            value = mapped(item)
            if isinstance(value, CELEvalError):
                return value
            weight += budget.weight(value)
            if weight > cap:
                raise _Abort(
                    "max_value_size",
                    f"map() would build a list of more than {cap:,} items counting "
                    f"repeats, the max_value_size limit",
                )
            values.append(value)
        return celtypes.ListType(values)

    @staticmethod
    def _filter(items: Iterable[Any], body: Callable[[Any], Any]) -> Any:
        kept = []
        for item in items:
            value = body(item)
            if not isinstance(value, celtypes.BoolType):
                return value if isinstance(value, CELEvalError) else _body_error(
                    "filter", value
                )
            if value:
                kept.append(item)
        return celtypes.ListType(kept)

    @staticmethod
    def _exists_one(items: Iterable[Any], body: Callable[[Any], Any]) -> Any:
        count = 0
        for item in items:
            value = body(item)
            if not isinstance(value, celtypes.BoolType):
                return value if isinstance(value, CELEvalError) else _body_error(
                    "exists_one", value
                )
            count += bool(value)
        return celtypes.BoolType(count == 1)


def _logic(decisive: bool, op: str, left: Any, right: Any) -> Any:
    """CEL's commutative ``||`` (decisive=True) / ``&&`` (False), by types only.

    A deciding bool on either side wins, errors included; otherwise the first error;
    otherwise a non-bool operand is an error; otherwise both are the non-deciding bool.
    """
    left_bool = isinstance(left, celtypes.BoolType)
    right_bool = isinstance(right, celtypes.BoolType)
    if right_bool and bool(right) is decisive:
        return right
    if left_bool and right_bool:
        return left
    if isinstance(left, CELEvalError):
        return left
    if isinstance(right, CELEvalError):
        return right
    return _type_error(op, left, right)
