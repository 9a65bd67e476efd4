"""Version ranges (docs/tako-yml.md): a table of (range, version, expected) plus invalid ranges."""

from __future__ import annotations

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st

from tako_gha.core.versions import (
    RangeError,
    VersionError,
    VersionRange,
    parse_range,
    parse_version,
    version_key,
)

# (range, version, expected). Pre-releases follow semver precedence everywhere;
# caret/tilde/wildcard/partial upper bounds stop before the next series' pre-releases.
CASES: list[tuple[str, str, bool]] = [
    # interval notation, closed/open ends
    ("[1.0.0...2.0.0)", "1.0.0", True),
    ("[1.0.0...2.0.0)", "1.9.9", True),
    ("[1.0.0...2.0.0)", "2.0.0", False),
    ("[1.0.0...2.0.0)", "0.9.9", False),
    ("[1.0.0...2.0.0)", "1.1.0-beta", True),  # between 1.0.0 and 1.1.0 by precedence
    ("[1.0.0...2.0.0)", "2.0.0-rc.1", True),  # precedes 2.0.0: explicit ends are exact
    ("[1.0.0...2.0.0)", "1.0.0-rc.1", False),  # precedes 1.0.0
    ("(1.1.0...2.0.0]", "1.1.0", False),
    ("(1.1.0...2.0.0]", "1.1.1", True),
    ("(1.1.0...2.0.0]", "2.0.0", True),
    ("(1.1.0...2.0.0]", "2.0.1", False),
    ("(1.1.0...2.0.0]", "1.1.0+build.5", False),  # build metadata ignored
    ("[1.0.0...1.0.0]", "1.0.0", True),
    ("[1.0.0...)", "99.0.0", True),
    ("[1.0.0...)", "0.99.0", False),
    ("(...2.0.0]", "0.0.1", True),
    ("(...2.0.0)", "2.0.0", False),
    ("[1...2)", "1.0.0", True),  # partial interval ends are padded with zeros
    ("[1...2)", "2.0.0", False),
    ("[1.0,2.0)", "1.5.0", True),  # Maven-style comma accepted
    ("[ 1.0.0 ... 2.0.0 ]", "2.0.0", True),
    # comparators, space- or comma-separated AND
    (">=1.2.0 <2.0.0", "1.2.0", True),
    (">=1.2.0 <2.0.0", "1.1.9", False),
    (">=1.2.0 <2.0.0", "2.0.0", False),
    (">=1.2.0 <2.0.0", "2.0.0-rc.1", True),  # full version: pure precedence
    (">=1.2.0, <2.0.0", "1.5.0", True),
    (">= 1.2.0 < 2.0.0", "1.5.0", True),
    (">1.2.0", "1.2.0", False),
    (">1.2.0", "1.2.1-alpha", True),
    ("<=1.2.0", "1.2.0", True),
    ("<1.2.0", "1.2.0-beta", True),
    ("=1.2.3", "1.2.3", True),
    ("==1.2.3", "1.2.4", False),
    ("1.2.3", "1.2.3+build", True),
    ("1.2.3", "v1.2.3", True),
    ("!=1.5.0", "1.5.0", False),
    ("!=1.5.0", "1.5.1", True),
    (">=1 !=1.5", "1.5.7", False),
    (">=1 !=1.5", "1.6.0", True),
    # partial versions in comparators
    (">=1.2", "1.2.0", True),
    (">=1.2", "1.2.0-beta", False),
    ("<2", "1.99.99", True),
    ("<2", "2.0.0", False),
    ("<=1.2", "1.2.99", True),
    ("<=1.2", "1.3.0-alpha", False),
    (">1.2", "1.2.99", False),
    (">1.2", "1.3.0", True),
    ("=1.2", "1.2.7", True),
    ("=1.2", "1.3.0", False),
    ("1", "1.9.0", True),
    # caret (npm semantics, including 0.x)
    ("^1.2", "1.2.0", True),
    ("^1.2", "1.9.0", True),
    ("^1.2", "2.0.0", False),
    ("^1.0.0", "1.1.0-beta", True),  # a 1.x pre-release is inside ^1.0.0
    ("^1.0.0", "2.0.0-rc.1", False),  # ... but a 2.0.0 pre-release is not
    ("^1.2.3", "1.2.2", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^0", "0.9.0", True),
    ("^1.2.3-beta.2", "1.2.3-beta.3", True),
    ("^1.2.3-beta.2", "1.2.3-beta.1", False),
    ("^1.x", "1.0.0", True),
    ("^*", "7.0.0-beta", True),
    # tilde
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2.3", "1.2.2", False),
    ("~1.2", "1.2.0", True),
    ("~1.2", "1.3.0-0", False),
    ("~1", "1.9.9", True),
    ("~1", "2.0.0", False),
    ("~>1.2.0", "1.2.5", True),
    ("~*", "0.1.0", True),
    # wildcards
    ("*", "0.0.1", True),
    ("*", "3.0.0-alpha", True),
    ("x", "12.0.0", True),
    ("1.x", "1.4.0", True),
    ("1.x", "2.0.0", False),
    ("1.X.x", "1.0.0", True),
    ("1.2.*", "1.2.99", True),
    ("1.2.*", "1.3.0", False),
    ("1.2.x", "1.2.0-rc.1", False),
    # hyphen ranges
    ("1.2 - 2.3", "1.2.0", True),
    ("1.2 - 2.3", "2.3.9", True),
    ("1.2 - 2.3", "2.4.0", False),
    ("1.2.3 - 2.3.4", "2.3.4", True),
    ("1.2.3 - 2.3.4", "2.3.5", False),
    # unions
    ("^1 || ^3", "1.5.0", True),
    ("^1 || ^3", "2.5.0", False),
    ("^1 || ^3", "3.0.0", True),
    ("[1.0.0...1.1.0) || (2.0.0...3.0.0]", "2.0.0", False),
    ("[1.0.0...1.1.0) || (2.0.0...3.0.0]", "3.0.0", True),
    ("1.2.3 || >=2.0.0 <2.1.0", "2.0.5", True),
    ("1.2.3 || >=2.0.0 <2.1.0", "1.2.4", False),
    # pre-release ordering details
    (">1.0.0-alpha", "1.0.0-alpha.1", True),
    (">1.0.0-alpha.1", "1.0.0-alpha.beta", True),
    (">1.0.0-beta.2", "1.0.0-beta.11", True),  # numeric identifiers compare as numbers
    ("<1.0.0-rc.1", "1.0.0-beta.11", True),
    ("<1.0.0", "1.0.0-rc.1", True),
    # partial candidate versions are padded
    (">=1.2.0", "1.2", True),
    ("^2", "2", True),
]


@pytest.mark.parametrize(("text", "version", "expected"), CASES)
def test_range_table(text: str, version: str, expected: bool) -> None:
    assert parse_range(text).contains(version) is expected


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert sum(1 for _, v, _ in CASES if "-" in v) >= 10  # pre-releases well covered


# (range, words the message must contain)
INVALID: list[tuple[str, str]] = [
    ("", "empty"),
    ("   ", "empty"),
    (">=", "no version after it"),
    ("1.2.3.4", "more than three numbers"),
    ("[1.0.0..2.0.0)", "'...'"),
    ("[1.0.0...2.0.0", "not closed"),
    ("[...)", "at least one end"),
    ("[...2.0.0)", "must start with '('"),
    ("[1.0.0...]", "must end with ')'"),
    (">2 <1", "can match no version"),
    ("[2.0.0...1.0.0]", "can match no version"),
    ("(1.0.0...1.0.0]", "can match no version"),
    ("1.x.3", "number after a wildcard"),
    ("foo", "'foo' is not a version"),
    ("^1 |", "single '|'"),
    ("^1 ||", "empty"),
    ("|| ^1", "empty"),
    ("01.2", "leading zero"),
    ("1.2-beta", "pre-release needs a full version"),
    ("<*", "can match no version"),
    (">x", "can match no version"),
    ("!=*", "excludes every version"),
    (">=1.2.", "ends with a dot"),
    ("=>1.2.0", "malformed operator"),
    ("1.2.3-01", "not a semantic version"),
]


@pytest.mark.parametrize(("text", "words"), INVALID)
def test_invalid_ranges_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(RangeError) as info:
        parse_range(text)
    message = str(info.value)
    assert words in message
    assert "hint:" in message
    assert info.value.reason and info.value.hint
    assert isinstance(info.value, ValueError)


def test_error_column_points_at_the_bad_term() -> None:
    with pytest.raises(RangeError) as info:
        parse_range(">=1.0.0 <2.0.0x")
    assert info.value.column == 10  # the version after "<"
    assert "column 10" in str(info.value)
    with pytest.raises(RangeError) as info:
        parse_range("^1 || foo")
    assert info.value.column == 7


def test_non_string_ranges() -> None:
    with pytest.raises(RangeError, match="expected a range string"):
        parse_range(None)  # type: ignore[arg-type]
    assert parse_range(2).contains("2.5.0")  # type: ignore[arg-type]  # YAML int


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("^1.2", ">=1.2.0 <2.0.0-0"),
        ("~1.2.3", ">=1.2.3 <1.3.0-0"),
        ("1.x", ">=1.0.0 <2.0.0-0"),
        ("*", "*"),
        ("[1.0.0...2.0.0)", ">=1.0.0 <2.0.0"),
        ("(1.1.0...2.0.0]", ">1.1.0 <=2.0.0"),
        ("1.2.3", "=1.2.3"),
        (">=1 !=1.5 !=1.7.1", ">=1.0.0 !(>=1.5.0 <1.6.0-0) !=1.7.1"),
        ("^1 || ^3", ">=1.0.0 <2.0.0-0 || >=3.0.0 <4.0.0-0"),
        (">=1 >=1.5 <3 <=2", ">=1.5.0 <3.0.0-0"),
        (">1.0.0 >=1.0.0", ">1.0.0"),
        ("<2.0.0 <=2.0.0", "<2.0.0"),
    ],
)
def test_describe_gives_the_canonical_form(text: str, canonical: str) -> None:
    assert parse_range(text).describe() == canonical


