"""GitHub Actions ``${{ }}`` expressions, evaluated the way GitHub does.

A small tokenizer + recursive-descent parser + tree walker. Semantics follow GitHub's
documented rules (workflow "expressions" reference):

- literals: ``null``, ``true``, ``false``, numbers (incl. hex and exponent), strings in
  single quotes (``''`` escapes a quote);
- operators, by precedence: ``( )``, ``[ ]``, ``.``, ``!``, ``< <= > >=``, ``== !=``,
  ``&&``, ``||``; ``a || b`` / ``a && b`` return an *operand value*, not a bool;
- loose equality: different types are coerced to numbers, strings compare
  case-insensitively; objects/arrays are equal only to themselves;
- property access is case-insensitive, a missing property is ``null``;
- functions (names case-insensitive): ``contains``, ``startsWith``, ``endsWith``,
  ``format``, ``join``, ``toJSON``, ``fromJSON`` and the status functions
  ``success()``, ``failure()``, ``always()``, ``cancelled()``.

Every problem raises :class:`ExpressionError` with the expression and the position.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_EXPRESSION_LENGTH = 21_000  # GitHub's documented cap on an expression's length
MAX_DEPTH = 50  # nesting cap: keeps a hostile expression from exhausting the stack

STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")
_STATUS_CALL = re.compile(r"\b(success|failure|always|cancelled)\s*\(", re.IGNORECASE)


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated."""


@dataclass(frozen=True)
class Status:
    """What the status functions see.

    ``failed``: an earlier step (or an ancestor job) failed; ``cancelled``: the run was
    cancelled; ``blocked``: an ancestor job did not succeed without failing (skipped),
    which makes ``success()`` false but not ``failure()``.
    """

    failed: bool = False
    cancelled: bool = False
    blocked: bool = False


# --------------------------------------------------------------------------- tokens

@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | ident | op | end
    value: Any
    pos: int


