"""Compile-time checks and tree rewriting of a parsed filter.

Owns what is decided once per filter, before any event: size and nesting limits,
known names and arities (functions, methods, macros, ``semver.*``), literal regexes and
version ranges, the static result type; and the rewrites: ``semver.major(x)`` (parsed by
celpy as a method call on an identifier) into a flat call named ``semver.major``, long
``&&``/``||`` chains into balanced trees, and precedence levels dropped
(``_collapse``). Everything here walks the tree iteratively: a hostile filter may nest
deeper than Python's stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import celpy
import celpy.evaluation
import lark
import re2

from tako_gha.core.cel.cost import walk
from tako_gha.core.cel.functions import (
    _GLOBAL_FUNCTIONS,
    _MACROS,
    _METHODS,
    _SEMVER_ARITY,
    _TYPE_NAMES,
    _re2_message,
    _regex,
)
from tako_gha.core.cel.limits import VARIABLES, FilterError, FilterLimits
from tako_gha.core.links import doc_url
from tako_gha.core.versions import RangeError, parse_range

# Grammar rules that merely pass their single child through (operator precedence
# levels). They are not nodes a user wrote, so they count toward neither limit.
_PASS_THROUGH = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
        "exprlist",
    }
)


def _is_pass_through(node: lark.Tree) -> bool:
    return (
        node.data in _PASS_THROUGH
        and len(node.children) == 1
        and isinstance(node.children[0], lark.Tree)
    )


# The precedence levels celpy's evaluator handles as "visit my only child and return
# it": dropping them from the tree changes no result, halves evaluation time and the
# Python stack a deep expression needs. (``primary`` stays: its method inspects its
# child; ``exprlist`` stays: calls and macros read its children.)
_EVAL_PASS_THROUGH = _PASS_THROUGH - {"primary", "exprlist"}


def _rewrite(ast: lark.Tree, replace: Callable[[lark.Tree], lark.Tree]) -> lark.Tree:
    """Replace every subtree by ``replace(subtree)``, top-down, in place.

    Iterative, not recursive: a hostile filter may nest deeper than Python's stack."""
    root = replace(ast)
    stack = [root]
    while stack:
        node = stack.pop()
        for index, child in enumerate(node.children):
            if isinstance(child, lark.Tree):
                node.children[index] = replace(child)
                stack.append(node.children[index])
    return root


def _collapse(ast: lark.Tree) -> lark.Tree:
    def skip(node: lark.Tree) -> lark.Tree:
        while (
            node.data in _EVAL_PASS_THROUGH
            and len(node.children) == 1
            and isinstance(node.children[0], lark.Tree)
        ):
            node = node.children[0]
        return node

    return _rewrite(ast, skip)


def _position(node: lark.Tree) -> dict[str, int]:
    meta = node.meta
    if getattr(meta, "empty", True):
        return {}
    return {"line": meta.line, "column": meta.column}


_CHAINS = ("conditionaland", "conditionalor")


def _chain_operands(top: lark.Tree) -> list[lark.Tree]:
    """``a && b && c`` parses left-deep as ((a && b) && c): its operands, in order."""
    operands: list[lark.Tree] = []
    node = top
    while True:
        left, right = node.children
        operands.append(right)
        if isinstance(left, lark.Tree) and left.data == top.data and len(left.children) == 2:
            node = left
        else:
            operands.append(left)
            break
    operands.reverse()
    return operands


def _rebalance(ast: lark.Tree) -> lark.Tree:
    """Turn long ``&&``/``||`` chains into balanced trees.

    A chain of 200 conditions is flat to its author but 200 levels deep as parsed,
    which would count against max_depth and against Python's stack. Both operators
    are associative and evaluated left to right (with short-circuit) either way, so
    ``(a && b) && (c && d)`` means exactly ``((a && b) && c) && d``.
    """
    built: set[int] = set()  # balanced nodes made here: already final

    def balanced(data: str, operands: list[lark.Tree], meta: Any) -> lark.Tree:
        if len(operands) == 1:
            return operands[0]
        middle = len(operands) // 2
        halves = [balanced(data, operands[:middle], meta), balanced(data, operands[middle:], meta)]
        node = lark.Tree(data, halves, meta)
        built.add(id(node))
        return node

    def fix(node: lark.Tree) -> lark.Tree:
        if id(node) in built or node.data not in _CHAINS or len(node.children) != 2:
            return node
        return balanced(node.data, _chain_operands(node), node.meta)

    return _rewrite(ast, fix)


