"""Hiding a job's secrets in every text it records, at a cost that grows with the text
and the logarithm of the number of masks, not with their product.

A job may hold thousands of masks (``::add-mask::`` in a loop). Sorting them all and
replacing each one in each log line cost masks x lines: 8,000 of each took 8 s of the
job's output reader, and lines printed after its drain deadline were lost. Here the
masks are compiled into trie-shaped patterns (one branch per distinct character at
each depth, so a text is read once whatever the number of masks), kept in levels of
1, 2, 4 … masks merged like a binary counter: each mask is compiled O(log n) times in
all, and a text is searched once per level. Masks longer than ``TRIE_MAX`` characters
(rare: one line of a key file) are looked for one by one.

What is hidden: every character of every occurrence of every mask. Occurrences that
overlap (one secret inside another, or two sharing characters) become one ``***``;
occurrences that only touch stay two, as replacing them one at a time shows them.
"""

from __future__ import annotations

import re
import threading

from tako_gha.emulator.commands import MASK

TRIE_MAX = 200  # characters: longer masks stay out of the patterns (nesting depth)

_Trie = dict[str, "_Trie"]


class Masks:
    """A growing set of values to hide; ``hide`` is safe from any thread."""

    def __init__(self, values: set[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._levels: list[tuple[list[str], re.Pattern[str]]] = []  # sizes decreasing
        self._long: list[str] = []
        self.add(values or set())

    def __contains__(self, value: object) -> bool:
        with self._lock:
            return value in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def add(self, values: set[str]) -> None:
        with self._lock:
            new = sorted(v for v in values if v and v not in self._values)
            self._values.update(new)
            self._long += [v for v in new if len(v) > TRIE_MAX]
            batch = [v for v in new if len(v) <= TRIE_MAX]
            if not batch:
                return
            # merge with every level not larger than the batch: sizes stay decreasing
            while self._levels and len(self._levels[-1][0]) <= len(batch):
                batch = self._levels.pop()[0] + batch
            self._levels.append((batch, _compile(batch)))

    def hide(self, text: str) -> str:
        with self._lock:
            patterns = [pattern for _, pattern in self._levels]
            long = list(self._long)
        spans = [(m.start(), m.end(1)) for p in patterns for m in p.finditer(text)]
        for value in long:
            at = text.find(value)
            while at != -1:
                spans.append((at, at + len(value)))
                at = text.find(value, at + 1)
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        shown, (start, end) = 0, spans[0]
        for s, e in spans[1:]:
            if s < end:  # overlapping: one mask over both
                end = max(end, e)
                continue
            parts += [text[shown:start], MASK]
            shown, start, end = end, s, e
        parts += [text[shown:start], MASK, text[end:]]
        return "".join(parts)


def _compile(values: list[str]) -> re.Pattern[str]:
    """A lookahead over the trie of ``values``: at each position, the longest value
    starting there (a trie's optional tails are greedy)."""
    trie: _Trie = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}
    return re.compile("(?=(" + _pattern(trie) + "))")


def _pattern(node: _Trie) -> str:
    end = "" in node
    branches = [re.escape(char) + _pattern(child)
                for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if end else body
