"""Versions and ranges (docs/tako-yml.md). Versions via ``semver``; the range grammar is ours.

INTERFACE (agreed):
    parse_version(text) -> semver.Version   # "1" -> 1.0.0, "1.2" -> 1.2.0, "v1.2.3" ok
    parse_range(text) -> VersionRange       # raises RangeError(message with a hint)
    VersionRange.contains(version: str | semver.Version) -> bool
    VersionRange.text                       # the source text
Forms: intervals ``[1.0.0...2.0.0)`` ``(1.1.0...2.0.0]``; comparators
``>=1.2.0 <2.0.0``; caret ``^1.2``; tilde ``~1.2.3``; wildcards ``1.x`` ``*``;
unions ``||``; partial versions; pre-releases by semver ordering.

Added (compatible): ``VersionError`` / ``RangeError`` carry ``.reason`` and ``.hint``
(and ``RangeError.column``, 1-based, 0 when unknown) so a diagnostic can show them
apart; ``VersionRange.describe()`` gives the canonical comparator form
(``^1.2`` -> ``>=1.2.0 <2.0.0-0``); ``version_key()`` exposes the precedence key.

Semantics (documented in docs/filters.md too):

* Every comparison is semver precedence (build metadata ignored, a pre-release
  precedes its release). So ``1.1.0-beta`` is inside ``[1.0.0...2.0.0)`` and inside
  ``^1.0.0``, and ``<2.0.0`` admits ``2.0.0-rc.1``.
* A *partial* version names a series: ``1.2`` (= ``1.2.x``) is every version from
  ``1.2.0`` up to, not including, the first pre-release of ``1.3.0`` (``1.3.0-0``).
  Comparators act on that series: ``>=1.2`` = ``>=1.2.0``, ``<2`` = ``<2.0.0``,
  ``<=1.2`` = ``<1.3.0-0``, ``>1.2`` = ``>=1.3.0-0``, ``=1.2`` = ``1.2.x``.
* Caret, tilde and wildcard upper bounds stop before the next series' pre-releases:
  ``^1.0.0`` = ``>=1.0.0 <2.0.0-0`` (a ``2.0.0-rc.1`` is a 2.x version, not a 1.x one).
  ``^0.x`` follows npm: ``^0.2.3`` = ``>=0.2.3 <0.3.0-0``, ``^0.0.3`` = ``>=0.0.3 <0.0.4-0``.
* Interval ends are exact points; partial ones are padded with zeros
  (``[1...2)`` = ``[1.0.0...2.0.0)``). An end may be omitted: ``[1.0.0...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import semver

__all__ = [
    "RangeError",
    "VersionError",
    "VersionRange",
    "parse_range",
    "parse_version",
    "quote_short",
    "version_key",
]

RANGE_HINT = (
    "write a range like '^1.2', '~1.2.3', '>=1.2.0 <2.0.0', '[1.0.0...2.0.0)', '1.x' "
    "or '*', and join alternatives with '||'"
)
VERSION_HINT = "write MAJOR.MINOR.PATCH like '1.4.2' ('1', '1.4', 'v1.4.2', '1.4.2-rc.1' work too)"

# A precedence key: (major, minor, patch, is_release, prerelease identifiers).
# Tuple comparison then *is* semver precedence: a release (1) sorts after any of its
# pre-releases (0); identifiers compare numeric-before-alphanumeric, and a longer list
# wins when the shorter one is a prefix -- exactly semver §11.
Key = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


# Numbers in versions and ranges: at most 19 digits (they fit in 64 bits). A longer one
# is refused with its column before anything converts it (Python refuses to convert
# more than 4,300 digits at all; that used to surface as an internal error).
MAX_NUMBER_DIGITS = 19
_LONG_NUMBER_RE = re.compile(rf"\d{{{MAX_NUMBER_DIGITS + 1},}}")
NUMBER_HINT = f"version numbers have at most {MAX_NUMBER_DIGITS} digits"


def quote_short(text: str, width: int = 60) -> str:
    """``text`` quoted for a message; a long one shows its start and its length."""
    if len(text) <= width:
        return repr(text)
    return repr(text[:width]) + f"... ({len(text):,} characters)"


def _long_number(text: str) -> re.Match[str] | None:
    return _LONG_NUMBER_RE.search(text)


def _number_reason(match: re.Match[str], column: bool = True) -> str:
    where = f" at column {match.start() + 1}" if column else ""
    return f"a number of {len(match[0]):,} digits{where} is too large (at most " \
        f"{MAX_NUMBER_DIGITS})"


class VersionError(ValueError):
    """A version string that is not semver (even after filling in a partial one)."""

    def __init__(self, reason: str, hint: str = VERSION_HINT) -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(f"{reason}; hint: {hint}")


class RangeError(ValueError):
    """A version range that does not parse, or that can match no version."""

    def __init__(self, text: str, reason: str, hint: str = RANGE_HINT, column: int = 0) -> None:
        self.text = text
        self.reason = reason
        self.hint = hint
        self.column = column
        where = f" (column {column})" if column else ""
        super().__init__(
            f"invalid version range {quote_short(text)}: {reason}{where}; hint: {hint}"
        )


# --------------------------------------------------------------------------- versions

_PARTIAL_RE = re.compile(
    r"""^[vV]?
    (?P<major>0|[1-9]\d*|[xX*])
    (?:\.(?P<minor>0|[1-9]\d*|[xX*]))?
    (?:\.(?P<patch>0|[1-9]\d*|[xX*]))?
    (?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?
    (?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$""",
    re.VERBOSE,
)


def parse_version(text: str | int | float | semver.Version) -> semver.Version:
    """Parse ``text`` as semver; ``"1"`` -> 1.0.0, ``"1.2"`` -> 1.2.0, ``"v1.2.3"`` ok."""
    if isinstance(text, semver.Version):
        return text
    if text is None or isinstance(text, bool):
        raise VersionError(f"expected a version, got {text!r}")
    return _parse_version_cached(str(text).strip())


@lru_cache(maxsize=4096)
def _parse_version_cached(text: str) -> semver.Version:
    if not text:
        raise VersionError("empty version")
    long_number = _long_number(text)
    if long_number:
        raise VersionError(f"{quote_short(text)}: {_number_reason(long_number)}", NUMBER_HINT)
    body = text[1:] if text[:1] in ("v", "V") else text
    match = _PARTIAL_RE.match(body)
    if match and any(match[g] in ("x", "X", "*") for g in ("major", "minor", "patch")):
        raise VersionError(
            f"{quote_short(text)} is a wildcard, not a version",
            "a single version is needed here; wildcards belong in ranges",
        )
    try:
        return semver.Version.parse(body, optional_minor_and_patch=True)
    except (ValueError, TypeError):
        pass
    reason = f"{quote_short(text)} is not a semantic version"
    if re.search(r"(^|\.)0\d", body.split("-")[0].split("+")[0]):
        reason += " (numbers must not have leading zeros)"
    raise VersionError(reason)


def version_key(version: str | semver.Version) -> Key:
    """The semver precedence key of ``version`` (raises VersionError)."""
    if isinstance(version, semver.Version):
        return _key_of(version)
    if not isinstance(version, str):
        if version is None:
            raise VersionError("no version given (the event has no schema_version)")
        version = str(version)
    return _key_of_text(version)


@lru_cache(maxsize=16384)
def _key_of_text(text: str) -> Key:
    return _key_of(parse_version(text))


def _key_of(v: semver.Version) -> Key:
    if v.prerelease is None:
        return (v.major, v.minor, v.patch, 1, ())
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in str(v.prerelease).split("."))
    return (v.major, v.minor, v.patch, 0, ids)


def _floor(major: int, minor: int, patch: int) -> Key:
    """``M.m.p-0``: the lowest version of the ``M.m.p`` line (its first pre-release)."""
    return (major, minor, patch, 0, ((0, 0),))


def _release(major: int, minor: int, patch: int) -> Key:
    return (major, minor, patch, 1, ())


def _key_text(key: Key) -> str:
    major, minor, patch, is_release, ids = key
    text = f"{major}.{minor}.{patch}"
    if not is_release:
        text += "-" + ".".join(str(v) for _, v in ids)
    return text


# --------------------------------------------------------------------------- ranges


class Bound(NamedTuple):
    key: Key
    inclusive: bool


class Span(NamedTuple):
    """One conjunction of a union: lo <= v <= hi (ends optional), minus exclusions."""

    lo: Bound | None
    hi: Bound | None
    excluded: tuple[tuple[Bound | None, Bound | None], ...] = ()

    def admits(self, key: Key) -> bool:
        lo, hi = self.lo, self.hi
        if lo is not None and (key < lo.key or (key == lo.key and not lo.inclusive)):
            return False
        if hi is not None and (key > hi.key or (key == hi.key and not hi.inclusive)):
            return False
        return not any(_within(key, a, b) for a, b in self.excluded)

    def is_empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        if self.lo.key != self.hi.key:
            return self.lo.key > self.hi.key
        return not (self.lo.inclusive and self.hi.inclusive)

    def describe(self) -> str:
        parts = []
        # '=' only for [v...v]; (v...v) is empty and shown as its two bounds.
        if self.lo is not None and self.lo == self.hi and self.lo.inclusive:
            parts.append("=" + _key_text(self.lo.key))
        else:
            if self.lo is not None:
                parts.append((">=" if self.lo.inclusive else ">") + _key_text(self.lo.key))
            if self.hi is not None:
                parts.append(("<=" if self.hi.inclusive else "<") + _key_text(self.hi.key))
        for a, b in self.excluded:
            inner = Span(a, b).describe()
            parts.append("!" + inner if inner.startswith("=") else f"!({inner})")
        return " ".join(parts) or "*"


def _within(key: Key, lo: Bound | None, hi: Bound | None) -> bool:
    if lo is not None and (key < lo.key or (key == lo.key and not lo.inclusive)):
        return False
    return not (hi is not None and (key > hi.key or (key == hi.key and not hi.inclusive)))


@dataclass(frozen=True)
class VersionRange:
    """A parsed range: immutable, hashable, ``contains()`` is a few tuple compares."""

    text: str
    spans: tuple[Span, ...] = field(compare=False, repr=False)

    def contains(self, version: str | semver.Version) -> bool:
        """Whether ``version`` is in the range (raises VersionError if it is not semver)."""
        key = version_key(version)
        return any(span.admits(key) for span in self.spans)

    def __contains__(self, version: str | semver.Version) -> bool:
        return self.contains(version)

    @property
    def is_any(self) -> bool:
        return any(s.lo is None and s.hi is None and not s.excluded for s in self.spans)

    def describe(self) -> str:
        """Canonical comparator form, e.g. ``^1.2`` -> ``>=1.2.0 <2.0.0-0``."""
        return " || ".join(span.describe() for span in self.spans)

    def __str__(self) -> str:
        return self.text


class _Partial(NamedTuple):
    """A version with possibly missing/wildcard parts (None), e.g. ``1.2`` or ``1.x``."""

    major: int | None
    minor: int | None
    patch: int | None
    pre: str | None
    text: str

    @property
    def is_full(self) -> bool:
        return self.patch is not None

    def point(self) -> Key:
        """The version itself; a partial one padded with zeros (for interval ends)."""
        if self.is_full:
            return _key_of_text(self.text)
        return _release(self.major or 0, self.minor or 0, 0)

    def series(self) -> tuple[Bound | None, Bound | None]:
        """The versions this names: exact when full, else [X.Y.0 ... next series-0)."""
        if self.major is None:
            return None, None
        if self.is_full:
            key = self.point()
            return Bound(key, True), Bound(key, True)
        if self.minor is None:
            return (
                Bound(_release(self.major, 0, 0), True),
                Bound(_floor(self.major + 1, 0, 0), False),
            )
        return (
            Bound(_release(self.major, self.minor, 0), True),
            Bound(_floor(self.major, self.minor + 1, 0), False),
        )


_OP_RE = re.compile(r"(>=|<=|!=|==|=|>|<|\^|~>|~)?\s*")
_SEP_RE = re.compile(r"[\s,]+")
_INTERVAL_RE = re.compile(
    r"(?P<open>[\[(])\s*(?P<lo>[^\s,\[\]()]*?)\s*(?P<sep>\.\.\.|,)\s*"
    r"(?P<hi>[^\s,\[\]()]*)\s*(?P<close>[\])])"
)
_HYPHEN_RE = re.compile(r"^(?P<lo>\S+)\s+-\s+(?P<hi>\S+)$")
_TOKEN_END_RE = re.compile(r"[\s,]|$")


def parse_range(text: str) -> VersionRange:
    """Parse a range (see module doc); raises RangeError naming the problem + a hint."""
    if not isinstance(text, str):
        if text is None or isinstance(text, bool):
            raise RangeError(str(text), "expected a range string", "quote the range in YAML")
        text = str(text)
    return _parse_range_cached(text.strip())


@lru_cache(maxsize=4096)
def _parse_range_cached(text: str) -> VersionRange:
    if not text:
        raise RangeError(text, "the range is empty", "use '*' to accept any version")
    long_number = _long_number(text)
    if long_number:
        raise RangeError(text, _number_reason(long_number, column=False), NUMBER_HINT,
                         column=long_number.start() + 1)
    spans: list[Span] = []
    offset = 0
    for part in text.split("||"):
        column = offset + len(part) - len(part.lstrip()) + 1
        spans.append(_parse_alternative(text, part.strip(), column))
        offset += len(part) + 2
    return VersionRange(text, tuple(spans))


def _parse_alternative(text: str, alt: str, column: int) -> Span:
    if not alt:
        raise RangeError(text, "an alternative of '||' is empty", column=column)
    if "|" in alt:
        raise RangeError(
            text,
            "a single '|' is not an operator",
            "join alternatives with '||'",
            column + alt.index("|"),
        )
    hyphen = _HYPHEN_RE.match(alt)
    if hyphen:
        lo = _partial(text, hyphen["lo"], column)
        hi = _partial(text, hyphen["hi"], column + hyphen.start("hi"))
        span = Span(lo.series()[0], hi.series()[1])
    else:
        span = _conjunction(text, alt, column)
    if span.is_empty():
        raise RangeError(
            text,
            f"{alt!r} can match no version ({span.describe()})",
            "check the order of the bounds",
            column,
        )
    return span


def _conjunction(text: str, alt: str, column: int) -> Span:
    lo: Bound | None = None
    hi: Bound | None = None
    excluded: list[tuple[Bound | None, Bound | None]] = []
    pos = 0
    while pos < len(alt):
        sep = _SEP_RE.match(alt, pos)
        if sep:
            pos = sep.end()
            continue
        if alt[pos] in "[(":
            t_lo, t_hi, pos = _interval(text, alt, pos, column)
        else:
            op_match = _OP_RE.match(alt, pos)
            assert op_match is not None  # the pattern can match the empty string
            op = op_match[1] or "="
            end = _TOKEN_END_RE.search(alt, op_match.end()).start()  # type: ignore[union-attr]
            token = alt[op_match.end() : end]
            if not token:
                raise RangeError(
                    text, f"operator {op!r} has no version after it", column=column + pos
                )
            partial = _partial(text, token, column + op_match.end())
            if op == "!=":
                excluded.append(_exclusion(text, partial, column + pos))
                pos = end
                continue
            t_lo, t_hi = _comparator(text, op, partial, column + pos)
            pos = end
        lo = _tighter(lo, t_lo, lower=True)
        hi = _tighter(hi, t_hi, lower=False)
    return Span(lo, hi, tuple(excluded))


def _interval(text: str, alt: str, pos: int, column: int) -> tuple[Bound | None, Bound | None, int]:
    match = _INTERVAL_RE.match(alt, pos)
    if match is None:
        close = "]" if "]" in alt[pos:] else ")" if ")" in alt[pos:] else ""
        reason = "an interval is not closed" if not close else "an interval is malformed"
        if ".." in alt[pos:] and "..." not in alt[pos:]:
            reason = "an interval needs '...' between its ends"
        hint = "write intervals like '[1.0.0...2.0.0)' or '(1.1.0...2.0.0]'"
        raise RangeError(text, reason, hint, column + pos)
    lo_text, hi_text = match["lo"] or "", match["hi"] or ""
    if not lo_text and not hi_text:
        raise RangeError(
            text,
            "an interval needs at least one end",
            "write '[1.0.0...)' or '(...2.0.0]', or '*' for any version",
            column + pos,
        )
    lo = hi = None
    if lo_text:
        point = _partial(text, lo_text, column + match.start("lo")).point()
        lo = Bound(point, match["open"] == "[")
    elif match["open"] == "[":
        raise RangeError(
            text,
            "an interval with no lower end must start with '('",
            "write '(...2.0.0]'",
            column + pos,
        )
    if hi_text:
        point = _partial(text, hi_text, column + match.start("hi")).point()
        hi = Bound(point, match["close"] == "]")
    elif match["close"] == "]":
        raise RangeError(
            text,
            "an interval with no upper end must end with ')'",
            "write '[1.0.0...)'",
            column + match.start("close"),
        )
    return lo, hi, match.end()


def _partial(text: str, token: str, column: int) -> _Partial:
    match = _PARTIAL_RE.match(token)
    if match is None:
        reason = f"{token!r} is not a version"
        hint = RANGE_HINT
        if re.match(r"^[vV]?\d+(\.\d+)*\.$", token):
            reason = f"{token!r} ends with a dot"
        elif re.search(r"(^|\.)0\d", token):
            reason = f"{token!r} has a number with a leading zero"
        elif re.match(r"^[vV]?\d+(\.\d+){3,}", token):
            reason = f"{token!r} has more than three numbers"
        elif token[:1] in "<>=!^~":
            reason = f"{token!r} has a malformed operator"
            hint = "operators are =, !=, >, >=, <, <=, ^ and ~"
        raise RangeError(text, reason, hint, column)
    parts: list[int | None] = []
    for name in ("major", "minor", "patch"):
        value = match[name]
        parts.append(None if value is None or value in "xX*" else int(value))
    major, minor, patch = parts
    if (major is None and (minor is not None or patch is not None)) or (
        minor is None and patch is not None
    ):
        raise RangeError(
            text,
            f"{token!r} has a number after a wildcard",
            "after 'x' or '*' every later part must be a wildcard too, e.g. '1.x'",
            column,
        )
    if match["pre"] is not None and patch is None:
        raise RangeError(
            text,
            f"{token!r}: a pre-release needs a full version like 1.2.0-rc.1",
            "for a hyphen range put spaces around '-': '1.2 - 2.3'",
            column,
        )
    if patch is not None:
        try:
            parse_version(token)
        except VersionError as exc:
            raise RangeError(text, exc.reason, VERSION_HINT, column) from None
    return _Partial(major, minor, patch, match["pre"], token)


def _comparator(text: str, op: str, v: _Partial, column: int) -> tuple[Bound | None, Bound | None]:
    """The (lower, upper) bounds of one comparator/caret/tilde term."""
    lo, hi = v.series()
    if op in ("=", "=="):
        return lo, hi
    if op == ">=":
        return lo, None
    if op == "<=":
        return None, hi
    if op in (">", "<"):
        if v.major is None:
            raise RangeError(text, f"'{op}{v.text}' can match no version", RANGE_HINT, column)
        if op == ">":
            assert hi is not None
            return Bound(hi.key, not hi.inclusive), None
        assert lo is not None
        return None, Bound(lo.key, not lo.inclusive)
    if op == "^":
        return _caret(v)
    return _tilde(v)  # "~" and "~>"


def _caret(v: _Partial) -> tuple[Bound | None, Bound | None]:
    """npm caret: allow changes that do not modify the left-most non-zero part."""
    if v.major is None:
        return None, None
    lo = Bound(v.point(), True)
    if v.major > 0 or v.minor is None:
        return lo, Bound(_floor(v.major + 1, 0, 0), False)
    if v.minor > 0 or v.patch is None:
        return lo, Bound(_floor(0, v.minor + 1, 0), False)
    return lo, Bound(_floor(0, 0, v.patch + 1), False)


def _tilde(v: _Partial) -> tuple[Bound | None, Bound | None]:
    """``~1.2.3`` and ``~1.2``: patch changes only; ``~1``: minor changes too."""
    if v.major is None:
        return None, None
    lo = Bound(v.point(), True)
    if v.minor is None:
        return lo, Bound(_floor(v.major + 1, 0, 0), False)
    return lo, Bound(_floor(v.major, v.minor + 1, 0), False)


def _exclusion(text: str, v: _Partial, column: int) -> tuple[Bound | None, Bound | None]:
    if v.major is None:
        raise RangeError(text, f"'!={v.text}' excludes every version", RANGE_HINT, column)
    return v.series()


def _tighter(current: Bound | None, new: Bound | None, *, lower: bool) -> Bound | None:
    """Intersect two lower (or two upper) bounds: keep the more restrictive one."""
    if current is None:
        return new
    if new is None:
        return current
    if current.key != new.key:
        if lower:
            return current if current.key > new.key else new
        return current if current.key < new.key else new
    return current if not current.inclusive else new