def _token_position(token: object) -> dict[str, int]:
    line, column = getattr(token, "line", None), getattr(token, "column", None)
    return {"line": line, "column": column} if line and column else {}


def _check_size(ast: lark.Tree, limits: FilterLimits) -> None:
    """Count syntax nodes and nesting depth without recursion (the input may be hostile)."""
    nodes = 0
    stack: list[tuple[lark.Tree, int]] = [(ast, 0)]
    while stack:
        node, depth = stack.pop()
        if not _is_pass_through(node):
            nodes += 1
            depth += 1
            if nodes > limits.max_ast_nodes:
                raise FilterError(
                    f"the filter has more than {limits.max_ast_nodes} syntax nodes, the "
                    "max_ast_nodes limit",
                    "max_ast_nodes",
                    hint="simplify it, or split it into several filters",
                )
            if depth > limits.max_depth:
                raise FilterError(
                    f"the filter nests deeper than the max_depth limit of {limits.max_depth}",
                    "max_depth",
                    **_position(node),
                    hint="nest fewer parentheses, calls, lists or macros inside each other "
                    "(long && / || chains are fine)",
                )
        stack.extend((child, depth) for child in node.children if isinstance(child, lark.Tree))


def _semver_call(node: lark.Tree) -> str | None:
    """``semver.NAME(...)`` as parsed: member_dot_arg(member(primary(ident semver)), NAME)."""
    if node.data != "member_dot_arg":
        return None
    target = node.children[0]
    while isinstance(target, lark.Tree) and _is_pass_through(target):
        target = target.children[0]
    if (
        isinstance(target, lark.Tree)
        and target.data == "ident"
        and str(target.children[0]) == "semver"
    ):
        return str(node.children[1])
    return None


def _check_names(ast: lark.Tree) -> bool:
    """Rewrite ``semver.*`` calls, reject unknown names; True if ``subscriber`` is used."""
    uses_subscriber = False
    for node in list(walk(ast)):
        for index, child in enumerate(node.children):
            if isinstance(child, lark.Tree) and _semver_call(child) is not None:
                node.children[index] = _flatten_semver_call(child)
    for node, scope in _scoped(ast):
        if node.data == "ident":
            name = str(node.children[0])
            uses_subscriber = uses_subscriber or (name == "subscriber" and name not in scope)
            _check_identifier(node, name, scope)
        elif node.data == "ident_arg":
            _check_function(node)
            if str(node.children[0]) == "matches" and len(node.children) > 1:
                _check_literal_regex(node.children[1].children[1:2], node)
        elif node.data == "member_dot_arg":
            _check_method(node)
            if str(node.children[1]) == "matches" and len(node.children) > 2:
                _check_literal_regex(node.children[2].children[:1], node)
        elif node.data in ("member_object", "dot_ident", "dot_ident_arg"):
            raise FilterError(
                "message construction and leading-dot names are not supported in filters",
                **_position(node),
            )
    return uses_subscriber


def _flatten_semver_call(member_dot_arg: lark.Tree) -> lark.Tree:
    name = str(member_dot_arg.children[1])
    if name not in _SEMVER_ARITY:
        raise FilterError(
            f"unknown function semver.{name}",
            **_token_position(member_dot_arg.children[1]),
            hint="the semver functions are " + ", ".join(f"semver.{n}" for n in _SEMVER_ARITY),
        )
    args = member_dot_arg.children[2:] if len(member_dot_arg.children) > 2 else []
    given = len(args[0].children) if args else 0
    if given != _SEMVER_ARITY[name]:
        raise FilterError(
            f"semver.{name} takes {_SEMVER_ARITY[name]} argument(s), got {given}",
            **_position(member_dot_arg),
        )
    if name == "satisfies":
        _check_literal_range(args[0].children[1])
    token = lark.Token.new_borrow_pos("IDENT", f"semver.{name}", member_dot_arg.children[1])
    call = lark.Tree("ident_arg", [token, *args], member_dot_arg.meta)
    return lark.Tree(
        "member", [lark.Tree("primary", [call], member_dot_arg.meta)], member_dot_arg.meta
    )


