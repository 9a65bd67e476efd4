"""The function table of CEL filters: our functions and size-bounded operators.

Owns the functions a filter may call beyond celpy's (semver, the strings extension),
the replacements for celpy operators whose result could blow up in one step (``+``,
``*``, ``[]``, ``replace``, ``join``, ``matches`` on RE2 with its work bounded), the
user-facing list ``FUNCTIONS`` and the name sets the compile-time checks use (which
names are functions, methods, macros and type names).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import celpy
import celpy.evaluation
import re2
from celpy import celtypes
from celpy.evaluation import CELEvalError

from tako_gha.core.cel.errors import _cel_type_name, _Flat
from tako_gha.core.cel.limits import FilterLimits, _Abort
from tako_gha.core.links import doc_url
from tako_gha.core.versions import RangeError, VersionError, parse_range, parse_version


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
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except UnicodeEncodeError:  # '\uD800' in a CEL string: RE2 reads UTF-8 only
        raise re2.error("the pattern holds a lone surrogate, which is not Unicode") from None


def _re2_message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else "invalid"
    return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)


def _check_cap(size: int, cap: int, what: str) -> None:
    if size > cap:
        raise _Abort(
            "max_value_size",
            f"{what} would build a value of {size:,} items, over the max_value_size "
            f"limit of {cap:,}",
        )


def _size_checked_operators(cap: int) -> dict[str, Callable[..., Any]]:
    """``+``, ``*`` and ``[]`` as CEL has them, concatenation checked against the cap."""

    def add(left: Any, right: Any) -> Any:
        if isinstance(left, (str, bytes, list)) and isinstance(right, (str, bytes, list)):
            _check_cap(len(left) + len(right), cap, "'+'")
        return celpy.evaluation.base_functions["_+_"](left, right)

    def multiply(left: Any, right: Any) -> Any:
        # Python would repeat a string or list ("ab" * 10**9); CEL has no such overload.
        if isinstance(left, (str, bytes, list)) or isinstance(right, (str, bytes, list)):
            raise TypeError(f"no '*' for {_cel_type_name(left)} and {_cel_type_name(right)}")
        return celpy.evaluation.base_functions["_*_"](left, right)

    def index(container: Any, key: Any) -> Any:
        # Python would count from the end (l[-1] is the last item); CEL has no such thing.
        if isinstance(container, list) and _is_int(key) and int(key) < 0:
            return CELEvalError(f"list index {int(key)} is out of range", _Flat, ())
        return celpy.evaluation.base_functions["_[_]"](container, key)

    return {"_+_": add, "_*_": multiply, "_[_]": index}


def _size_checked_strings(cap: int) -> dict[str, Callable[..., Any]]:
    """``replace`` and ``join``, their result's size checked before it is built."""

    @_cel_function("replace")
    def replace(text: object, old: object, new: object, limit: object = -1) -> Any:
        value = _str_arg("replace", text)
        old_s, new_s = _str_arg("replace", old), _str_arg("replace", new)
        if not _is_int(limit):
            raise TypeError(f"replace expects an int limit, got {_cel_type_name(limit)}")
        hits = value.count(old_s) if old_s else len(value) + 1
        if int(limit) >= 0:
            hits = min(hits, int(limit))
        _check_cap(len(value) + hits * (len(new_s) - len(old_s)), cap, "replace()")
        return celtypes.StringType(value.replace(old_s, new_s, int(limit)))

    @_cel_function("join")
    def join(items: object, separator: object = "") -> Any:
        if not isinstance(items, list):
            raise TypeError(f"join expects a list of strings, got {_cel_type_name(items)}")
        sep = _str_arg("join", separator, "a string separator")
        parts = [_str_arg("join", item, "a list of strings") for item in items]
        _check_cap(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), cap, "join()")
        return celtypes.StringType(sep.join(parts))

    return {"replace": replace, "join": join}


def _bounded_matches(max_work: int) -> Callable[..., Any]:
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
        if work > max_work:
            raise _Abort(
                "max_match_work",
                f"matches() of a {compiled.programsize:,}-instruction pattern over "
                f"{len(text):,} characters would cost {work:,}, over the max_match_work "
                f"limit of {max_work:,}",
            )
        return celtypes.BoolType(compiled.search(str(text)) is not None)

    return matches


def _make_size_bounded(limits: FilterLimits) -> dict[str, Callable[..., Any]]:
    """Functions whose result size depends on their input: checked before building."""
    return {
        **_size_checked_operators(limits.max_value_size),
        **_size_checked_strings(limits.max_value_size),
        "matches": _bounded_matches(limits.max_match_work),
    }


# User-visible functions beyond standard CEL (docs/filters.md lists the same).
FUNCTIONS: dict[str, str] = {
    "semver.major(v)": "major version of v as an int ('2.1.0' -> 2)",
    "semver.minor(v)": "minor version of v as an int",
    "semver.patch(v)": "patch version of v as an int",
    "semver.compare(a, b)": "-1, 0 or 1 by semver precedence",
    "semver.satisfies(v, range)": "whether v is inside a range such as '^1.2' ("
                                  + doc_url("tako-yml.md") + ")",
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
# Type conversions: called as functions (``string(x)``) they read and build values, so
# the evaluator charges them where it calls them (they stay types in the function table:
# the same names are values too, ``type(x) == string``).
_CONVERSIONS = frozenset(
    {"bool", "bytes", "double", "duration", "int", "string", "timestamp", "uint"}
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
