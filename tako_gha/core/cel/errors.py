"""celpy's error texts, said in CEL terms and kept short.

celpy's messages name Python classes (``<class 'celpy.celtypes.IntType'>``) and grammar
rules (``Token('RULE', 'relation_lt')``), quote their operands (errors included, so a
message doubles at each step) and may quote a whole payload value. This module turns
them into short final messages (``_Flat``), names values by their CEL type, and turns
celpy's parse errors into "unexpected X; expected one of ...", reading the terminal
patterns of celpy's grammar (``CELParser.CEL_PARSER``).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import celpy
import celpy.celparser
import lark
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError


class _Flat:
    """Marks an error value already made readable (its message is final and short)."""


def _flatten(error: CELEvalError) -> CELEvalError:
    """An error value as a short, final message.

    celpy builds messages from the ``repr`` of the operands, errors included; an error
    fed into the next operation would be quoted -- and its quotes escaped -- again,
    doubling at each step. Flattening each error as soon as it is produced keeps every
    message short whatever the filter does with it.
    """
    flat = CELEvalError(_readable_eval_error(error), _Flat, ())
    flat.line, flat.column = error.line, error.column
    return flat


def _body_error(macro: str, value: Any) -> CELEvalError:
    return CELEvalError(
        f"the condition of {macro}() gave {_cel_type_name(value)}, not bool", _Flat, ()
    )


def _type_error(op: str, *values: Any) -> CELEvalError:
    names = " and ".join(_cel_type_name(v) for v in values)
    return CELEvalError(f"no operator {op!r} for {names}", _Flat, ())


_CEL_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (celtypes.BoolType, "bool"),
    (bool, "bool"),
    (celtypes.UintType, "uint"),
    (celtypes.IntType, "int"),
    (int, "int"),
    (float, "double"),
    (str, "string"),
    (bytes, "bytes"),
    (list, "list"),
    (dict, "map"),
    (celtypes.TimestampType, "timestamp"),
    (celtypes.DurationType, "duration"),
    (type, "type"),
    (type(None), "null"),
)


def _cel_type_name(value: object) -> str:
    for cls, name in _CEL_TYPE_NAMES:
        if isinstance(value, cls):
            return name
    return type(value).__name__


_OP_NAMES = {
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
}
_CLASS_RE = re.compile(r"<class '(?:celpy\.celtypes\.)?(\w+)'>")
_WRAPPED_RE = re.compile(r"\b[A-Z]\w*Type\(([^()]*)\)")
_RULE_RE = re.compile(r"Token\('RULE', '(\w+)'\)")
_CEL_CLASS_NAMES = {
    "BoolType": "bool",
    "IntType": "int",
    "UintType": "uint",
    "DoubleType": "double",
    "StringType": "string",
    "BytesType": "bytes",
    "ListType": "list",
    "MapType": "map",
    "NoneType": "null",
    "TimestampType": "timestamp",
    "DurationType": "duration",
}


def _plain(value: object) -> object:
    """A celpy value as the plain Python value it wraps (for messages)."""
    for cls in (str, bool, int, float, bytes):
        if isinstance(value, cls):
            return cls(value)
    return value


def _readable_eval_error(error: CELEvalError) -> str:
    """celpy's messages name Python classes and grammar rules; say it in CEL terms."""
    if error.args[1:2] == (_Flat,):
        return str(error.args[0])
    # Messages may quote a big payload value: only their start is ever shown.
    message = str(error.args[0])[:2000] if error.args else "evaluation failed"
    message = _RULE_RE.sub(lambda m: repr(_OP_NAMES.get(m[1], m[1])), message)
    message = _CLASS_RE.sub(lambda m: _CEL_CLASS_NAMES.get(m[1], m[1]), message)
    message = message.replace("found no matching overload for", "no operator")
    missing = re.fullmatch(r"no such member in mapping: '(.*)'", message)
    if missing:
        message = f"no field {missing[1]!r} (use has(...) to test for optional fields)"
    elif message == "no such key" and len(error.args) > 2 and error.args[2]:
        message = f"no key {str(_plain(error.args[2][0]))[:200]!r}"
    elif message == "return error for overflow" and error.args[1] is ValueError:
        detail = error.args[2][0] if len(error.args) > 2 and error.args[2] else "invalid value"
        message = f"bad value: {str(detail)[:300]}"
    elif message == "invalid_argument" and error.args[1] is IndexError:
        message = "list index out of range"
    elif message.startswith("undeclared reference to"):
        message = message.split(" (in activation", 1)[0]
    message = _WRAPPED_RE.sub(lambda m: m[1], message)
    column = getattr(error, "column", None)
    if isinstance(column, int) and column > 1:  # column 1 is the whole filter: no news
        message += f" (at column {column})"
    return message if len(message) <= 300 else message[:297] + "..."


def _describe_parse_error(exc: CELParseError) -> str:
    cause = exc.__context__
    if isinstance(cause, lark.exceptions.UnexpectedToken):
        token = cause.token
        if token.type == "$END":
            return "it ends too early"
        expected = sorted(_terminal_text(name) for name in cause.expected)
        shown = ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "")
        return f"unexpected {str(token)!r}; expected one of: {shown}"
    if isinstance(cause, lark.exceptions.UnexpectedCharacters):
        return f"unexpected character {cause.char!r}"
    return str(exc).splitlines()[0] if str(exc) else "syntax error"


@functools.lru_cache(maxsize=1)
def _terminal_patterns() -> dict[str, str]:
    parser = celpy.celparser.CELParser.CEL_PARSER
    return {t.name: t.pattern.value for t in parser.terminals} if parser else {}


_TERMINAL_WORDS = {
    "IDENT": "a name",
    "INT_LIT": "a number",
    "UINT_LIT": "a number",
    "FLOAT_LIT": "a number",
    "STRING_LIT": "a string",
    "MLSTRING_LIT": "a string",
    "BYTES_LIT": "bytes",
    "BOOL_LIT": "true/false",
    "NULL_LIT": "null",
}


def _terminal_text(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    pattern = _terminal_patterns().get(name)
    return repr(pattern) if isinstance(pattern, str) and len(pattern) <= 3 else name.lower()