_OPERATORS = ("||", "&&", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "[", "]", ".", ",",
              "*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_VALUE_END = ("num", "str", "ident")


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            i, value = _read_string(text, i)
            toks.append(_Tok("str", value, i))
            continue
        prev_is_value = bool(toks) and (
            toks[-1].kind in _VALUE_END or toks[-1].value in (")", "]")
        )
        if ch.isdigit() or (ch in "-+." and not prev_is_value and _starts_number(text, i)):
            sign = -1 if ch == "-" else 1
            start = i + 1 if ch in "-+" else i
            m = _NUMBER.match(text, start)
            if m is None:  # pragma: no cover - _starts_number guarantees a match
                raise _error(text, i, "bad number")
            toks.append(_Tok("num", sign * _parse_number(m.group(0)), i))
            i = m.end()
            continue
        m = _IDENT.match(text, i)
        if m:
            toks.append(_Tok("ident", m.group(0), i))
            i = m.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                toks.append(_Tok("op", op, i))
                i += len(op)
                break
        else:
            raise _error(text, i, f"unexpected symbol {ch!r}")
    toks.append(_Tok("end", None, n))
    return toks


def _starts_number(text: str, i: int) -> bool:
    rest = text[i + 1:] if text[i] in "-+" else text[i:]
    return bool(rest) and bool(_NUMBER.match(rest))


def _read_string(text: str, i: int) -> tuple[int, str]:
    out: list[str] = []
    j = i + 1
    while j < len(text):
        if text[j] == "'":
            if text.startswith("''", j):
                out.append("'")
                j += 2
                continue
            return j + 1, "".join(out)
        out.append(text[j])
        j += 1
    raise _error(text, i, "unterminated string literal (strings use single quotes)")


def _parse_number(raw: str) -> int | float:
    if raw[:2].lower() == "0x":
        return int(raw, 16)
    if re.fullmatch(r"\d+", raw):
        return int(raw)
    return float(raw)


def _error(text: str, pos: int, why: str) -> ExpressionError:
    return ExpressionError(f"{why}. Located at position {pos + 1} within expression: {text}")


# --------------------------------------------------------------------------- parser
# AST nodes are tuples: ("lit", v) ("ctx", name) ("get", obj, key_node) ("star", obj)
# ("not", x) ("bin", op, a, b) ("call", name, [args])


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def parse(self) -> tuple:
        if self.toks[0].kind == "end":
            raise ExpressionError(f"empty expression: {self.text!r}")
        node = self._or()
        tok = self.toks[self.i]
        if tok.kind != "end":
            raise _error(self.text, tok.pos, f"unexpected {tok.value!r}")
        return node

    def _peek_op(self, *ops: str) -> str | None:
        tok = self.toks[self.i]
        if tok.kind == "op" and tok.value in ops:
            return str(tok.value)
        return None

    def _expect(self, op: str) -> None:
        if self._peek_op(op) is None:
            tok = self.toks[self.i]
            found = "end of expression" if tok.kind == "end" else repr(tok.value)
            raise _error(self.text, tok.pos, f"expected {op!r}, found {found}")
        self.i += 1

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _error(self.text, self.toks[self.i].pos,
                         f"expression nested deeper than {MAX_DEPTH} levels")

    def _binary(self, ops: tuple[str, ...], sub: Callable[[], tuple]) -> tuple:
        node = sub()
        while (op := self._peek_op(*ops)) is not None:
            self.i += 1
            node = ("bin", op, node, sub())
        return node

    def _or(self) -> tuple:
        self._enter()
        try:
            return self._binary(("||",), self._and)
        finally:
            self.depth -= 1

    def _and(self) -> tuple:
        return self._binary(("&&",), self._eq)

    def _eq(self) -> tuple:
        return self._binary(("==", "!="), self._cmp)

    def _cmp(self) -> tuple:
        return self._binary(("<", "<=", ">", ">="), self._unary)

    def _unary(self) -> tuple:
        if self._peek_op("!"):
            self.i += 1
            self._enter()
            try:
                return ("not", self._unary())
            finally:
                self.depth -= 1
        return self._postfix(self._primary())

    def _postfix(self, node: tuple) -> tuple:
        while True:
            if self._peek_op("."):
                self.i += 1
                tok = self.toks[self.i]
                if tok.kind == "op" and tok.value == "*":
                    node = ("star", node)
                elif tok.kind == "ident":
                    node = ("get", node, ("lit", tok.value))
                else:
                    raise _error(self.text, tok.pos, "expected a property name after '.'")
                self.i += 1
            elif self._peek_op("["):
                self.i += 1
                if self._peek_op("*"):
                    self.i += 1
                    node = ("star", node)
                else:
                    node = ("get", node, self._or())
                self._expect("]")
            else:
                return node

    def _primary(self) -> tuple:
        tok = self.toks[self.i]
        if tok.kind in ("num", "str"):
            self.i += 1
            return ("lit", tok.value)
        if tok.kind == "ident":
            self.i += 1
            word = str(tok.value)
            low = word.lower()
            if self._peek_op("("):
                return ("call", low, self._args(), tok.pos)
            if low in ("true", "false"):
                return ("lit", low == "true")
            if low == "null":
                return ("lit", None)
            return ("ctx", word, tok.pos)
        if self._peek_op("("):
            self.i += 1
            node = self._or()
            self._expect(")")
            return node
        found = "end of expression" if tok.kind == "end" else repr(tok.value)
        raise _error(self.text, tok.pos, f"unexpected {found}")

    def _args(self) -> list[tuple]:
        self._expect("(")
        args: list[tuple] = []
        if self._peek_op(")"):
            self.i += 1
            return args
        while True:
            args.append(self._or())
            if self._peek_op(","):
                self.i += 1
                continue
            self._expect(")")
            return args


# --------------------------------------------------------------------------- values

class _Filtered(list):
    """Result of a ``.*`` object filter; property access maps over its items."""


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        raw = value.strip()
        if raw == "":
            return 0.0
        try:
            if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", raw):
                return float(int(raw, 16))
            if re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", raw):
                return float(raw)
        except ValueError:  # pragma: no cover - regexes above guarantee parseable text
            pass
    return math.nan


def truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def to_string(value: Any) -> str:
    """How a value is rendered into ``${{ }}`` interpolated text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    return "object"


def loose_equals(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "string":
            return str(a).casefold() == str(b).casefold()
        if ka == "number":
            return float(a) == float(b)
        if ka == "object":
            return a is b
        return bool(a == b)
    if ka == "object" or kb == "object":
        return False
    return to_number(a) == to_number(b)


def _compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        x: Any = a.casefold()
        y: Any = b.casefold()
    else:
        if _kind(a) == "object" or _kind(b) == "object":
            return False
        x, y = to_number(a), to_number(b)
        if math.isnan(x) or math.isnan(y):
            return False
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)


def _get(obj: Any, key: Any) -> Any:
    if isinstance(obj, _Filtered):
        out = _Filtered()
        for item in obj:
            got = _get(item, key)
            if got is not None:
                out.append(got)
        return out
    if isinstance(obj, Mapping):
        if not isinstance(key, str):
            key = to_string(key)
        if key in obj:
            return obj[key]
        folded = key.casefold()
        for k, v in obj.items():
            if isinstance(k, str) and k.casefold() == folded:
                return v
        return None
    if isinstance(obj, (list, tuple)):
        if not _is_number(key):
            return None
        idx = to_number(key)
        if math.isnan(idx) or not float(idx).is_integer():
            return None
        i = int(idx)
        return obj[i] if 0 <= i < len(obj) else None
    return None


def _star(obj: Any) -> _Filtered:
    if isinstance(obj, Mapping):
        return _Filtered(obj.values())
    if isinstance(obj, (list, tuple)):
        return _Filtered(obj)
    return _Filtered()


# --------------------------------------------------------------------------- functions

def _fn_contains(search: Any, item: Any) -> bool:
    if isinstance(search, (list, tuple)):
        return any(loose_equals(x, item) for x in search)
    return to_string(item).casefold() in to_string(search).casefold()


def _fn_starts(s: Any, prefix: Any) -> bool:
    return to_string(s).casefold().startswith(to_string(prefix).casefold())


def _fn_ends(s: Any, suffix: Any) -> bool:
    return to_string(s).casefold().endswith(to_string(suffix).casefold())


def _fn_format(fmt: Any, *args: Any) -> str:
    text = to_string(fmt)
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            out.append(ch)
            i += 2
            continue
        if ch == "{":
            end = text.find("}", i)
            index = text[i + 1:end] if end != -1 else ""
            if not index.isdigit():
                raise ExpressionError(f"format(): invalid placeholder in {text!r}")
            n = int(index)
            if n >= len(args):
                raise ExpressionError(
                    f"format(): placeholder {{{n}}} but only {len(args)} argument(s) given"
                )
            out.append(to_string(args[n]))
            i = end + 1
            continue
        if ch == "}":
            raise ExpressionError(f"format(): unmatched '}}' in {text!r}")
        out.append(ch)
        i += 1
    return "".join(out)


def _fn_join(items: Any, sep: Any = ",") -> str:
    if isinstance(items, (list, tuple)):
        return to_string(sep).join(to_string(x) for x in items)
    return to_string(items)


def _fn_to_json(value: Any) -> str:
    return json.dumps(value, indent=2)


def _fn_from_json(value: Any) -> Any:
    try:
        return json.loads(to_string(value))
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"fromJSON(): not valid JSON ({exc.msg})") from None


_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "contains": (_fn_contains, 2, 2),
    "startswith": (_fn_starts, 2, 2),
    "endswith": (_fn_ends, 2, 2),
    "format": (_fn_format, 1, 99),
    "join": (_fn_join, 1, 2),
    "tojson": (_fn_to_json, 1, 1),
    "fromjson": (_fn_from_json, 1, 1),
}


# --------------------------------------------------------------------------- evaluation

class _Evaluator:
    def __init__(self, text: str, contexts: Mapping[str, Any], status: Status) -> None:
        self.text = text
        self.contexts = {k.lower(): v for k, v in contexts.items()}
        self.status = status

    def eval(self, node: tuple) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "ctx":
            name = node[1].lower()
            if name not in self.contexts:
                raise _error(self.text, node[2], f"Unrecognized named-value: {node[1]!r}")
            return self.contexts[name]
        if kind == "get":
            return _get(self.eval(node[1]), self.eval(node[2]))
        if kind == "star":
            return _star(self.eval(node[1]))
        if kind == "not":
            return not truthy(self.eval(node[1]))
        if kind == "bin":
            return self._binary(node[1], node[2], node[3])
        return self._call(node[1], node[2], node[3])

    def _binary(self, op: str, left: tuple, right: tuple) -> Any:
        a = self.eval(left)
        if op == "||":
            return a if truthy(a) else self.eval(right)
        if op == "&&":
            return self.eval(right) if truthy(a) else a
        b = self.eval(right)
        if op == "==":
            return loose_equals(a, b)
        if op == "!=":
            return not loose_equals(a, b)
        return _compare(op, a, b)

    def _call(self, name: str, arg_nodes: list[tuple], pos: int) -> Any:
        if name in STATUS_FUNCTIONS:
            if arg_nodes:
                raise _error(self.text, pos, f"{name}() takes no arguments")
            return self._status(name)
        if name not in _FUNCTIONS:
            raise _error(self.text, pos, f"Unrecognized function: {name!r}")
        fn, lo, hi = _FUNCTIONS[name]
        if not lo <= len(arg_nodes) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise _error(self.text, pos,
                         f"{name}() takes {want} argument(s), {len(arg_nodes)} given")
        args = [self._plain(self.eval(a)) for a in arg_nodes]
        return fn(*args)

    @staticmethod
    def _plain(value: Any) -> Any:
        return list(value) if isinstance(value, _Filtered) else value

    def _status(self, name: str) -> bool:
        if name == "always":
            return True
        if name == "cancelled":
            return self.status.cancelled
        if name == "failure":
            return self.status.failed
        st = self.status
        return not (st.failed or st.cancelled or st.blocked)


_PARSE_CACHE: dict[str, tuple] = {}


def parse(text: str) -> tuple:
    """Parse an expression (without the ``${{ }}`` wrapper); raises ExpressionError."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_LENGTH}"
        )
    cached = _PARSE_CACHE.get(text)
    if cached is None:
        cached = _Parser(text).parse()
        if len(_PARSE_CACHE) < 4096:  # bounded: workflows repeat the same few expressions
            _PARSE_CACHE[text] = cached
    return cached


