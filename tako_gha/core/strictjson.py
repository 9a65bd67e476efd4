"""The one JSON reader: event payloads people hand to tako (CLI, action, hook), the
event file of a run, and (with GitHub's looser bounds) the emulator's request bodies.

Standard JSON only (RFC 8259), as GitHub speaks it, within bounds that keep every
later step (CEL filters, templates, the dispatch body) cheap:

- no ``NaN``, ``Infinity``, ``-Infinity`` (Python's ``json`` accepts them; GitHub's
  JSON has none) and no number that only reads as infinity (``1e999``);
- numbers of at most ``max_number_chars`` characters (a 5,000-digit integer would
  otherwise stop Python's int conversion with an internal error);
- nesting at most ``max_depth`` arrays/objects deep (``json`` recurses and would
  hit Python's recursion limit);
- at most ``max_bytes`` of UTF-8 text;
- strings without lone surrogates (``"\\ud800"``), which UTF-8 cannot carry.

Every refusal says where: line and column in the text and the path in the document
(``$.build.targets[3]``). Pure: text in, data or ``JsonInputError`` out.

How: the stdlib parser reads the text, with hooks that refuse constants and bad
numbers as it meets them; the nesting is measured first by a linear pre-scan that
skips strings (the parser recurses, so a 100,000-deep ``[[[`` must never reach it);
lone surrogates are looked for only when the text holds such an escape. Only a refused
text is scanned token by token, to say where (the first problem in the text).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 64
MAX_BYTES = 1024 * 1024  # far above a dispatch's 64 KB: that limit has its own message

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\n\r]+)
  | (?P<str>"(?:[^"\\\x00-\x1f]|\\.)*")
  | (?P<num>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.+-])
  | (?P<punct>[{}\[\]:,])
  | (?P<word>[A-Za-z0-9_.+-]+)
""", re.VERBOSE | re.DOTALL)
# Runs of tokens that need no check: whitespace, separators, escape-free strings,
# short plain numbers (no exponent, so never infinite) and the three literals.
_PLAIN = re.compile(r"""(?:
    [ \t\n\r,:]+
  | "[^"\\\x00-\x1f]*"
  | -?[0-9]{1,30}(?:\.[0-9]{1,30})?(?![0-9A-Za-z_.+-])
  | true | false | null
)+""", re.VERBOSE)
_PLAIN_NUMBER_CHARS = 62  # the longest number _PLAIN takes: -, 30 digits, ., 30 digits
_NON_STANDARD = {"NaN", "Infinity", "-Infinity", "+Infinity", "-NaN", "+NaN"}
_LITERALS = {"true", "false", "null"}
_WORD = re.compile(r"[A-Za-z0-9_.+-]+")
# For the depth pre-scan: a JSON string, unrolled so the regex engine never backtracks.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_REASON = ("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is "
                     "not Unicode text")


@dataclass(frozen=True)
class Limits:
    max_depth: int = MAX_DEPTH
    max_number_chars: int = MAX_NUMBER_CHARS
    max_bytes: int = MAX_BYTES


class JsonInputError(ValueError):
    """Text tako will not read as a payload; ``where`` is ``line L column C`` and,
    when known, the path in the document."""

    def __init__(self, reason: str, line: int = 0, col: int = 0, path: str = "", *,
                 kind: str = "syntax", size: int = 0) -> None:
        self.reason, self.line, self.col, self.path = reason, line, col, path
        # What was refused (syntax, unicode, size, depth, constant, number, infinite,
        # surrogate) and, for size, depth and number, how big it was: a caller with its
        # own wording (the emulator) words it from these.
        self.kind, self.size = kind, size
        super().__init__(f"{self.where}: {reason}" if self.where else reason)

    @property
    def where(self) -> str:
        spot = f"line {self.line} column {self.col}" if self.line else ""
        if self.path and self.path != "$":
            spot = f"{spot} ({self.path})" if spot else self.path
        return spot


DEFAULT_LIMITS = Limits()