def test_an_empty_point_interval_is_not_described_as_that_point() -> None:
    # (1.0.0...1.0.0) holds nothing; its error used to say "(=1.0.0)", the opposite.
    with pytest.raises(RangeError) as info:
        parse_range("(1.0.0...1.0.0)")
    assert "can match no version (>1.0.0 <1.0.0)" in str(info.value)
    assert parse_range("[1.0.0...1.0.0]").describe() == "=1.0.0"


def test_range_is_hashable_immutable_and_cached() -> None:
    a = parse_range("^1.2")
    assert a is parse_range(" ^1.2 ")  # parsed once per process
    assert hash(a) == hash(VersionRange("^1.2", ()))
    assert {a: 1}[a] == 1
    assert str(a) == "^1.2" and a.text == "^1.2"
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]
    assert "1.3.0" in a
    assert parse_range("*").is_any and not a.is_any


def test_contains_accepts_semver_objects_and_rejects_garbage() -> None:
    r = parse_range("^1")
    assert r.contains(semver.Version(1, 4, 0))
    with pytest.raises(VersionError, match="not a semantic version"):
        r.contains("banana")
    with pytest.raises(VersionError, match="no version given"):
        r.contains(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "1.0.0"),
        ("1.2", "1.2.0"),
        ("v1.2.3", "1.2.3"),
        ("V2", "2.0.0"),
        (" 1.2.3-rc.1+b7 ", "1.2.3-rc.1+b7"),
        (3, "3.0.0"),
    ],
)
def test_parse_version(text: str, expected: str) -> None:
    assert str(parse_version(text)) == expected


