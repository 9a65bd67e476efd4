"""The job's masks (emulator/masking.py): every occurrence of every mask hidden, at a
cost that does not grow with masks x text."""

from __future__ import annotations

import math

import pytest

from tako_gha.emulator import masking
from tako_gha.emulator.masking import TRIE_MAX, Masks


@pytest.mark.parametrize(("masks", "text", "shown"), [
    ({"s3cret"}, "a s3cret here, s3cret there", "a *** here, *** there"),
    ({"abcdef", "cd"}, "xabcdefx cd", "x***x ***"),  # one inside another
    ({"abcd", "cdef"}, "abcdef", "***"),  # sharing characters: nothing of either shows
    ({"ab"}, "abab", "******"),  # touching occurrences stay two
    ({"aa"}, "aaa", "***"),  # overlapping occurrences of one mask
    ({"x" * (TRIE_MAX + 5)}, "<" + "x" * (TRIE_MAX + 5) + ">", "<***>"),  # a long mask
    ({"a.b", "(c)"}, "a.b axb (c) c", "*** axb *** c"),  # pattern characters are text
    (set(), "nothing to hide", "nothing to hide"),
])
def test_every_occurrence_is_hidden(masks: set[str], text: str, shown: str) -> None:
    assert Masks(masks).hide(text) == shown


def test_masks_added_one_at_a_time_all_hold() -> None:
    masks = Masks()
    values = [f"value-{i:04d}-{'z' * (i % 7)}" for i in range(1000)]
    for value in values:
        masks.add({value})
    assert len(masks) == 1000 and values[500] in masks
    assert all(masks.hide(f"<{v}>") == "<***>" for v in values)


def test_each_mask_is_compiled_a_logarithmic_number_of_times(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Levels merged like a binary counter: 4,096 masks added one by one are compiled
    at most log2(4,096) + 1 times each (recompiling everything per mask: 4,096 times),
    and a text is searched once per level."""
    compiled: list[int] = []
    real = masking._compile
    monkeypatch.setattr(masking, "_compile", lambda values: compiled.append(len(values))
                        or real(values))
    masks = Masks()
    count = 4096
    for i in range(count):
        masks.add({f"mask-{i:05d}"})
    assert sum(compiled) <= count * (math.log2(count) + 1)
    assert len(masks._levels) <= math.log2(count) + 1
