"""A GraphQL lexer and parser (the whole query language; the executor in
``emulator.graphql`` decides what of GitHub's schema is served)."""

from __future__ import annotations

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
    tokens: list[Tok] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
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
            self.next()
            inner = self.type_ref()
            self.expect("]")
            text = f"[{inner}]"
        else:
            text = self.name()
        if self.peek().text == "!":
            self.next()
            text += "!"
        return text

    def selection_set(self) -> list[Any]:
        self.expect("{")
        out: list[Any] = []
        while self.peek().text != "}":
            if self.peek().kind == "eof":
                self.fail(self.peek(), "unclosed selection set")
            out.append(self.selection())
        self.next()
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
            return float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
        if tok.kind == "string":
            return _unescape(tok.text[1:-1])
        if tok.kind == "block":
            return tok.text[3:-3].replace('\\"""', '"""')
        if tok.text == "[":
            items = []
            while self.peek().text != "]":
                items.append(self.value(const))
            self.next()
            return items
        if tok.text == "{":
            obj = {}
            while self.peek().text != "}":
                key = self.name()
                self.expect(":")
                obj[key] = self.value(const)
            self.next()
            return obj
        if tok.kind == "name":
            literals = {"true": True, "false": False, "null": None}
            return literals[tok.text] if tok.text in literals else EnumValue(tok.text)
        self.fail(tok, "expected a value")
        return None


def _unescape(text: str) -> str:
    simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
              "t": "\t"}

    def sub(match: re.Match[str]) -> str:
        esc = match.group(1)
        if esc.startswith("u"):
            return chr(int(esc[1:], 16))
        return simple.get(esc, esc)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", sub, text)