def read_json_object(text: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """``text`` as a JSON object, or JsonInputError saying where and why."""
    data = read_json(text, limits)
    if not isinstance(data, dict):
        raise JsonInputError(f"must be a JSON object, got {_kind(data)}", 1, 1, "$")
    return data


def read_json(text: str, limits: Limits = DEFAULT_LIMITS, *, locate: bool = True) -> Any:
    """Any standard JSON value within ``limits``. The stdlib parser reads it, with hooks
    that refuse what it would accept or choke on; a refusal is then located (line,
    column, path) by a scan of the text up to the first problem, so only refused texts
    pay for the scan. ``locate=False`` skips it (the emulator answers one message for
    every refusal)."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # e.g. undecodable bytes of a command-line argument
        line, col = _line_col(text, exc.start)
        raise JsonInputError("the text is not valid Unicode (a byte sequence that is "
                             "not UTF-8?)", line, col, kind="unicode") from None
    if size > limits.max_bytes:
        # Located at the first character past the limit.
        cut = len(text.encode("utf-8")[:limits.max_bytes].decode("utf-8", errors="ignore"))
        line, col = _line_col(text, cut)
        raise JsonInputError(f"{size:,} bytes of JSON; at most {limits.max_bytes:,} are "
                             "read", line, col, kind="size", size=size)
    # Counting openers is a cheap upper bound that spares most payloads the pre-scan.
    openers = text.count("[") + text.count("{")
    depth = json_nesting(text) if openers > limits.max_depth else openers
    if depth > limits.max_depth:
        # Too deep for the parser's recursion. Either the scan finds where, or the text
        # stops being JSON before that depth and the parser reports that syntax error
        # without ever nesting past the part the scan checked.
        _refuse_first_problem(text, limits, locate, _Problem(
            -1, f"nested deeper than {limits.max_depth} levels", "depth", depth))
    hooks = _Hooks(limits)
    try:
        value = json.loads(text, parse_constant=hooks.constant, parse_int=hooks.integer,
                           parse_float=hooks.fraction)
    except _Problem as problem:
        _refuse_first_problem(text, limits, locate, problem)
        raise  # pragma: no cover - _refuse_first_problem always raises here
    except json.JSONDecodeError as exc:
        word = _WORD.match(text, exc.pos)
        if word and word.group() in _NON_STANDARD:  # "+Infinity", "-NaN": not even json's
            _refuse_first_problem(text, limits, locate, _Problem(
                exc.pos, _non_standard(word.group()), "constant"))
        raise JsonInputError(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:  # pragma: no cover - the depth is bounded first
        raise JsonInputError(f"nested deeper than {limits.max_depth} levels",
                             kind="depth", size=depth) from None
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        _refuse_first_problem(text, limits, locate, _Problem(-1, _SURROGATE_REASON,
                                                             "surrogate"))
    return value


def json_nesting(text: str) -> int:
    """How deep ``[``/``{`` nest in ``text`` outside strings (an upper bound for text
    that is not valid JSON), in linear time and without recursion, so the parser is
    only ever handed text whose nesting is known."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(map(_STEP.__getitem__, brackets)))


class _Hooks:
    """What the stdlib parser calls for constants and numbers: each refusal raises a
    ``_Problem`` (its place is found afterwards). The parser hands integers and
    fractions/exponents to separate hooks, so the common case is one length check."""

    def __init__(self, limits: Limits) -> None:
        self.max_chars = limits.max_number_chars

    def constant(self, name: str) -> Any:
        raise _Problem(-1, _non_standard(name), "constant")

    def integer(self, token: str) -> int:
        if len(token) > self.max_chars:
            raise _Problem(-1, _long_number(token, self.max_chars), "number", len(token))
        return int(token)

    def fraction(self, token: str) -> float:
        if len(token) > self.max_chars:
            raise _Problem(-1, _long_number(token, self.max_chars), "number", len(token))
        value = float(token)
        if not math.isfinite(value):
            raise _Problem(-1, _infinite(token), "infinite")
        return value


def _encodable(value: Any) -> bool:
    """Every string (keys too) is UTF-8 text, without recursion."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _refuse_first_problem(text: str, limits: Limits, locate: bool, seen: _Problem) -> None:
    """Raise the first problem of ``text`` with its line, column and path; ``seen`` is
    what the parser's hooks (or the depth pre-scan) found, used as is when not locating.
    Returns only when the scan finds no problem before a token it cannot read (then the
    text is not JSON and the parser says so)."""
    if not locate:
        raise JsonInputError(seen.reason, kind=seen.kind, size=seen.size)
    try:
        _first_problem(text, limits)
    except _Problem as problem:
        line, col = _line_col(text, problem.offset)
        raise JsonInputError(problem.reason, line, col, _path_at(text, problem.offset),
                             kind=problem.kind, size=seen.size or problem.size) from None
    if seen.offset >= 0:
        line, col = _line_col(text, seen.offset)
        raise JsonInputError(seen.reason, line, col, _path_at(text, seen.offset),
                             kind=seen.kind, size=seen.size)
    if seen.kind == "depth":
        return
    # The scan stopped at a token it cannot read before the problem the hooks saw
    # ("1e999x"): that syntax error comes first, and the parser places it.
    try:
        json.loads(text, parse_constant=_zero, parse_int=_zero, parse_float=_zero)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:  # pragma: no cover - the depth is bounded first
        pass
    raise JsonInputError(seen.reason, 1, 1, kind=seen.kind, size=seen.size)


def _zero(_token: str) -> int:
    return 0


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset``, the way ``json`` counts them."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


class _Path:
    """Where the scan is in the document: object keys and array indexes."""

    def __init__(self) -> None:
        self.frames: list[list[Any]] = []  # [kind, key or index, expecting a key]

    def text(self) -> str:
        parts = []
        for kind, step, _ in self.frames:
            if kind == "[":
                parts.append(f"[{step}]")
            elif step is not None:
                parts.append(f".{step}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", step)
                             else f"[{json.dumps(step)}]")
        if len(parts) > 8:  # a path 64 levels deep helps nobody: its ends are enough
            parts = [*parts[:3], f"…{len(parts) - 6} more…", *parts[-3:]]
        return "$" + "".join(parts)

    def open(self, kind: str) -> None:
        self.frames.append([kind, 0 if kind == "[" else None, kind == "{"])

    def close(self) -> None:
        if self.frames:
            self.frames.pop()

    def comma(self) -> None:
        if not self.frames:
            return
        frame = self.frames[-1]
        if frame[0] == "[":
            frame[1] += 1
        else:
            frame[1], frame[2] = None, True

    def string(self, token: str) -> None:
        if self.frames and self.frames[-1][0] == "{" and self.frames[-1][2]:
            try:
                self.frames[-1][1] = json.loads(token)
            except ValueError:
                self.frames[-1][1] = token[1:-1]
            self.frames[-1][2] = False


class _Problem(Exception):
    """A refusal before it is placed (``offset`` -1: not known yet)."""

    def __init__(self, offset: int, reason: str, kind: str, size: int = 0) -> None:
        super().__init__(reason)
        self.offset, self.reason, self.kind, self.size = offset, reason, kind, size


def _non_standard(token: str) -> str:
    return (f"{token} is not JSON (GitHub's JSON has no NaN or Infinity); send a string "
            "or null instead")


def _long_number(token: str, limit: int) -> str:
    return (f"a number of {len(token):,} characters; at most {limit} are accepted (send "
            "long numbers as strings)")


def _infinite(token: str) -> str:
    return f"{token} is too large for a JSON number (it reads as infinity); send it as a string"


def _first_problem(text: str, limits: Limits) -> None:
    """The scan that places a refusal (run only for a refused text): runs of plain
    tokens are skipped in one regex match, so only brackets and unusual tokens cost a
    step of this loop. Stops quietly at the first token it cannot read."""
    depth, offset = 0, 0
    # The plain runs hold numbers of up to 62 characters: with a tighter limit every
    # number goes through the check below.
    skip_plain = limits.max_number_chars >= _PLAIN_NUMBER_CHARS
    while offset < len(text):
        plain = _PLAIN.match(text, offset) if skip_plain else None
        if plain is not None:
            offset = plain.end()
            continue
        match = _TOKEN.match(text, offset)
        if match is None:
            return
        kind, token = match.lastgroup, match.group()
        if kind == "punct" and token in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise _Problem(offset, f"nested deeper than {limits.max_depth} levels",
                               "depth")
        elif kind == "punct" and token in "]}":
            depth -= 1
        elif kind == "str":
            _check_string(token, offset)
        elif kind == "num":
            _check_number(token, limits, offset)
        elif kind == "word" and token not in _LITERALS:
            if token in _NON_STANDARD:
                raise _Problem(offset, _non_standard(token), "constant")
            return  # a syntax error: json says what it is
        offset = match.end()


def _path_at(text: str, stop: int) -> str:
    """The document path of the value at offset ``stop`` (only computed for an error)."""
    path, offset = _Path(), 0
    while offset < stop:
        match = _TOKEN.match(text, offset)
        if match is None:
            break
        kind, token = match.lastgroup, match.group()
        if kind == "punct":
            if token in "[{":
                path.open(token)
            elif token in "]}":
                path.close()
            elif token == ",":
                path.comma()
        elif kind == "str":
            path.string(token)
        offset = match.end()
    return path.text()


def _check_number(token: str, limits: Limits, offset: int) -> None:
    if len(token) > limits.max_number_chars:
        raise _Problem(offset, _long_number(token, limits.max_number_chars), "number",
                       len(token))
    if any(c in token for c in ".eE") and not math.isfinite(float(token)):
        raise _Problem(offset, _infinite(token), "infinite")


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _check_string(token: str, offset: int) -> None:
    """Lone surrogates (``"\\ud800"``) cannot be written as UTF-8: refuse them here
    rather than fail later writing an output or a log line."""
    if "\\u" not in token or not _SURROGATE.search(token):
        return
    try:
        json.loads(token).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        raise _Problem(offset, _SURROGATE_REASON, "surrogate") from None