def _literal_string(arg: lark.Tree) -> str | None:
    """The value of a string literal argument, None for anything else."""
    while _is_pass_through(arg):
        arg = arg.children[0]
    if arg.data != "literal" or arg.children[0].type not in ("STRING_LIT", "MLSTRING_LIT"):
        return None
    return str(celpy.evaluation.celstr(arg.children[0]))


def _check_literal_range(arg: lark.Tree) -> None:
    """``semver.satisfies(v, "^1.2")``: a literal range is checked now, not per event."""
    text = _literal_string(arg)
    if text is None:
        return
    try:
        parse_range(text)
    except RangeError as exc:
        raise FilterError(
            f"semver.satisfies: {exc.reason}", **_position(arg), hint=exc.hint
        ) from None


def _check_literal_regex(args: list[Any], node: lark.Tree) -> None:
    """``s.matches("(")``: a literal pattern is compiled now (RE2, as at run time)."""
    pattern = _literal_string(args[0]) if args and isinstance(args[0], lark.Tree) else None
    if pattern is None:
        return
    try:
        _regex(pattern)
    except re2.error as exc:
        raise FilterError(
            f"invalid regular expression {pattern!r}: {_re2_message(exc)}",
            **_position(node),
            hint="matches() takes RE2 syntax (no backreferences or lookaround)",
        ) from None


def _scoped(ast: lark.Tree) -> Iterator[tuple[lark.Tree, frozenset[str]]]:
    """Every node with the macro variables in scope there (``s`` in ``x.map(s, ...)``)."""
    stack: list[tuple[lark.Tree, frozenset[str]]] = [(ast, frozenset())]
    while stack:
        node, scope = stack.pop()
        yield node, scope
        children = [c for c in node.children if isinstance(c, lark.Tree)]
        if node.data == "member_dot_arg" and str(node.children[1]) in _MACROS:
            variable, body = _macro_parts(node)
            stack.append((children[0], scope))
            stack.append((body, scope | {variable}))
            continue
        stack.extend((child, scope) for child in reversed(children))


def _macro_parts(node: lark.Tree) -> tuple[str, lark.Tree]:
    name = str(node.children[1])
    args = node.children[2].children if len(node.children) > 2 else []
    if len(args) != 2:
        raise FilterError(
            f"{name}() takes a variable and an expression, e.g. list.{name}(x, x > 0)",
            **_position(node),
        )
    variable = args[0]
    while isinstance(variable, lark.Tree) and _is_pass_through(variable):
        variable = variable.children[0]
    if not (isinstance(variable, lark.Tree) and variable.data == "ident"):
        raise FilterError(
            f"the first argument of {name}() must be a variable name",
            **_position(node),
            hint=f"write list.{name}(x, ...)",
        )
    return str(variable.children[0]), args[1]


def _check_identifier(node: lark.Tree, name: str, scope: frozenset[str]) -> None:
    if name in scope or name in VARIABLES or name in _TYPE_NAMES:
        return
    if name == "semver":
        raise FilterError(
            "semver is not a value",
            **_position(node),
            hint="call one of its functions, e.g. semver.major(event.payload.version)",
        )
    raise FilterError(
        f"unknown name {name!r}",
        **_position(node),
        hint="the variables are event (type, schema_version, source, payload) and subscriber",
    )


def _check_function(node: lark.Tree) -> None:
    name = str(node.children[0])
    if name in _GLOBAL_FUNCTIONS:
        return
    hint = f"see {doc_url('filters.md')} for the functions available"
    if name in _METHODS:
        hint = f"{name} is a method: write value.{name}(...)"
    raise FilterError(f"unknown function {name}()", **_token_position(node.children[0]), hint=hint)


# How many arguments (besides the receiver) each method takes: (fewest, most).
_METHOD_ARITY = {
    "trim": (0, 0),
    "lower": (0, 0),
    "upper": (0, 0),
    "lowerAscii": (0, 0),
    "upperAscii": (0, 0),
    "size": (0, 0),
    "split": (1, 2),
    "replace": (2, 3),
    "join": (0, 1),
    "contains": (1, 1),
    "startsWith": (1, 1),
    "endsWith": (1, 1),
    "matches": (1, 1),
    "substring": (1, 2),
    "charAt": (1, 1),
    "indexOf": (1, 2),
    "lastIndexOf": (1, 1),
}