def evaluate(text: str, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """Evaluate one expression (no ``${{ }}``) and return its value."""
    value = _Evaluator(text, contexts, status or Status()).eval(parse(text))
    return list(value) if isinstance(value, _Filtered) else value


def _find_close(text: str, start: int) -> int:
    """Index of the ``}}`` closing an expression that begins at ``start`` (quotes aware)."""
    i, in_str = start, False
    while i < len(text):
        ch = text[i]
        if ch == "'":
            in_str = not in_str  # a doubled '' toggles twice: still correct
        elif not in_str and text.startswith("}}", i):
            return i
        i += 1
    return -1


def _segments(text: str) -> list[tuple[bool, str]]:
    """Split ``text`` into literal parts (False, s) and expressions (True, expr)."""
    out: list[tuple[bool, str]] = []
    pos = 0
    while True:
        start = text.find("${{", pos)
        if start == -1:
            out.append((False, text[pos:]))
            return out
        close = _find_close(text, start + 3)
        if close == -1:
            raise ExpressionError(f"'${{{{' without a closing '}}}}' in: {text}")
        out.append((False, text[pos:start]))
        out.append((True, text[start + 3:close].strip()))
        pos = close + 2


def interpolate(text: str, contexts: Mapping[str, Any], status: Status | None = None) -> str:
    """Replace every ``${{ expr }}`` in ``text`` by the string of its value."""
    if "${{" not in text:
        return text
    parts = []
    for is_expr, chunk in _segments(text):
        parts.append(to_string(evaluate(chunk, contexts, status)) if is_expr else chunk)
    return "".join(parts)


def interpolate_value(value: Any, contexts: Mapping[str, Any],
                      status: Status | None = None) -> Any:
    """YAML scalars from ``env:``/``with:``: strings are interpolated, others kept."""
    if isinstance(value, str):
        return interpolate(value, contexts, status)
    return value


def condition_expression(cond: Any) -> str:
    """The expression an ``if:`` stands for, as GitHub reads it.

    ``${{ }}`` around the whole condition is optional; a condition that calls no
    status function is implicitly ``success() && (cond)``. Text mixed with ``${{ }}``
    parts is a string (GitHub treats it so): it is rendered and quoted as a literal.
    """
    if cond is None:
        return "success()"
    if isinstance(cond, bool):
        return "success()" if cond else "false"
    text = str(cond).strip()
    if "${{" in text:
        segs = [s for s in _segments(text) if s[0] or s[1].strip()]
        if len(segs) == 1 and segs[0][0]:
            text = segs[0][1]
    if not text:
        return "success()"
    if _STATUS_CALL.search(text):
        return text
    return f"success() && ({text})"


def evaluate_condition(cond: Any, contexts: Mapping[str, Any], status: Status) -> bool:
    """Evaluate an ``if:`` (job or step level) to a bool."""
    expr = condition_expression(cond)
    if "${{" in expr:
        # mixed text and ${{ }}: a string, truthy when non-empty (GitHub's behaviour)
        rendered = interpolate(str(cond), contexts, status).strip()
        expr = "success() && (" + "'" + rendered.replace("'", "''") + "')"
    return truthy(evaluate(expr, contexts, status))
