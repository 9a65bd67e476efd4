"""CEL filters on cel-python (docs/filters.md).

INTERFACE (agreed):
    FilterLimits(max_length, max_ast_nodes, max_depth, max_eval_seconds)
    DEFAULT_LIMITS
    compile_filter(source, limits=DEFAULT_LIMITS) -> CompiledFilter
        cached per process (same source+limits -> same object); raises
        FilterError(message, limit=<name or None>) when it does not compile or
        breaks a limit.
    CompiledFilter.source: str
    CompiledFilter.evaluate(activation: dict) -> FilterOutcome
        never raises for run-time problems: FilterOutcome(matched=False,
        reason="...") for missing fields/type errors/non-bool/time limit.
    activation_for(event: Event, subscriber: str) -> dict
        variables ``event`` (type, schema_version, source, payload) and
        ``subscriber`` (repo).

Added (compatible): ``FilterLimits.max_value_size`` (default 100,000: the longest
string/list a filter may build); ``FilterLimits.max_match_work`` (default 10,000,000:
pattern size x text length of one ``matches()``); ``FilterError.line/.column/.hint``
(1-based position inside the expression, 0 when unknown); ``FilterOutcome.error`` (True when the
filter failed rather than evaluated to false), ``FilterOutcome.limit`` and
``FilterOutcome.detail`` (the reason without the filter's source);
``CompiledFilter.evaluate(..., memo=False)`` (skip the per-event memo); ``FUNCTIONS``
(name -> one-line help, for docs and lint hints); ``FilterLimits.max_eval_steps``
(15,000) and ``FilterLimits.max_eval_memory`` (16,000,000 bytes);
``CompiledFilter.warnings() -> list[FilterWarning(message, line, column, hint)]`` (cost
warnings for lint: nested iteration, values that grow with the payload).

How it works. celpy parses the source into a lark tree; we then check it (limits,
known names, static result type), rewrite ``semver.major(x)`` -- which CEL parses as a
method call on an identifier ``semver`` -- into a flat function call named
``semver.major`` (a name no user can type, so no clash), and evaluate it with
celpy's ``Evaluator``, subclassed so that every tree node visited counts against a
step budget (and a wall-clock backstop). Bounded by construction, through celpy's
public API only (a subclass of its evaluator, our own function table):

- every function and operator is wrapped (``_metered``): it is charged steps for what
  it reads before it runs, and what it builds counts against a memory budget;
- every list or map the filter builds is weighed by its tree size (shared parts
  counted each time), so nothing can print or compare as the square of what it holds;
- error values are flattened to short messages as soon as they appear (celpy quotes
  operands, errors included, in the next error: the message doubled at each step);
- the five macros are run here; before one starts, its worst case over the actual
  list is estimated (``core.cel_cost``) and a hopeless one is stopped at once;
- operations that could blow up in a single step (string or list concatenation,
  ``replace``, ``join``) check a size cap first; ``matches`` uses RE2 (linear time),
  each pattern compiled once, and checks pattern size x text length first.

celpy's evaluator is pure Python and is used only through its public classes: no
module of celpy is patched (swapping the typing aliases celpy casts with in its hot
paths made evaluation ~1.5x faster, but changed celpy for every user in the process).
See ``_collapse`` for what is done on our side to keep evaluation fast.
"""

from __future__ import annotations

import contextvars
import functools
import operator
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import celpy
import celpy.evaluation
import lark
import re2
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import Activation, CELEvalError, Evaluator

from tako_gha.core.cel_cost import (
    MACRO_ITERATION,
    Shape,
    estimate,
    estimate_macro,
    growth,
    shape_of,
    uniform_event,
    walk,
)
from tako_gha.core.versions import RangeError, VersionError, parse_range, parse_version

if TYPE_CHECKING:
    from tako_gha.core.events import Event

