"""GraphQL documents for the emulator: parsed by graphql-core, turned into the small
tree the executor in ``emulator.graphql`` walks, and held to the limits a document
must meet before it is validated or executed.

Every limit is checked before the work it bounds: the document's size before it is
read; syntactic nesting by a linear pre-scan before graphql-core's parser (which
recurses) sees it; the token count by graphql-core while it reads (``max_tokens``);
numbers while the tree is built; and, in :func:`check_limits`, fragment cycles, query
depth, the number of fields the executor would resolve and GitHub's node limit,
computed once per fragment (never by expanding fragments, which can grow
exponentially). graphql-core's syntax errors are worded the way the emulator always
answered (``Parse error on '}' at [1, 3] (...)``), with the place.

What of graphql-core this relies on: ``Parser`` (subclassed to refuse type-system
definitions where they start, since the endpoint takes executable documents only),
its ``max_lexical_tokens`` option (tokens, comments not counted), the AST node
classes, ``print_ast`` for variable types, and ``GraphQLSyntaxError`` (``message``,
``positions``, ``locations``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from graphql import GraphQLSyntaxError, print_ast
from graphql.language import ast
from graphql.language.parser import Parser as _CoreParser
from graphql.language.token_kind import TokenKind


class GraphQLError(Exception):
    def __init__(self, message: str, line: int = 0, column: int = 0, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.line, self.column = line, column
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.line:
            out["locations"] = [{"line": self.line, "column": self.column}]
        out.update(self.extra)
        return out


MAX_DOCUMENT_CHARS = 256 * 1024
MAX_TOKENS = 50_000
MAX_NESTING = 64  # braces, brackets and list types inside one another, while parsing
MAX_NUMBER_CHARS = 100
MAX_DEPTH = 25  # fields inside fields, fragments expanded
MAX_CHAIN = 100  # fields and fragment spreads inside one another, fragments expanded
MAX_FIELDS = 100_000  # fields the executor would resolve (times the page sizes above them)
MAX_NODES = 500_000  # GitHub's node limit: connection items, page sizes multiplied
PAGE_MAX = 100  # what first/last may ask for


@dataclass
class Field:
    name: str
    alias: str | None
    args: dict[str, Any]
    selections: list[Any]
    line: int
    column: int
    directives: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class InlineFragment:
    type_condition: str | None
    selections: list[Any]
    directives: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Spread:
    name: str
    line: int
    column: int
    directives: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Var:
    name: str


@dataclass
class EnumValue:
    name: str


@dataclass
class Operation:
    kind: str  # query | mutation | subscription
    name: str | None
    variables: dict[str, tuple[str, Any, bool]]  # name -> (type text, default, has default)
    selections: list[Any]


@dataclass
class Document:
    operations: list[Operation]
    fragments: dict[str, tuple[str, list[Any]]]


_EXECUTABLE = {"query", "mutation", "subscription", "fragment"}


class _ExecutableParser(_CoreParser):
    """graphql-core's parser, refusing a type-system definition (``type X { a }``) at
    its first token rather than wherever its SDL syntax happens to break."""

    def parse_definition(self) -> ast.DefinitionNode:
        token = self._lexer.token
        if (token.kind in (TokenKind.STRING, TokenKind.BLOCK_STRING)
                or (token.kind == TokenKind.NAME and token.value not in _EXECUTABLE)):
            raise self.unexpected(token)
        return super().parse_definition()


class Parser:
    """``Parser(source).document()``: the document, or a GraphQLError that says where."""

    def __init__(self, source: str) -> None:
        self.source = source

    def document(self) -> Document:
        source = self.source
        if len(source) > MAX_DOCUMENT_CHARS:
            raise GraphQLError(f"Query is too large: {len(source)} characters, at most "
                               f"{MAX_DOCUMENT_CHARS} are accepted")
        if _IGNORED.fullmatch(source):
            raise GraphQLError("The document contains no operation")
        _check_tokens(source)
        _check_nesting(source)
        try:
            tree = _ExecutableParser(source, max_lexical_tokens=MAX_TOKENS).parse_document()
        except GraphQLSyntaxError as exc:
            raise _parse_error(source, exc) from None
        except RecursionError:  # pragma: no cover - the pre-scan bounds the nesting
            raise GraphQLError(f"Parse error (nested more than {MAX_NESTING} deep)") from None
        return _Builder(source).document(tree)


# -- what graphql-core read, as the executor's tree ---------------------------------------
class _Builder:
    """Turns graphql-core's AST into the executor's tree. Recursion follows the syntax,
    which the pre-scan bounded to ``MAX_NESTING``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: ast.Node, why: str) -> GraphQLError:
        line, column, offset = _place(node)
        return GraphQLError(f"Parse error on {_shown(self.source, offset)!r} at "
                            f"[{line}, {column}] ({why})", line, column)

    def document(self, tree: ast.DocumentNode) -> Document:
        ops: list[Operation] = []
        fragments: dict[str, tuple[str, list[Any]]] = {}
        for node in tree.definitions:
            if isinstance(node, ast.OperationDefinitionNode):
                ops.append(self.operation(node))
            elif isinstance(node, ast.FragmentDefinitionNode):
                fragments[node.name.value] = (node.type_condition.name.value,
                                              self.selections(node.selection_set))
            else:  # pragma: no cover - _ExecutableParser refuses them
                raise self.fail(node, "not an executable definition")
        if not ops:
            raise GraphQLError("The document contains no operation")
        return Document(ops, fragments)

    def operation(self, node: ast.OperationDefinitionNode) -> Operation:
        variables: dict[str, tuple[str, Any, bool]] = {}
        for var in node.variable_definitions or ():
            has_default = var.default_value is not None
            default = self.value(var.default_value) if has_default else None
            variables[var.variable.name.value] = (print_ast(var.type), default, has_default)
        return Operation(node.operation.value, node.name.value if node.name else None,
                         variables, self.selections(node.selection_set))

    def selections(self, node: ast.SelectionSetNode) -> list[Any]:
        if not node.selections:
            raise self.fail(node, "empty selection set")
        return [self.selection(sel) for sel in node.selections]

    def selection(self, node: ast.SelectionNode) -> Any:
        directives = [(d.name.value, self.arguments(d.arguments)) for d in node.directives or ()]
        if isinstance(node, ast.FragmentSpreadNode):
            line, column, _ = _place(node.name)
            return Spread(node.name.value, line, column, directives)
        if isinstance(node, ast.InlineFragmentNode):
            cond = node.type_condition.name.value if node.type_condition else None
            return InlineFragment(cond, self.selections(node.selection_set), directives)
        assert isinstance(node, ast.FieldNode)
        line, column, _ = _place(node)
        subs = self.selections(node.selection_set) if node.selection_set else []
        return Field(node.name.value, node.alias.value if node.alias else None,
                     self.arguments(node.arguments), subs, line, column, directives)

    def arguments(self, nodes: Any) -> dict[str, Any]:
        return {arg.name.value: self.value(arg.value) for arg in nodes or ()}

    def value(self, node: ast.ValueNode) -> Any:
        if isinstance(node, ast.VariableNode):
            return Var(node.name.value)
        if isinstance(node, (ast.IntValueNode, ast.FloatValueNode)):
            return self.number(node)
        if isinstance(node, (ast.StringValueNode, ast.BooleanValueNode)):
            return node.value
        if isinstance(node, ast.EnumValueNode):
            return EnumValue(node.value)
        if isinstance(node, ast.ListValueNode):
            return [self.value(item) for item in node.values]
        if isinstance(node, ast.ObjectValueNode):
            return {item.name.value: self.value(item.value) for item in node.fields}
        return None  # NullValueNode

    def number(self, node: ast.IntValueNode | ast.FloatValueNode) -> int | float:
        """A literal too long to be a sane number, or a float beyond range (``1e999``),
        is a parse error."""
        text = node.value
        if len(text) > MAX_NUMBER_CHARS:
            raise self.fail(node, f"a number of more than {MAX_NUMBER_CHARS} characters")
        if isinstance(node, ast.IntValueNode):
            return int(text)
        value = float(text)
        if not math.isfinite(value):
            raise self.fail(node, "number out of range")
        return value


