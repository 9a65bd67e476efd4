"""Cost warnings for ``lint``: parts of a filter whose cost grows faster than the
payload, from the worst-case estimates of ``cost``, each at the construct responsible.
"""

from __future__ import annotations

import lark

from tako_gha.core.cel.checks import _position
from tako_gha.core.cel.cost import estimate, growth, uniform_event, walk
from tako_gha.core.cel.functions import _MACROS
from tako_gha.core.cel.limits import FilterLimits, FilterWarning
from tako_gha.core.links import doc_url

LINT_LIST_SIZE = 1000  # payload list length assumed by lint's growth warnings
# ... and by its "over the budget" warning: a comprehension whose condition is so costly
# that even 100 elements exceed the step budget (1,000 would flag ordinary filters).
LINT_BUDGET_LIST_SIZE = 100


_POWERS = {2: "square", 3: "cube"}


def _describe(node: lark.Tree) -> str:
    if node.data == "member_dot_arg":
        name = str(node.children[1])
        return f"{name}()" if name not in _MACROS else f"the comprehension .{name}()"
    return {
        "relation": "this comparison",
        "addition": "this '+'",
        "multiplication": "this operation",
        "list_lit": "this list",
        "ident_arg": f"{node.children[0]}()",
    }.get(node.data, "this expression")


def _cost_warnings(ast: lark.Tree, limits: FilterLimits) -> list[FilterWarning]:
    """Warnings about cost growth, each at the outermost construct responsible."""
    found: list[FilterWarning] = []
    if not any(n.data == "member_dot_arg" and str(n.children[1]) in _MACROS
               for n in walk(ast)):
        return found  # without a comprehension the cost is bounded by the filter's size
    exponent = growth(ast, LINT_LIST_SIZE, LINT_LIST_SIZE * 10)
    for node in walk(ast):
        power = round(exponent(node))
        if power >= 2 and node.data in ("member_dot_arg", "relation", "addition", "ident_arg"):
            found.append(FilterWarning(
                f"{_describe(node)} costs in proportion to the {_POWERS.get(power, 'power')} "
                f"of the payload's list/string lengths (nested iteration)",
                **_position(node),
                hint="iterate once: test membership with 'in' on a literal list, or use "
                f"exists() with a cheap condition; see {doc_url('filters.md')}",
            ))
            break
    at_size = estimate(ast, uniform_event(LINT_LIST_SIZE))
    small = estimate(ast, uniform_event(LINT_BUDGET_LIST_SIZE))
    if not found and small.steps > limits.max_eval_steps:
        macro = next(
            (n for n in walk(ast)
             if n.data == "member_dot_arg" and str(n.children[1]) in _MACROS),
            ast,
        )
        found.append(FilterWarning(
            f"with payload lists of {LINT_BUDGET_LIST_SIZE:,} items this filter needs about "
            f"{small.steps:,} steps, over the max_eval_steps limit of "
            f"{limits.max_eval_steps:,}: it would fail on such events",
            **_position(macro),
            hint="keep the condition inside the comprehension cheap, or test a "
            f"smaller list; see {doc_url('filters.md')}",
        ))
    if at_size.built > limits.max_value_size:
        found.append(FilterWarning(
            f"it may build values of about {at_size.built:,} items with payload lists of "
            f"{LINT_LIST_SIZE:,} (string/list growth), over the max_value_size limit of "
            f"{limits.max_value_size:,}",
            **(_position(at_size.built_at) if at_size.built_at is not None else {}),
            hint="compare parts instead of building bigger strings or lists",
        ))
    return found
