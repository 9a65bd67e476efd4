"""Run-title tags: only the tag the engine wrote is read (fixed position, exact
grammar), whatever else a title carries."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tako_gha.core.ids import (
    MAX_TITLE_LEN,
    TitleTag,
    make_title,
    parse_title,
    split_title,
    tag_shape_in,
)

HEX = st.text(alphabet="0123456789abcdef", min_size=12, max_size=12)
TAGS = st.builds(TitleTag, HEX, st.one_of(st.none(), HEX), HEX)
# Event types as people type them: anything printable, no tag shape (the engine
# refuses those before building a title).
EVENT_TYPES = st.text(min_size=1, max_size=100).filter(lambda t: tag_shape_in(t) is None)
SOURCES = st.from_regex(r"[a-z0-9-]{1,20}/[a-z0-9._-]{1,30}", fullmatch=True)
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@PROPERTY
@given(EVENT_TYPES, SOURCES, TAGS)
def test_the_engines_tag_is_read_back_from_any_title(event_type: str, source: str,
                                                     tag: TitleTag) -> None:
    title = make_title(event_type, source, tag)
    assert len(title) <= MAX_TITLE_LEN
    assert parse_title(title) == tag


@PROPERTY
@given(st.text(max_size=80), TAGS, TAGS, st.text(max_size=80))
def test_a_tag_inside_the_title_is_not_the_tag(before: str, forged: TitleTag, real: TitleTag,
                                               between: str) -> None:
    """Text that carries a tag (a forged one, in the head) never decides: the tag at
    the end does, and without one at the end there is none."""
    head = f"{before}{forged.render()}{between}"
    assert parse_title(f"{head} {real.render()}") == real
    assert split_title(f"{head} {real.render()}") == (head, real)
    assert parse_title(head + "x") is None
    assert parse_title(f"{head} {real.render()} ") is None  # not at the very end


@PROPERTY
@given(st.text(max_size=200))
def test_random_titles_parse_only_when_they_end_with_the_exact_grammar(title: str) -> None:
    tag = parse_title(title)
    if tag is not None:
        assert title.endswith(" " + tag.render())


@pytest.mark.parametrize("text", [
    "[tako:0123456789ab:-:0123456789ab]", "built [TAKO:x", "a[ tako :b", "[tako:",
    "deploy [Tako:whatever]",
])
def test_tag_shapes_are_found(text: str) -> None:
    assert tag_shape_in(text) is not None


@pytest.mark.parametrize("text", ["library_built", "tako", "[tako]", "tako:build", "[ta ko:]"])
def test_ordinary_event_types_have_no_tag_shape(text: str) -> None:
    assert tag_shape_in(text) is None


@pytest.mark.parametrize("title", [
    "[tako:0123456789ab:-:0123456789ab]",  # no head: the engine always writes one
    "x [tako:0123456789AB:-:0123456789ab]",  # upper-case hex
    "x [tako:0123456789ab:-:0123456789a]",  # short id
    "x [tako:0123456789ab::0123456789ab]",  # empty parent
    "x  [tako:0123456789ab:-:0123456789ab]x",
    None, "",
])
def test_near_tags_are_not_tags(title: str | None) -> None:
    assert parse_title(title) is None