def test_parse_version_passes_versions_through() -> None:
    v = semver.Version(1, 2, 3)
    assert parse_version(v) is v


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty version"),
        ("abc", "not a semantic version"),
        ("1.2.3.4", "not a semantic version"),
        ("01.2.3", "leading zeros"),
        ("1.x", "wildcard"),
        (None, "expected a version"),
        (True, "expected a version"),
    ],
)
def test_parse_version_errors(text: object, words: str) -> None:
    with pytest.raises(VersionError) as info:
        parse_version(text)  # type: ignore[arg-type]
    assert words in str(info.value)
    assert "hint:" in str(info.value)


def test_version_key_is_semver_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    keys = [version_key(v) for v in ordered]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert version_key(3) == version_key("3.0.0")  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------

_ident = st.one_of(
    st.integers(min_value=0, max_value=20).map(str),
    st.sampled_from(["alpha", "beta", "rc", "x-1"]),
)
versions = st.builds(
    semver.Version,
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, 5),
    st.one_of(st.none(), st.lists(_ident, min_size=1, max_size=3).map(".".join)),
)


@given(versions, versions, versions)
def test_half_open_interval_agrees_with_semver_compare(
    a: semver.Version, b: semver.Version, v: semver.Version
) -> None:
    if a.compare(b) >= 0:
        return
    r = parse_range(f"[{a}...{b})")
    assert r.contains(v) == (a.compare(v) <= 0 and v.compare(b) < 0)
    closed = parse_range(f"({a}...{b}]")
    assert closed.contains(v) == (a.compare(v) < 0 and v.compare(b) <= 0)