def _place(node: ast.Node) -> tuple[int, int, int]:
    """Line, column and offset where ``node`` starts."""
    token = node.loc.start_token if node.loc else None
    return (token.line, token.column, token.start) if token else (0, 0, 0)


# -- nesting and syntax errors ------------------------------------------------------------
# What the nesting pre-scan skips: strings, block strings and comments, each matched
# without backtracking; what is left of the brackets is counted.
_SKIPPED = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n\r]*')
_BRACKET_OR_SKIPPED = re.compile(_SKIPPED.pattern + r"|[\[\]{}]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_IGNORED = re.compile(r"(?:[\s,\ufeff]|#[^\n\r]*)*")  # single characters: no backtracking
_SHOWN = re.compile(r'\.\.\.|[_A-Za-z][_0-9A-Za-z]*|-?[0-9][0-9.eE+-]*|"(?:[^"\\\n]|\\.)*"?|.',
                    re.S)


# What the token pre-count counts once strings (one token each) and comments (none) are
# replaced: punctuators, names, numbers. It never counts more than graphql-core's lexer
# would (a malformed number may count less), so only a document over the limit is
# refused here, before any of it is parsed; graphql-core's own limit stays as the bound.
_TOKENISH = re.compile(r'\.\.\.|[!$&():=@\[\]{}|"]|[_A-Za-z][_0-9A-Za-z]*|-?[0-9][0-9.eE+-]*')


def _check_tokens(source: str) -> None:
    """At most ``MAX_TOKENS`` tokens, counted in C-speed regex passes: graphql-core's
    lexer takes about ten times longer to reach its own limit on the same text."""
    flat = _SKIPPED.sub(lambda m: " " if m.group().startswith("#") else ' " ', source)
    if len(_TOKENISH.findall(flat)) > MAX_TOKENS:
        raise GraphQLError(f"Query has more than {MAX_TOKENS} tokens")


def _check_nesting(source: str) -> None:
    """Braces and brackets (selections, lists, objects, list types) nest at most
    ``MAX_NESTING`` deep, measured in linear time without recursion; the error names
    the first bracket past the bound."""
    brackets = _NOT_BRACKET.sub("", _SKIPPED.sub("", source))
    if not brackets or max(accumulate(map(_STEP.__getitem__, brackets))) <= MAX_NESTING:
        return
    depth = 0
    for match in _BRACKET_OR_SKIPPED.finditer(source):
        step = _STEP.get(match.group(), 0)
        depth += step
        if step == 1 and depth > MAX_NESTING:
            offset = match.start()
            line = source.count("\n", 0, offset) + 1
            column = offset - (source.rfind("\n", 0, offset) + 1) + 1
            raise GraphQLError(f"Parse error on {match.group()!r} at [{line}, {column}] "
                               f"(nested more than {MAX_NESTING} deep)", line, column)


def _shown(source: str, offset: int) -> str:
    """The token at ``offset`` as an error shows it (long ones cut)."""
    found = _SHOWN.match(source, offset) if offset < len(source) else None
    if found is None:
        return "end of document"
    text = found.group()
    return text if len(text) <= 40 else text[:40] + "…"


def _parse_error(source: str, exc: GraphQLSyntaxError) -> GraphQLError:
    """graphql-core's syntax error in the emulator's words, at the same place."""
    offset = exc.positions[0] if exc.positions else len(source)
    line, column = (exc.locations[0].line, exc.locations[0].column) if exc.locations \
        else (1, 1)
    why = exc.message.removeprefix("Syntax Error: ").rstrip(".")
    if "tokens" in why and offset >= 0:
        return GraphQLError(f"Query has more than {MAX_TOKENS} tokens", line, column)
    before = source[:offset].rstrip(" \t\r\n,\ufeff")[-1:]
    if "in constant value" in why:
        why = "variables are not allowed here"
    elif why.startswith("Expected 'on'"):
        why = "expected 'on'"
    elif "<EOF>" in why:
        why = _unclosed(source)
    elif why.startswith("Unexpected") and before in (":", "[", "=", ","):
        why = f"expected a value; {why[0].lower()}{why[1:]}"
    return GraphQLError(f"Parse error on {_shown(source, offset)!r} at [{line}, {column}] "
                        f"({why})", line, column)


def _unclosed(source: str) -> str:
    """What the document left open when it ended."""
    brackets = _NOT_BRACKET.sub("", _SKIPPED.sub("", source))
    open_: list[str] = []
    for char in brackets:
        if char in "[{":
            open_.append(char)
        elif open_:
            open_.pop()
    if not open_:
        return "the document ends too early"
    return "unclosed selection set" if open_[-1] == "{" else "unclosed list"


# -- limits -------------------------------------------------------------------------------
@dataclass
class _Shape:
    """What a selection set costs when executed once (page multiplier 1)."""

    depth: int = 0  # fields inside fields
    chain: int = 0  # fields and fragment spreads inside one another
    fields: int = 0  # fields resolved, times the page sizes of connections above them
    nodes: int = 0  # connection items requested, page sizes multiplied (GitHub's count)


def check_limits(doc: Document, op: Operation, variables: dict[str, Any]) -> list[dict]:
    """GraphQL ``errors`` for a document the executor must not run: fragment spreads in
    a cycle, fields nested deeper than ``MAX_DEPTH``, more than ``MAX_FIELDS`` field
    resolutions or ``MAX_NODES`` connection nodes. Each fragment is measured once, in
    dependency order, so the check itself is linear in the document."""
    order, cycle = _fragment_order(doc)
    if cycle is not None:
        return [{"message": f"Fragment {cycle} contains an infinite loop",
                 "extensions": {"code": "infiniteLoop", "fragmentName": cycle}}]
    shapes: dict[str, _Shape] = {}
    for name in order:
        shapes[name] = _measure(doc.fragments[name][1], shapes, variables)
    shape = _measure(op.selections, shapes, variables)
    if shape.depth > MAX_DEPTH:
        return [{"message": f"Query has depth of {shape.depth}, which exceeds max depth of "
                 f"{MAX_DEPTH}"}]
    if shape.chain > MAX_CHAIN:
        return [{"message": f"Query nests {shape.chain} fields and fragments inside one "
                 f"another, which exceeds the maximum of {MAX_CHAIN}"}]
    if shape.nodes > MAX_NODES:
        return [{"message": f"This query requests up to {shape.nodes:,} possible nodes which "
                 f"exceeds the maximum limit of {MAX_NODES:,}.",
                 "type": "MAX_NODE_LIMIT_EXCEEDED"}]
    if shape.fields > MAX_FIELDS:
        return [{"message": f"Query has complexity of {shape.fields}, which exceeds max "
                 f"complexity of {MAX_FIELDS}"}]
    return []


def _spreads(selections: list[Any]) -> list[str]:
    """The fragment names spread anywhere inside ``selections`` (without recursion)."""
    found: list[str] = []
    todo = list(selections)
    while todo:
        sel = todo.pop()
        if isinstance(sel, Spread):
            found.append(sel.name)
        else:
            todo.extend(sel.selections)
    return found


def _fragment_order(doc: Document) -> tuple[list[str], str | None]:
    """The fragments, each after the fragments it spreads (iterative depth-first
    search), or the name of a fragment on a cycle."""
    deps = {name: [d for d in _spreads(subs) if d in doc.fragments]
            for name, (_cond, subs) in doc.fragments.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    order: list[str] = []
    for start in deps:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            name, index = stack[-1]
            if index < len(deps[name]):
                stack[-1] = (name, index + 1)
                child = deps[name][index]
                if state.get(child) == 1:
                    return [], child
                if child not in state:
                    state[child] = 1
                    stack.append((child, 0))
            else:
                stack.pop()
                state[name] = 2
                order.append(name)
    return order, None


def _measure(selections: list[Any], shapes: dict[str, _Shape],
             variables: dict[str, Any]) -> _Shape:
    """The shape of ``selections``; fragments they spread are already in ``shapes``
    (an undefined one counts as empty: validation reports it). Recursion follows the
    syntax only, which the parser bounded."""
    out = _Shape()
    for sel in selections:
        if isinstance(sel, Spread):
            inner = shapes.get(sel.name, _Shape())
            part = _Shape(inner.depth, inner.chain + 1, inner.fields, inner.nodes)
        elif isinstance(sel, InlineFragment):
            inner = _measure(sel.selections, shapes, variables)
            part = _Shape(inner.depth, inner.chain + 1, inner.fields, inner.nodes)
        else:
            inner = _measure(sel.selections, shapes, variables)
            size = _page_size(sel, variables)
            if size is None:
                part = _Shape(inner.depth + 1, inner.chain + 1, 1 + inner.fields, inner.nodes)
            else:
                part = _Shape(inner.depth + 1, inner.chain + 1, 1 + size * inner.fields,
                              size + size * inner.nodes)
        out.depth = max(out.depth, part.depth)
        out.chain = max(out.chain, part.chain)
        out.fields += part.fields
        out.nodes += part.nodes
    return out


def _page_size(sel: Field, variables: dict[str, Any]) -> int | None:
    """How many items a field resolves its selections for: a connection's page size
    (``first``/``last``) or the length of a ``nodes(ids:)`` list; None for other
    fields. A size the executor will refuse counts as 1 (it resolves no items)."""
    if "ids" in sel.args:
        ids = sel.args["ids"]
        ids = variables.get(ids.name) if isinstance(ids, Var) else ids
        return min(len(ids), PAGE_MAX) if isinstance(ids, list) and ids else 1
    if "first" not in sel.args and "last" not in sel.args:
        return None
    value = sel.args.get("first", sel.args.get("last"))
    if isinstance(value, Var):
        value = variables.get(value.name)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= PAGE_MAX:
        return value
    return 1
