"""A GraphQL lexer and parser (the whole query language; the executor in
``emulator.graphql`` decides what of GitHub's schema is served), and the limits a
document must meet before it is validated or executed.

Every limit is checked before the work it bounds: the document's size before it is
tokenized, the token count while tokenizing, syntactic nesting while parsing (the
parser recurses), and, in :func:`check_limits`, fragment cycles, query depth, the
number of fields the executor would resolve and GitHub's node limit, computed once
per fragment (never by expanding fragments, which can grow exponentially).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any


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


_TOKEN = re.compile(
    r'(?P<block>"""(?:[^"\\]|\\.|"(?!""))*""")'
    r'|(?P<string>"(?:[^"\\\n]|\\.)*")'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)"
    r"|(?P<spread>\.\.\.)"
    r"|(?P<punct>[!$()\[\]{}:=@|&])"
    r"|(?P<skip>[\s,\ufeff]+|#[^\n]*)"
)


@dataclass
class Tok:
    kind: str
    text: str
    line: int
    column: int


def tokenize(source: str) -> list[Tok]:
    if len(source) > MAX_DOCUMENT_CHARS:
        raise GraphQLError(f"Query is too large: {len(source)} characters, at most "
                           f"{MAX_DOCUMENT_CHARS} are accepted")
    tokens: list[Tok] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        if len(tokens) > MAX_TOKENS:
            raise GraphQLError(f"Query has more than {MAX_TOKENS} tokens", line,
                               pos - line_start + 1)
        found = _TOKEN.match(source, pos)
        if found is None:
            raise GraphQLError(
                f"Parse error on {source[pos]!r} at [{line}, {pos - line_start + 1}]",
                line, pos - line_start + 1,
            )
        kind = found.lastgroup or "skip"
        text = found.group()
        if kind != "skip":
            tokens.append(Tok(kind, text, line, pos - line_start + 1))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = pos + text.rindex("\n") + 1
        pos = found.end()
    tokens.append(Tok("eof", "", line, pos - line_start + 1))
    return tokens


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


class Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.pos = 0
        self.nesting = 0  # open braces/brackets: the parser recurses once per level

    def enter(self, tok: Tok) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            self.fail(tok, f"nested more than {MAX_NESTING} deep")

    def peek(self) -> Tok:
        return self.tokens[self.pos]

    def next(self) -> Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, text: str) -> Tok:
        tok = self.next()
        if tok.text != text or tok.kind in ("string", "block"):
            self.fail(tok, f"expected {text!r}")
        return tok

    def fail(self, tok: Tok, why: str = "") -> None:
        shown = tok.text or "end of document"
        detail = f" ({why})" if why else ""
        raise GraphQLError(
            f"Parse error on {shown!r} at [{tok.line}, {tok.column}]{detail}", tok.line, tok.column
        )

    def name(self) -> str:
        tok = self.next()
        if tok.kind != "name":
            self.fail(tok, "expected a name")
        return tok.text

    def document(self) -> Document:
        ops: list[Operation] = []
        fragments: dict[str, tuple[str, list[Any]]] = {}
        while self.peek().kind != "eof":
            tok = self.peek()
            if tok.text == "{":
                ops.append(Operation("query", None, {}, self.selection_set()))
            elif tok.text in ("query", "mutation", "subscription"):
                ops.append(self.operation())
            elif tok.text == "fragment":
                self.next()
                name = self.name()
                if self.name() != "on":
                    self.fail(self.tokens[self.pos - 1], "expected 'on'")
                type_name = self.name()
                self.directives()
                fragments[name] = (type_name, self.selection_set())
            else:
                self.fail(tok)
        if not ops:
            raise GraphQLError("The document contains no operation")
        return Document(ops, fragments)

    def operation(self) -> Operation:
        kind = self.next().text
        name = self.name() if self.peek().kind == "name" else None
        variables: dict[str, tuple[str, Any, bool]] = {}
        if self.peek().text == "(":
            self.next()
            while self.peek().text != ")":
                self.expect("$")
                var = self.name()
                self.expect(":")
                type_text = self.type_ref()
                default, has_default = None, False
                if self.peek().text == "=":
                    self.next()
                    default, has_default = self.value(const=True), True
                variables[var] = (type_text, default, has_default)
            self.next()
        self.directives()
        return Operation(kind, name, variables, self.selection_set())

    def type_ref(self) -> str:
        if self.peek().text == "[":
            self.enter(self.next())
            inner = self.type_ref()
            self.expect("]")
            self.nesting -= 1
            text = f"[{inner}]"
        else:
            text = self.name()
        if self.peek().text == "!":
            self.next()
            text += "!"
        return text

    def selection_set(self) -> list[Any]:
        self.enter(self.expect("{"))
        out: list[Any] = []
        while self.peek().text != "}":
            if self.peek().kind == "eof":
                self.fail(self.peek(), "unclosed selection set")
            out.append(self.selection())
        self.next()
        self.nesting -= 1
        if not out:
            self.fail(self.tokens[self.pos - 1], "empty selection set")
        return out

    def selection(self) -> Any:
        tok = self.peek()
        if tok.kind == "spread":
            self.next()
            if self.peek().text == "on":
                self.next()
                cond = self.name()
                directives = self.directives()
                return InlineFragment(cond, self.selection_set(), directives)
            if self.peek().text in ("{", "@"):
                directives = self.directives()
                return InlineFragment(None, self.selection_set(), directives)
            name_tok = self.peek()
            return Spread(self.name(), name_tok.line, name_tok.column, self.directives())
        first = self.peek()
        name = self.name()
        alias = None
        if self.peek().text == ":":
            self.next()
            alias, name = name, self.name()
        args = self.arguments()
        directives = self.directives()
        subs = self.selection_set() if self.peek().text == "{" else []
        return Field(name, alias, args, subs, first.line, first.column, directives)

    def arguments(self, const: bool = False) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.peek().text != "(":
            return args
        self.next()
        while self.peek().text != ")":
            name = self.name()
            self.expect(":")
            args[name] = self.value(const)
        self.next()
        return args

    def directives(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        while self.peek().text == "@":
            self.next()
            out.append((self.name(), self.arguments()))
        return out

    def value(self, const: bool = False) -> Any:
        tok = self.next()
        if tok.text == "$" and tok.kind == "punct":
            if const:
                self.fail(tok, "variables are not allowed here")
            return Var(self.name())
        if tok.kind == "number":
            return self.number(tok)
        if tok.kind == "string":
            return _unescape(tok.text[1:-1])
        if tok.kind == "block":
            return tok.text[3:-3].replace('\\"""', '"""')
        if tok.text == "[" and tok.kind == "punct":
            self.enter(tok)
            items = []
            while self.peek().text != "]":
                if self.peek().kind == "eof":
                    self.fail(self.peek(), "unclosed list")
                items.append(self.value(const))
            self.next()
            self.nesting -= 1
            return items
        if tok.text == "{" and tok.kind == "punct":
            self.enter(tok)
            obj = {}
            while self.peek().text != "}":
                key = self.name()
                self.expect(":")
                obj[key] = self.value(const)
            self.next()
            self.nesting -= 1
            return obj
        if tok.kind == "name":
            literals = {"true": True, "false": False, "null": None}
            return literals[tok.text] if tok.text in literals else EnumValue(tok.text)
        self.fail(tok, "expected a value")
        return None


    def number(self, tok: Tok) -> int | float:
        """An Int or Float literal; a literal too long to be a sane number, or a
        float beyond range (``1e999``), is a parse error."""
        if len(tok.text) > MAX_NUMBER_CHARS:
            self.fail(tok, f"a number of more than {MAX_NUMBER_CHARS} characters")
        if not any(c in tok.text for c in ".eE"):
            return int(tok.text)
        value = float(tok.text)
        if not math.isfinite(value):
            self.fail(tok, "number out of range")
        return value


def _unescape(text: str) -> str:
    simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
              "t": "\t"}

    def sub(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc.startswith("u"):
            return chr(int(esc[1:], 16))
        return simple.get(esc, esc)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", sub, text)


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