def _check_method(node: lark.Tree) -> None:
    name = str(node.children[1])
    if name in _MACROS:
        return
    if name in _METHODS:
        fewest, most = _METHOD_ARITY.get(name, (0, 1))
        given = len(node.children[2].children) if len(node.children) > 2 else 0
        if not fewest <= given <= most:
            wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise FilterError(
                f".{name}() takes {wanted} argument(s), got {given}",
                **_token_position(node.children[1]),
                hint=f"see {doc_url('filters.md')} for the functions available",
            )
        return
    raise FilterError(
        f"unknown method .{name}()",
        **_token_position(node.children[1]),
        hint=f"see {doc_url('filters.md')} for the functions available",
    )


# The static result type of the whole expression, when the syntax alone tells.
_METHOD_TYPES = {
    "size": "int",
    "map": "list",
    "filter": "list",
    "split": "list",
    "all": "bool",
    "exists": "bool",
    "exists_one": "bool",
    "contains": "bool",
    "startsWith": "bool",
    "endsWith": "bool",
    "matches": "bool",
    "trim": "string",
    "lower": "string",
    "upper": "string",
    "lowerAscii": "string",
    "upperAscii": "string",
    "replace": "string",
    "join": "string",
    "substring": "string",
    "charAt": "string",
    "indexOf": "int",
    "lastIndexOf": "int",
}
_FUNCTION_TYPES = {
    "semver.major": "int",
    "semver.minor": "int",
    "semver.patch": "int",
    "semver.compare": "int",
    "semver.satisfies": "bool",
    "has": "bool",
    "size": "int",
    **{
        name: name
        for name in ("bool", "bytes", "double", "duration", "int", "string", "timestamp", "uint")
    },
}
_LITERAL_TYPES = {
    "INT_LIT": "int",
    "UINT_LIT": "uint",
    "FLOAT_LIT": "double",
    "STRING_LIT": "string",
    "MLSTRING_LIT": "string",
    "BYTES_LIT": "bytes",
    "BOOL_LIT": "bool",
    "NULL_LIT": "null",
}


def _static_type(node: lark.Tree) -> str | None:
    while _is_pass_through(node):
        node = node.children[0]
    data, children = node.data, node.children
    if data == "expr" and len(children) == 3:  # a ? b : c
        then, other = _static_type(children[1]), _static_type(children[2])
        return then if then == other else None
    if data in ("conditionalor", "conditionaland", "relation"):
        return "bool"
    if data in ("addition", "multiplication"):
        return _static_type(children[1]) or "a number"
    if data == "unary":
        if children[0].data == "unary_not":
            return "bool"
        return _static_type(children[1]) or "a number"
    if data == "member_dot_arg":
        return _METHOD_TYPES.get(str(children[1]))
    if data == "ident_arg":
        name = str(children[0])
        if name == "dyn" and len(children) > 1:
            return _static_type(children[1])
        return _FUNCTION_TYPES.get(name)
    if data == "literal":
        return _LITERAL_TYPES.get(children[0].type)
    if data == "paren_expr":
        return _static_type(children[0])
    return {"list_lit": "list", "map_lit": "map"}.get(data)


def _check_macro_conditions(ast: lark.Tree) -> None:
    """``list.exists(x, 'a')``: a condition that is not a bool, refused before any event."""
    for node in walk(ast):
        if node.data != "member_dot_arg" or str(node.children[1]) not in _CONDITION_MACROS:
            continue
        _variable, body = _macro_parts(node)
        found = _static_type(body)
        if found is not None and found != "bool":
            name = str(node.children[1])
            raise FilterError(
                f"the condition of {name}() is {found}, not bool",
                **_position(node),
                hint=f"write a test, e.g. list.{name}(x, x == 'a')",
            )


_CONDITION_MACROS = frozenset({"all", "exists", "exists_one", "filter"})


def _check_result_type(ast: lark.Tree) -> None:
    _check_macro_conditions(ast)
    result = _static_type(ast)
    if result is not None and result != "bool":
        raise FilterError(
            f"the filter returns {result}, not bool",
            hint="a filter must be true or false: compare the value, e.g. "
            "semver.major(event.payload.version) >= 2",
        )