@given(versions, versions)
def test_comparators_agree_with_semver_compare(a: semver.Version, v: semver.Version) -> None:
    c = v.compare(a)
    assert parse_range(f">={a}").contains(v) == (c >= 0)
    assert parse_range(f">{a}").contains(v) == (c > 0)
    assert parse_range(f"<{a}").contains(v) == (c < 0)
    assert parse_range(f"<={a}").contains(v) == (c <= 0)
    assert parse_range(f"!={a}").contains(v) == (c != 0)
    assert parse_range(f"={a}").contains(v) == (c == 0)


@given(versions)
def test_caret_is_same_major_at_or_above(v: semver.Version) -> None:
    inside = v.major == 1 and v.compare("1.2.0") >= 0
    assert parse_range("^1.2.0").contains(v) == inside


@given(versions, versions)
def test_union_is_or(a: semver.Version, v: semver.Version) -> None:
    left, right = parse_range(f"<{a}"), parse_range(f">={a}")
    assert parse_range(f"<{a} || >={a}").contains(v) == (left.contains(v) or right.contains(v))


# --- huge numbers: a clear error with the column, never an internal error -------------


@pytest.mark.parametrize(
    ("text", "column"),
    [
        (">=1.0.0 <" + "9" * 5000 + ".0.0", 10),
        ("^" + "9" * 5000, 2),
        ("9" * 5000, 1),
        ("1.0.0 - 1." + "1" * 20, 11),
        ("[1.0.0..." + "2" * 4301 + ")", 10),
        ("1.x || 2.0.0-rc." + "7" * 30, 17),
    ],
)
def test_range_with_a_huge_number_names_its_column(text: str, column: int) -> None:
    with pytest.raises(RangeError) as info:
        parse_range(text)
    assert info.value.column == column
    assert "digits is too large (at most 19)" in info.value.reason
    assert len(str(info.value)) < 500  # the text is quoted by its start only


def test_numbers_up_to_19_digits_still_work() -> None:
    big = "9" * 19
    assert parse_range(f">={big}.0.0").contains(f"{big}.1.0")
    assert parse_version(f"1.2.{big}").patch == int(big)


@pytest.mark.parametrize("text", ["9" * 5000, "1.2." + "3" * 20, "1.0.0-rc." + "4" * 4400])
def test_version_with_a_huge_number_is_a_version_error(text: str) -> None:
    with pytest.raises(VersionError) as info:
        parse_version(text)
    assert "is too large (at most 19)" in info.value.reason
    assert len(str(info.value)) < 500