__all__ = [
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


@dataclass(frozen=True)
class FilterLimits:
    """Caps against hostile or accidental cost; each breach names its field."""

    max_length: int = 2000  # characters of source
    max_ast_nodes: int = 1000  # syntax nodes (literals, names, operators, calls)
    max_depth: int = 50  # nesting of operators, calls, parentheses, lists, macros
    max_eval_seconds: float = 0.25  # wall clock per evaluation
    # Longest string, or heaviest list/map (items and characters counted with repeats),
    # a filter may build.
    max_value_size: int = 100_000
    # One matches() call: RE2 program size x text length. RE2 is linear in the text but
    # its slowest path costs about (pattern size x text length), ~4e8 units a second:
    # a 50,000-character pattern from the payload run on itself took 6 s, in C, where
    # the per-node clock cannot stop it. So the cost is bounded before the search; on a
    # loaded machine 16,000,000 units took 0.5 s, hence a cap of 10,000,000.
    max_match_work: int = 10_000_000
    # Steps of one evaluation: about one per syntax node evaluated, three more per
    # element a macro visits, one per 64 characters / 4 list items an operation reads.
    # 15,000 steps take 0.04-0.12 s in celpy's evaluator (an exists() over ~2,000
    # items); counting them makes the stop deterministic (the clock is a backstop).
    max_eval_steps: int = 15_000
    # Bytes (estimated) of the strings, lists and maps one evaluation builds.
    max_eval_memory: int = 16_000_000


DEFAULT_LIMITS = FilterLimits()

VARIABLES = ("event", "subscriber")


class FilterError(ValueError):
    """A filter that does not compile, or breaks a limit (``.limit`` names it)."""

    def __init__(
        self,
        message: str,
        limit: str | None = None,
        *,
        line: int = 0,
        column: int = 0,
        hint: str = "",
    ) -> None:
        self.message = message
        self.limit = limit
        self.line = line
        self.column = column
        self.hint = hint
        text = message
        if line:
            text += f" (line {line}, column {column})" if line > 1 else f" (column {column})"
        if hint:
            text += f"; hint: {hint}"
        super().__init__(text)


@dataclass(frozen=True)
class FilterOutcome:
    """Whether a subscription's filter matched, and if not, why (for ``plan``)."""

    matched: bool
    # ``reason`` names the filter ("filter is false: SRC" / "filter 'SRC' failed: ...");
    # ``detail`` says the same without the source, for callers that show it already.
    reason: str = ""
    error: bool = False  # the filter failed (missing field, type error, limit, non-bool)
    limit: str | None = None  # the limit that stopped it, if any
    detail: str = ""
    # Steps this call spent (0 when the outcome was remembered): what matching adds up
    # per repository, so one tako.yml with many costly subscriptions stays bounded.
    steps: int = field(default=0, compare=False)


# --------------------------------------------------------------------------- functions


class _Abort(BaseException):
    """Stops an evaluation outright (a limit was hit).

    A BaseException on purpose: celpy turns ordinary exceptions raised inside
    functions into CEL error *values*, which ``||``/``exists`` may then swallow; a
    breached limit must end the evaluation instead.
    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message


def _str_arg(name: str, value: object, what: str = "a string") -> str:
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"{name} expects {what}, got {_cel_type_name(value)}")


def _is_int(value: object) -> bool:
    # celpy's BoolType subclasses int (not bool): neither is a number here.
    return isinstance(value, int) and not isinstance(value, (bool, celtypes.BoolType))


def _version_arg(name: str, value: object) -> str:
    # JSON payloads sometimes carry a bare major version as a number ("version": 2).
    if _is_int(value):
        return str(int(value))
    return _str_arg(name, value, "a version string")


def _cel_function(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a Python helper so bad input becomes a readable CEL error value.

    celpy reports a TypeError as "no such overload" and a ValueError as "return error
    for overflow"; returning our own CELEvalError keeps the real reason.
    """

    def wrap(impl: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(impl)
        def call(*args: Any) -> Any:
            try:
                return impl(*args)
            except (RangeError, VersionError) as exc:
                return CELEvalError(f"{name}: {exc.reason}", type(exc), exc.args)
            except (TypeError, ValueError) as exc:
                message = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
                return CELEvalError(message, type(exc), exc.args)

        return call

    return wrap


def _semver_part(part: str) -> Callable[[object], celtypes.IntType]:
    @_cel_function(f"semver.{part}")
    def extract(version: object) -> celtypes.IntType:
        parsed = parse_version(_version_arg(f"semver.{part}", version))
        return celtypes.IntType(getattr(parsed, part))

    return extract


@_cel_function("semver.compare")
def _semver_compare(a: object, b: object) -> celtypes.IntType:
    left = parse_version(_version_arg("semver.compare", a))
    right = parse_version(_version_arg("semver.compare", b))
    return celtypes.IntType(left.compare(right))


@_cel_function("semver.satisfies")
def _semver_satisfies(version: object, range_text: object) -> celtypes.BoolType:
    ranged = parse_range(_str_arg("semver.satisfies", range_text, "a range string"))
    return celtypes.BoolType(ranged.contains(_version_arg("semver.satisfies", version)))


@_cel_function("trim")
def _trim(text: object) -> celtypes.StringType:
    return celtypes.StringType(_str_arg("trim", text).strip())


@_cel_function("lower")
def _lower(text: object) -> celtypes.StringType:
    return celtypes.StringType(_str_arg("lower", text).lower())


@_cel_function("upper")
def _upper(text: object) -> celtypes.StringType:
    return celtypes.StringType(_str_arg("upper", text).upper())


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@_cel_function("lowerAscii")
def _lower_ascii(text: object) -> celtypes.StringType:
    return celtypes.StringType(_str_arg("lowerAscii", text).translate(_ASCII_LOWER))


@_cel_function("upperAscii")
def _upper_ascii(text: object) -> celtypes.StringType:
    return celtypes.StringType(_str_arg("upperAscii", text).translate(_ASCII_UPPER))


@_cel_function("split")
def _split(text: object, separator: object, limit: object = -1) -> celtypes.ListType:
    """CEL strings extension: ``s.split(sep)``, ``s.split(sep, n)`` (n < 0: no limit)."""
    value, sep = _str_arg("split", text), _str_arg("split", separator, "a string separator")
    if not _is_int(limit):
        raise TypeError(f"split expects an int limit, got {_cel_type_name(limit)}")
    count = int(limit)
    if count == 0:
        return celtypes.ListType()
    if sep == "":
        parts = list(value)
        if count > 0 and len(parts) > count:
            parts = [*parts[: count - 1], "".join(parts[count - 1 :])]
    else:
        parts = value.split(sep, count - 1 if count > 0 else -1)
    return celtypes.ListType(celtypes.StringType(p) for p in parts)


def _int_arg(name: str, value: object) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} expects an int, got {_cel_type_name(value)}")
    return int(value)  # type: ignore[call-overload]


def _code_point_index(name: str, text: str, index: int) -> int:
    if index < 0 or index > len(text):
        raise ValueError(f"{name}: index {index} is out of range for a string of {len(text)}")
    return index


@_cel_function("substring")
def _substring(text: object, start: object, end: object = None) -> celtypes.StringType:
    """CEL strings extension: ``s.substring(start[, end])``, code-point indices."""
    value = _str_arg("substring", text)
    first = _code_point_index("substring", value, _int_arg("substring", start))
    last = len(value) if end is None else _int_arg("substring", end)
    _code_point_index("substring", value, last)
    if last < first:
        raise ValueError(f"substring: end {last} is before start {first}")
    return celtypes.StringType(value[first:last])


@_cel_function("charAt")
def _char_at(text: object, index: object) -> celtypes.StringType:
    value = _str_arg("charAt", text)
    at = _code_point_index("charAt", value, _int_arg("charAt", index))
    return celtypes.StringType(value[at : at + 1])  # "" at the end, as in CEL


@_cel_function("indexOf")
def _index_of(text: object, part: object, offset: object = 0) -> celtypes.IntType:
    value, needle = _str_arg("indexOf", text), _str_arg("indexOf", part)
    start = _code_point_index("indexOf", value, _int_arg("indexOf", offset))
    return celtypes.IntType(value.find(needle, start))


@_cel_function("lastIndexOf")
def _last_index_of(text: object, part: object) -> celtypes.IntType:
    return celtypes.IntType(_str_arg("lastIndexOf", text).rfind(_str_arg("lastIndexOf", part)))


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each bad pattern to stderr
    return options


_RE2_OPTIONS = _re2_options()


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    """Compile once per pattern (celpy recompiles on every call)."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _re2_message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else "invalid"
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


def _make_size_bounded(limits: FilterLimits) -> dict[str, Callable[..., Any]]:
    """Functions whose result size depends on their input: checked before building."""
    cap = limits.max_value_size

    def check(size: int, what: str) -> None:
        if size > cap:
            raise _Abort(
                "max_value_size",
                f"{what} would build a value of {size:,} items, over the max_value_size "
                f"limit of {cap:,}",
            )

    def add(left: Any, right: Any) -> Any:
        if isinstance(left, (str, bytes, list)) and isinstance(right, (str, bytes, list)):
            check(len(left) + len(right), "'+'")
        return celpy.evaluation.base_functions["_+_"](left, right)

    def multiply(left: Any, right: Any) -> Any:
        # Python would repeat a string or list ("ab" * 10**9); CEL has no such overload.
        if isinstance(left, (str, bytes, list)) or isinstance(right, (str, bytes, list)):
            raise TypeError(f"no '*' for {_cel_type_name(left)} and {_cel_type_name(right)}")
        return celpy.evaluation.base_functions["_*_"](left, right)

    @_cel_function("replace")
    def replace(text: object, old: object, new: object, limit: object = -1) -> Any:
        value = _str_arg("replace", text)
        old_s, new_s = _str_arg("replace", old), _str_arg("replace", new)
        if not _is_int(limit):
            raise TypeError(f"replace expects an int limit, got {_cel_type_name(limit)}")
        hits = value.count(old_s) if old_s else len(value) + 1
        if int(limit) >= 0:
            hits = min(hits, int(limit))
        check(len(value) + hits * (len(new_s) - len(old_s)), "replace()")
        return celtypes.StringType(value.replace(old_s, new_s, int(limit)))

    @_cel_function("join")
    def join(items: object, separator: object = "") -> Any:
        if not isinstance(items, list):
            raise TypeError(f"join expects a list of strings, got {_cel_type_name(items)}")
        sep = _str_arg("join", separator, "a string separator")
        parts = [_str_arg("join", item, "a list of strings") for item in items]
        check(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), "join()")
        return celtypes.StringType(sep.join(parts))

    def matches(text: object, pattern: object) -> Any:
        """``s.matches(re)``: RE2 search, its worst-case cost bounded before it runs."""
        if not isinstance(text, str) or not isinstance(pattern, str):
            return CELEvalError(
                f"matches expects strings, got {_cel_type_name(text)} and "
                f"{_cel_type_name(pattern)}",
                TypeError,
                (),
            )
        try:
            compiled = _regex(str(pattern))
        except re2.error as exc:
            return CELEvalError(
                f"invalid regular expression: {_re2_message(exc)}", ValueError, ()
            )
        work = compiled.programsize * max(len(text), 1)
        if work > limits.max_match_work:
            raise _Abort(
                "max_match_work",
                f"matches() of a {compiled.programsize:,}-instruction pattern over "
                f"{len(text):,} characters would cost {work:,}, over the max_match_work "
                f"limit of {limits.max_match_work:,}",
            )
        return celtypes.BoolType(compiled.search(str(text)) is not None)

    def index(container: Any, key: Any) -> Any:
        # Python would count from the end (l[-1] is the last item); CEL has no such thing.
        if isinstance(container, list) and _is_int(key) and int(key) < 0:
            return CELEvalError(f"list index {int(key)} is out of range", _Flat, ())
        return celpy.evaluation.base_functions["_[_]"](container, key)

    return {
        "_+_": add,
        "_*_": multiply,
        "_[_]": index,
        "replace": replace,
        "join": join,
        "matches": matches,
    }


# User-visible functions beyond standard CEL (docs/filters.md lists the same).
FUNCTIONS: dict[str, str] = {
    "semver.major(v)": "major version of v as an int ('2.1.0' -> 2)",
    "semver.minor(v)": "minor version of v as an int",
    "semver.patch(v)": "patch version of v as an int",
    "semver.compare(a, b)": "-1, 0 or 1 by semver precedence",
    "semver.satisfies(v, range)": "whether v is inside a range such as '^1.2' (docs/tako-yml.md)",
    "s.split(sep[, n])": "list of the parts of s between sep (at most n parts)",
    "s.trim()": "s without leading/trailing whitespace",
    "s.lower() / s.upper()": "case-converted s (also lowerAscii / upperAscii)",
    "s.replace(old, new[, n])": "s with old replaced by new (first n only)",
    "s.substring(start[, end]) / s.charAt(i)": "part of s by code-point index",
    "s.indexOf(x[, from]) / s.lastIndexOf(x)": "position of x in s, -1 when absent",
    "list.join([sep])": "the strings of list joined with sep",
    "s.contains(x) / s.startsWith(x) / s.endsWith(x)": "substring tests",
    "s.matches(re)": "RE2 regular-expression search",
}

# celpy's comparison operators build their wrapper (``boolean(operator.eq)``, with
# functools.wraps) on every call; the same wrappers built once answer the same, faster.
# (A celpy without ``boolean`` keeps its own operators: only slower.)
_BOOLEAN = getattr(celpy.evaluation, "boolean", None)
_COMPARISONS: dict[str, Callable[..., Any]] = {
    name: _BOOLEAN(op)
    for name, op in (
        ("_<_", operator.lt),
        ("_<=_", operator.le),
        ("_>_", operator.gt),
        ("_>=_", operator.ge),
        ("_==_", operator.eq),
        ("_!=_", operator.ne),
    )
} if callable(_BOOLEAN) else {}

_SEMVER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "semver.major": _semver_part("major"),
    "semver.minor": _semver_part("minor"),
    "semver.patch": _semver_part("patch"),
    "semver.compare": _semver_compare,
    "semver.satisfies": _semver_satisfies,
}
_SEMVER_ARITY = {"major": 1, "minor": 1, "patch": 1, "compare": 2, "satisfies": 2}

_STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "split": _split,
    "trim": _trim,
    "lower": _lower,
    "upper": _upper,
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "substring": _substring,
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
}

_MACROS = frozenset({"map", "filter", "all", "exists", "exists_one"})
# Methods callable as ``x.name(...)``: ours, plus the celpy built-ins worth offering.
_METHODS = frozenset(
    {
        *_STRING_FUNCTIONS,
        "replace",
        "join",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "size",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getMonth",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getSeconds",
    }
)
_GLOBAL_FUNCTIONS = frozenset(
    {
        "has",
        "dyn",
        "size",
        "type",
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "string",
        "timestamp",
        "uint",
        "matches",
        "contains",
        "startsWith",
        "endsWith",
        *_SEMVER_FUNCTIONS,
    }
)
# Type names usable as values, e.g. ``type(x) == string``.
_TYPE_NAMES = frozenset(
    {
        "bool",
        "bytes",
        "double",
        "duration",
        "int",
        "string",
        "timestamp",
        "uint",
        "list",
        "map",
        "null_type",
        "type",
    }
)


# --------------------------------------------------------------------------- evaluation


class _Budget:
    """What one evaluation may spend: steps, bytes, and (as a last resort) wall-clock time.

    Steps are deterministic: one per syntax node evaluated, three per element a macro
    visits, and for an operation that reads its arguments (comparing, searching,
    converting) one per 64 characters of a string and one per 4 items of a list or map.
    The same filter on the same payload therefore always stops at the same place,
    whatever the load on the machine; the clock is only a backstop.

    ``weight`` is the *tree size* of a value (items and characters, counting shared
    parts every time they appear). It is what printing, comparing or converting the
    value costs in one uninterruptible step, so no value a filter builds may weigh more
    than max_value_size: ``[l, l, l, ...]`` or ``l.map(x, l)`` share ``l`` cheaply but
    would print as its square. Payload values are weighed once per event.
    """

    __slots__ = (
        "built",
        "deadline",
        "keep",
        "known",
        "limits",
        "local_shapes",
        "memory",
        "shapes",
        "steps",
    )

    def __init__(self, limits: FilterLimits, facts: _EventFacts) -> None:
        self.limits = limits
        self.shapes = facts.shapes  # id -> Shape (cel_cost) of payload values, per event
        self.local_shapes: dict[int, Shape] = {}  # ... of values built here
        self.deadline = time.monotonic() + limits.max_eval_seconds
        self.steps = 0
        self.memory = 0
        self.known = facts.weights  # id -> weight of the payload's containers (shared, read-only)
        self.built: dict[int, int] = {}  # id -> weight of containers this evaluation built
        self.keep: list[object] = []  # keeps built containers alive: their ids stay unique

    def check(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_eval_steps:
            self._over_steps()
        # Reading the clock every node is cheap, but every 16th is cheaper still and a
        # node costs microseconds, so the cap is still honoured to well under 1 ms.
        if self.steps & 15 == 0 and time.monotonic() > self.deadline:
            raise _Abort(
                "max_eval_seconds",
                "evaluation took longer than the max_eval_seconds limit of "
                f"{self.limits.max_eval_seconds:g} s",
            )

    def charge(self, steps: int) -> None:
        if steps:
            self.steps += steps
            if self.steps > self.limits.max_eval_steps:
                self._over_steps()

    def _over_steps(self) -> None:
        raise _Abort(
            "max_eval_steps",
            f"evaluation needed more than the max_eval_steps limit of "
            f"{self.limits.max_eval_steps:,} steps",
        )

    def allocate(self, size: int, what: str) -> None:
        self.memory += size
        if self.memory > self.limits.max_eval_memory:
            raise _Abort(
                "max_eval_memory",
                f"{what} would bring the values built to about {self.memory:,} bytes, over "
                f"the max_eval_memory limit of {self.limits.max_eval_memory:,}",
            )

    def weight(self, value: object) -> int:
        if isinstance(value, (str, bytes)):
            return len(value) + 1
        if isinstance(value, (list, dict)):
            key = id(value)
            known = self.built.get(key)
            if known is None:
                known = self.known.get(key)
            return self.register(value, "a value") if known is None else known
        return 1

    def register(self, value: list[Any] | dict[Any, Any], what: str) -> int:
        """Weigh a container the filter built (first sight), refusing one too heavy."""
        items: Iterator[Any] | list[Any] = (
            value if isinstance(value, list) else _flat_items(value)
        )
        total = 1
        for item in items:
            total += self.weight(item)
        self.built[id(value)] = total
        self.keep.append(value)
        self.charge(len(value) >> 6)
        self.allocate(56 + 8 * len(value) * (3 if isinstance(value, dict) else 1), what)
        if total > self.limits.max_value_size:
            raise _Abort(
                "max_value_size",
                f"{what} would hold {total:,} items counting repeats, over the "
                f"max_value_size limit of {self.limits.max_value_size:,}",
            )
        return total

    def shape(self, value: object) -> Shape:
        """The shape of a value: memoised per event for the payload's containers, per
        evaluation for built ones (freed afterwards, their ids are reused)."""
        if isinstance(value, (list, dict)) and id(value) not in self.known:
            return shape_of(value, self.local_shapes)
        return shape_of(value, self.shapes)

    def seen(self, value: object) -> None:
        """Called on every intermediate value: weigh containers met for the first time.

        Only CEL lists and maps: the evaluator also passes plain Python lists around
        (its own operand tuples), which are no values of the filter's."""
        if isinstance(value, (celtypes.ListType, celtypes.MapType)):
            key = id(value)
            if key not in self.built and key not in self.known:
                self.register(value, "a list or map")


def _flat_items(mapping: dict[Any, Any]) -> Iterator[Any]:
    for key, item in mapping.items():
        yield key
        yield item


def _payload_weights(values: Mapping[Any, Any]) -> dict[int, int]:
    """id -> tree size of every container in an activation, iteratively (payloads nest)."""
    weights: dict[int, int] = {}
    for root in values.values():
        if not isinstance(root, (list, dict)) or id(root) in weights:
            continue
        # post-order without recursion: (container, children pushed?)
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in weights:
                continue
            children = list(node) if isinstance(node, list) else list(_flat_items(node))
            if not ready:
                stack.append((node, True))
                stack.extend(
                    (c, False) for c in children
                    if isinstance(c, (list, dict)) and id(c) not in weights
                )
                continue
            total = 1
            for child in children:
                if isinstance(child, (list, dict)):
                    total += weights[id(child)]
                elif isinstance(child, (str, bytes)):
                    total += len(child) + 1
                else:
                    total += 1
            weights[id(node)] = total
    return weights


class _EventFacts:
    """What is known about one event's values: container weights and shapes."""

    __slots__ = ("roots", "shapes", "weights")

    def __init__(self, roots: tuple[object, ...]) -> None:
        self.roots = roots  # kept alive: the ids below stay valid
        self.weights = _payload_weights(dict(enumerate(roots)))
        self.shapes: dict[int, Shape] = {}  # filled lazily by cel_cost.shape_of


_last_facts: tuple[tuple[int, ...], _EventFacts] | None = None


def _facts_for(context: Mapping[str, Any]) -> _EventFacts:
    """Computed once per event (the last one is kept): matching one event against
    10,000 subscriptions weighs its payload once."""
    global _last_facts
    roots = tuple(v for v in context.values() if isinstance(v, (list, dict)))
    key = tuple(map(id, roots))
    cached = _last_facts
    if cached is not None and cached[0] == key:
        return cached[1]
    facts = _EventFacts(roots)
    _last_facts = (key, facts)
    return facts


_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("tako_cel_budget")


# Functions that do not read their arguments' contents (a length, an index, a type).
_CONSTANT_TIME = frozenset({"size", "type", "dyn", "_[_]", "_?_:_", "has"})


def _metered(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Any CEL function or operator, charged for the size of what it reads and builds.

    The charge is taken before the call, so a call that would read a huge value is
    stopped before it runs; results are weighed when the evaluator next sees them.
    """

    reads = name not in _CONSTANT_TIME
    # Concatenation copies references at C speed; the rest compare item by item.
    item_shift = 6 if name == "_+_" else 2

    def call(*args: Any) -> Any:
        budget = _BUDGET.get()
        if reads:
            steps = 0
            for arg in args:
                if isinstance(arg, (str, bytes)):
                    steps += len(arg) >> 6  # C speed: 64 characters a step
                elif isinstance(arg, (list, dict)):
                    # celpy compares and searches element by element in Python: an
                    # item costs about a quarter of a node visit
                    steps += budget.weight(arg) >> item_shift
            budget.charge(steps)
        result = function(*args)
        if (
            isinstance(result, (str, bytes))
            and len(result) > 64
            and not any(result is arg for arg in args)
        ):
            if len(result) > budget.limits.max_value_size:
                raise _Abort(
                    "max_value_size",
                    f"{name}() built a value of {len(result):,} characters, over the "
                    f"max_value_size limit of {budget.limits.max_value_size:,}",
                )
            budget.allocate(49 + len(result), f"{name}()")
        return result

    call.__name__ = getattr(function, "__name__", name)
    return call


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


def _body_error(macro: str, value: Any) -> CELEvalError:
    return CELEvalError(
        f"the condition of {macro}() gave {_cel_type_name(value)}, not bool", _Flat, ()
    )


def _type_error(op: str, *values: Any) -> CELEvalError:
    names = " and ".join(_cel_type_name(v) for v in values)
    return CELEvalError(f"no operator {op!r} for {names}", _Flat, ())


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


class CompiledFilter:
    """One filter, parsed and checked once; ``evaluate`` runs it against an event."""

    __slots__ = (
        "_activation",
        "_ast",
        "_memo",
        "_uses_subscriber",
        "_warnings",
        "limits",
        "source",
    )

    def __init__(
        self, source: str, ast: lark.Tree, limits: FilterLimits, uses_subscriber: bool
    ) -> None:
        self.source = source
        self.limits = limits
        self._ast = ast
        self._uses_subscriber = uses_subscriber
        self._warnings: list[FilterWarning] | None = None
        # Type names (``int``, ``string``...) are values too (``type(x) == int``): they
        # stay themselves; what they convert is already weighed, so bounded.
        functions: dict[str, Callable[..., Any]] = {
            name: function if isinstance(function, type) else _metered(name, function)
            for name, function in {
                **celpy.evaluation.base_functions,
                **_COMPARISONS,
                **_SEMVER_FUNCTIONS,
                **_STRING_FUNCTIONS,
                **_make_size_bounded(limits),
            }.items()
        }
        # Built once: celpy would otherwise rebuild it (with protobuf annotations we do
        # not use) for every evaluation.
        self._activation = Activation(functions=functions)
        # (event value, outcome) of the last evaluation: filters are pure, and matching
        # evaluates the same filter against the same event once per subscriber.
        self._memo: tuple[object, FilterOutcome] | None = None

    def __repr__(self) -> str:
        return f"CompiledFilter({self.source!r})"

    def evaluate(self, activation: Mapping[str, Any], *, memo: bool = True) -> FilterOutcome:
        """Run the filter; problems become ``FilterOutcome(False, reason, error=True)``.

        A filter is a pure function of its variables, so the outcome for the last
        ``event`` object is kept and reused (unless the filter reads ``subscriber``):
        matching one event against 10,000 subscriptions sharing a filter evaluates it
        once. ``memo=False`` always evaluates (benchmarks measure that). Do not mutate
        an event value between calls.
        """
        event = activation.get("event")
        last = self._memo
        if memo and last is not None and last[0] is event and not self._uses_subscriber:
            return last[1]
        try:
            context = {name: _to_cel(value) for name, value in activation.items()}
        except ValueError as exc:
            outcome = self._failed(f"the event cannot be given to CEL: {exc}")
        else:
            outcome = self._run(context)
        if event is not None and not self._uses_subscriber:
            self._memo = (event, replace(outcome, steps=0))  # a remembered outcome is free
        return outcome

    def _run(self, context: dict[str, Any]) -> FilterOutcome:
        budget = _Budget(self.limits, _facts_for(context))
        outcome = self._spend(context, budget)
        return replace(outcome, steps=max(budget.steps, 1))

    def _spend(self, context: dict[str, Any], budget: _Budget) -> FilterOutcome:
        token = _BUDGET.set(budget)
        try:
            value = _BoundedEvaluator(self._ast, self._activation, budget).evaluate(context)
        except CELEvalError as exc:
            return self._failed(_readable_eval_error(exc))
        except _Abort as exc:
            return self._failed(exc.message, exc.limit)
        except RecursionError:
            return self._failed("nested too deeply to evaluate", "max_depth")
        except MemoryError:  # pragma: no cover - guarded by max_value_size
            return self._failed("ran out of memory", "max_value_size")
        except Exception as exc:  # a bug in celpy must not crash a cascade
            return self._failed(f"internal error: {type(exc).__name__}: {str(exc)[:200]}")
        finally:
            _BUDGET.reset(token)
        if isinstance(value, CELEvalError):  # pragma: no cover - celpy raises these
            return self._failed(_readable_eval_error(value))
        if not isinstance(value, (bool, celtypes.BoolType)):
            return self._failed(f"the filter returned {_cel_type_name(value)}, not bool")
        if value:
            return FilterOutcome(True)
        return FilterOutcome(False, f"filter is false: {self.source}", detail="is false")

    def warnings(self) -> list[FilterWarning]:
        """Cost warnings for ``lint``: parts whose cost grows faster than the payload."""
        if self._warnings is None:
            self._warnings = _cost_warnings(self._ast, self.limits)
        return list(self._warnings)

    def _failed(self, why: str, limit: str | None = None) -> FilterOutcome:
        return FilterOutcome(
            False, f"filter {self.source!r} failed: {why}", True, limit, detail=f"failed: {why}"
        )


_CEL_VALUE_TYPES = (
    celtypes.BoolType,
    celtypes.IntType,
    celtypes.UintType,
    celtypes.DoubleType,
    celtypes.StringType,
    celtypes.BytesType,
    celtypes.ListType,
    celtypes.MapType,
    celtypes.TimestampType,
    celtypes.DurationType,
)


def _to_cel(value: Any) -> Any:
    """Accept plain JSON values in an activation as well as celpy ones."""
    if value is None or isinstance(value, _CEL_VALUE_TYPES):
        return value
    if isinstance(value, _Unusable):
        raise ValueError(value.reason)
    converted = _event_to_cel(value)
    if isinstance(converted, _Unusable):
        raise ValueError(converted.reason)
    return converted


_last_event: tuple[object, Any] | None = None


def activation_for(event: Event, subscriber: str) -> dict[str, Any]:
    """The variables a filter sees: ``event`` and ``subscriber``.

    The event is converted to CEL values once per Event object, so matching one
    event against 10,000 subscriptions converts its payload once.
    """
    global _last_event
    cached = _last_event
    if cached is not None and cached[0] is event:
        event_value = cached[1]
    else:
        event_value = _event_to_cel(event.to_json())
        _last_event = (event, event_value)
    return {"event": event_value, "subscriber": celtypes.StringType(subscriber)}


class _Unusable:
    """Stands in for an event CEL cannot take; every filter then fails with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _event_to_cel(data: Any) -> Any:
    try:
        return celpy.json_to_cel(data)
    except RecursionError:
        return _Unusable("the payload is nested too deeply")
    except (TypeError, ValueError) as exc:
        return _Unusable(str(exc))


# --------------------------------------------------------------------------- compiling

_ENVIRONMENT: celpy.Environment | None = None


def _environment() -> celpy.Environment:
    # Building the LALR parser takes ~0.1 s: once per process, and only when needed.
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        # celpy sets the recursion limit to 2500 outright; never lower one already higher.
        before = sys.getrecursionlimit()
        _ENVIRONMENT = celpy.Environment()
        sys.setrecursionlimit(max(before, sys.getrecursionlimit()))
    return _ENVIRONMENT


def compile_filter(source: str, limits: FilterLimits = DEFAULT_LIMITS) -> CompiledFilter:
    """Parse and check ``source`` once per process; raises FilterError.

    The same (source, limits) always gives the same CompiledFilter object. Failures
    are not cached (they are rare and cheap: the length cap bounds the parse).
    """
    return _compile_cached(source, limits)


@functools.lru_cache(maxsize=65536)
def _compile_cached(source: str, limits: FilterLimits) -> CompiledFilter:
    if not isinstance(source, str):
        raise FilterError(
            f"a filter must be a CEL expression string, not {type(source).__name__}",
            hint="quote it in YAML, e.g. - 'event.payload.build_status == \"success\"'",
        )
    if not source.strip():
        raise FilterError("the filter is empty", hint="write a CEL expression such as true")
    if len(source) > limits.max_length:
        raise FilterError(
            f"the filter is {len(source):,} characters long, over the max_length limit of "
            f"{limits.max_length:,}",
            "max_length",
            hint="split it into several filters (all must be true)",
        )
    ast = _rebalance(_parse(source))
    _check_size(ast, limits)
    uses_subscriber = _check_names(ast)
    _check_result_type(ast)
    return CompiledFilter(source, _collapse(ast), limits, uses_subscriber)


def _parse(source: str) -> lark.Tree:
    try:
        return _environment().compile(source)
    except CELParseError as exc:
        raise FilterError(
            f"the filter does not parse: {_describe_parse_error(exc)}",
            line=exc.line or 0,
            column=exc.column or 0,
            hint="check for a missing operand, quote or parenthesis at that position",
        ) from None
    except RecursionError:  # pragma: no cover - the LALR parser is not recursive
        raise FilterError("the filter is nested too deeply", "max_depth") from None


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
    hint = "see docs/filters.md for the functions available"
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
                hint="see docs/filters.md for the functions available",
            )
        return
    raise FilterError(
        f"unknown method .{name}()",
        **_token_position(node.children[1]),
        hint="see docs/filters.md for the functions available",
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


# --------------------------------------------------------------------------- lint costs

# A macro is stopped before it starts when its estimated worst case is this many times
# the steps left (the estimate counts every element and overcounts a little).
OVER_BUDGET_FACTOR = 8
LINT_LIST_SIZE = 1000  # payload list length assumed by lint's growth warnings
# ... and by its "over the budget" warning: a comprehension whose condition is so costly
# that even 100 elements exceed the step budget (1,000 would flag ordinary filters).
LINT_BUDGET_LIST_SIZE = 100


@dataclass(frozen=True)
class FilterWarning:
    """A costly construct in a filter, at (line, column) inside the expression."""

    message: str
    line: int = 0
    column: int = 0
    hint: str = ""


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
                "exists() with a cheap condition; see docs/filters.md",
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
            "smaller list; see docs/filters.md",
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
