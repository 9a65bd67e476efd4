"""Input templates (docs/tako-yml.md, Templates): ``{{ .event.payload.version }}``.

INTERFACE (agreed):
    parse_template(text) -> Template      # raises TemplateError for syntax or a root
                                          # other than .event.{type,schema_version,source,payload}
    Template.source: str
    Template.paths: tuple[str, ...]       # the dotted paths it reads, in order
    Template.render(context: dict, *, limit=MAX_INPUT_CHARS) -> str
                                          # raises TemplateError naming the path that does not
                                          # exist, or the cap (``limit`` characters) it would pass
    TemplateError.message / .path / .hint / .column (1-based in the template, 0 if unknown)
    context_for(event: Event) -> dict     # {"event": event.to_json()}
Non-string values render as JSON.

Rendering is bounded while it happens: each placeholder's text is measured (a string)
or encoded piece by piece (JSON) against what is left of ``limit`` before it is kept,
so a template naming a huge payload value many times never builds more than the cap.
A subscriber's inputs together are capped by ``MAX_INPUTS_CHARS`` (the caller passes
what is left as ``limit``). A missing field's "did you mean" looks at the first
``HINT_KEYS`` keys only.

Syntax is Go-template-like: a placeholder is ``{{`` + a dotted path + ``}}``, spaces
inside the braces optional; text around placeholders is kept as it is. A path
segment made of digits indexes a list (``.event.payload.targets.0``).
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tako_gha.core.events import Event

# Fields of the event a template may name; ``payload`` is the only one with children.
EVENT_FIELDS = ("type", "schema_version", "source", "payload")
_PATH = re.compile(r"\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_EXAMPLE = "{{ .event.payload.version }}"

# One rendered input, and all inputs of one subscriber together, in characters. GitHub
# takes less than 64 KB of client_payload (inputs included) per dispatch, so nothing
# longer could be sent anyway; the caps keep a plan over many subscribers from holding
# (and building) megabytes per subscriber before the dispatch would refuse them.
MAX_INPUT_CHARS = 32_768
MAX_INPUTS_CHARS = 65_536
# Keys of a mapping a "did you mean" looks at: a payload mapping may hold millions, and
# comparing a name with each took 0.11 s per missing field on a large one.
HINT_KEYS = 1_000


class TemplateError(ValueError):
    """A template that cannot be parsed, or a path missing from the rendered event."""

    def __init__(self, message: str, *, path: str | None = None, hint: str = "",
                 column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint
        self.column = column  # 1-based position in the template text; 0 when unknown


@dataclass(frozen=True)
class _Field:
    """One placeholder: the path as written and its segments after the leading dot."""

    path: str
    segments: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """A parsed template: literal strings and ``_Field`` placeholders, in order."""

    source: str
    parts: tuple[str | _Field, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.parts if isinstance(p, _Field))

    def render(self, context: Mapping[str, Any], *, limit: int = MAX_INPUT_CHARS) -> str:
        """The template filled from ``context``: at most ``limit`` characters, refused
        (TemplateError naming the cap) as soon as a part would pass it."""
        out: list[str] = []
        left = limit
        for part in self.parts:
            if isinstance(part, str):
                piece = part
            else:
                piece = _to_text(_lookup(context, part), left)
                if piece is None:
                    raise self._too_long(limit, part.path)
            left -= len(piece)
            if left < 0:
                raise self._too_long(limit, part.path if isinstance(part, _Field) else None)
            out.append(piece)
        return "".join(out)

    def _too_long(self, limit: int, path: str | None) -> TemplateError:
        where = f" (at {path})" if path else ""
        return TemplateError(
            f"renders to more than {limit:,} characters{where}, over the cap on rendered "
            f"inputs ({MAX_INPUT_CHARS:,} characters one input, {MAX_INPUTS_CHARS:,} all "
            f"the inputs of one subscriber)",
            path=path,
            hint="pass a smaller field (one item of a list, a single value), or let the "
            "receiving workflow read the rest itself",
        )

    def __str__(self) -> str:
        return self.source


def context_for(event: Event) -> dict[str, Any]:
    """The render context of ``event``: ``{"event": {type, schema_version, source, payload}}``."""
    return {"event": event.to_json()}


def parse_template(text: str) -> Template:
    if not isinstance(text, str):
        raise TemplateError(
            f"a template must be a string, got {type(text).__name__}",
            hint=f'quote the value, e.g. "{_EXAMPLE}"',
        )
    parts: list[str | _Field] = []
    pos = 0
    for start, end in _placeholders(text):
        if start > pos:
            parts.append(_literal(text, pos, start))
        try:
            parts.append(_parse_field(text[start:end], text[start + 2 : end - 2].strip()))
        except TemplateError as exc:
            exc.column = start + 1
            raise
        pos = end
    if pos < len(text):
        parts.append(_literal(text, pos, len(text)))
    return Template(source=text, parts=tuple(parts))


def _placeholders(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each ``{{ ... }}``: from an opening pair to the first closing
    pair after it. Linear: each pair is searched for once (a regular expression with a
    lazy ``.*?`` rescans the rest of the text from every unclosed ``{{``: 10,000 of
    them took 5 s)."""
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return
        end = text.find("}}", start + 2)
        if end < 0:
            return  # unclosed: the rest is a literal, which says so
        yield start, end + 2
        pos = end + 2


def _literal(text: str, start: int, end: int) -> str:
    # Whatever remains between placeholders must not open one: an unclosed "{{"
    # is almost certainly a typo, and rendering it verbatim would hide it.
    opened = text.find("{{", start, end)
    if opened >= 0:
        raise TemplateError(
            "unclosed '{{' in template",
            hint=f"close every placeholder with '}}}}', e.g. {_EXAMPLE}",
            column=opened + 1,
        )
    return text[start:end]


def _parse_field(written: str, inner: str) -> _Field:
    if not inner:
        raise TemplateError(
            f"empty placeholder '{written}' names no field",
            hint=f"name an event field, e.g. {_EXAMPLE}",
        )
    if not _PATH.fullmatch(inner):
        raise TemplateError(
            f"'{written}' is not a field path",
            hint=f"templates only read event fields, written with a leading dot: {_EXAMPLE}",
        )
    segments = tuple(inner[1:].split("."))
    _check_root(inner, segments)
    return _Field(path=inner, segments=segments)


def _check_root(path: str, segments: tuple[str, ...]) -> None:
    allowed = ", ".join(f".event.{f}" for f in EVENT_FIELDS)
    if segments[0] != "event":
        raise TemplateError(
            f"template path {path} names no field: it must start with .event",
            path=path,
            hint=f"templates read {allowed} (and fields under .event.payload)",
        )
    if len(segments) == 1:
        raise TemplateError(
            "template path .event names no field",
            path=path,
            hint=f"name one of {allowed}",
        )
    name = segments[1]
    if name not in EVENT_FIELDS:
        close = difflib.get_close_matches(name, EVENT_FIELDS, n=1)
        hint = f"did you mean .event.{close[0]}?" if close else f"name one of {allowed}"
        raise TemplateError(
            f"template path {path} names no field of the event", path=path, hint=hint
        )
    if name != "payload" and len(segments) > 2:
        raise TemplateError(
            f"template path {path} names no field: .event.{name} is a string",
            path=path,
            hint="only .event.payload has fields below it",
        )


def _lookup(context: Mapping[str, Any], field: _Field) -> Any:
    value: Any = context
    walked = ""
    for segment in field.segments:
        here = f"{walked}.{segment}"
        if isinstance(value, Mapping):
            if segment not in value:
                raise TemplateError(
                    f"{field.path} does not exist: {walked or 'the context'} has no field "
                    f"'{segment}'",
                    path=field.path,
                    hint=_keys_hint(value, segment),
                )
            value = value[segment]
        elif isinstance(value, Sequence) and not isinstance(value, str | bytes):
            if not segment.isdigit() or int(segment) >= len(value):
                raise TemplateError(
                    f"{field.path} does not exist: {walked} is a list of {len(value)} "
                    f"item(s), '{segment}' is not an index into it",
                    path=field.path,
                    hint="index lists with a number from 0, e.g. .event.payload.items.0",
                )
            value = value[int(segment)]
        else:
            raise TemplateError(
                f"{field.path} does not exist: {walked} is {_kind(value)}, not a mapping",
                path=field.path,
                hint=f"use {walked} itself, or send a payload where it is a mapping",
            )
        walked = here
    return value


def _keys_hint(value: Mapping[str, Any], missing: str) -> str:
    """"did you mean" among the first HINT_KEYS keys, else a few of the keys present.

    Remembered per (mapping, name): a plan renders the same missing field for every
    subscriber naming it (1-2 ms each over 1,000 keys; 10,000 subscribers: 20 s)."""
    known = _hints.get((id(value), missing))
    if known is not None and known[0] is value:
        return known[1]
    hint = _compute_keys_hint(value, missing)
    _hints[(id(value), missing)] = (value, hint)  # the mapping is held: its id stays its own
    if len(_hints) > 32:
        del _hints[next(iter(_hints))]
    return hint


_hints: dict[tuple[int, str], tuple[Mapping[str, Any], str]] = {}


def _compute_keys_hint(value: Mapping[str, Any], missing: str) -> str:
    keys = [str(k) for k in itertools.islice(value, HINT_KEYS)]
    # get_close_matches keeps ratios >= 0.6, which no key under 0.43x or over 2.34x the
    # name's length can reach: those are left out unread (same answer, bounded work).
    low, high = len(missing) * 3 // 7, len(missing) * 7 // 3 + 1
    close = difflib.get_close_matches(
        missing, [k for k in keys if low <= len(k) <= high], n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    if not keys:
        return "it is empty: send the field in the event payload"
    shown = ", ".join(sorted(keys)[:10]) + (", ..." if len(value) > 10 else "")
    return f"fields present: {shown}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


# Compact JSON so numbers, booleans, lists and mappings survive a round trip.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def _to_text(value: Any, room: int) -> str | None:
    """``value`` as template text (compact JSON unless a string), or None when it is
    longer than ``room`` characters: found out while encoding, never by building it."""
    if isinstance(value, str):
        return value if len(value) <= room else None  # (no copy is made)
    if not isinstance(value, (list, tuple, dict)):
        text = _JSON.encode(value)
        return text if len(text) <= room else None
    # A plan renders the same payload value for every subscriber (and placeholder):
    # encode it once. A value found too long for a room is too long for any smaller.
    known = _rendered.get(id(value))
    if known is not None and known[0] is value:
        _value, text, tried = known
        if text is not None:
            return text if len(text) <= room else None
        if room <= tried:
            return None
    text = _bounded_json(value, room)
    _rendered.pop(id(value), None)
    _rendered[id(value)] = (value, text, room)  # the value is held: its id stays its own
    if len(_rendered) > 16:
        del _rendered[next(iter(_rendered))]
    return text


# id(container) -> (the container, its JSON or None when longer than room, room): the
# last 16 payload containers rendered (those of one event, or of the last few), for at
# most 16 x MAX_INPUT_CHARS characters of text.
_rendered: dict[int, tuple[Any, str | None, int]] = {}


def _bounded_json(value: list[Any] | tuple[Any, ...] | dict[Any, Any], room: int) -> str | None:
    """What ``json.dumps`` (compact, ``ensure_ascii=False``) gives for ``value``, built
    piece by piece and abandoned once longer than ``room``. Each string is measured
    before it is encoded (its JSON is at least its length + 2), containers are walked
    by iterators (nothing is copied), iteratively (any depth), and the pieces are joined
    as they go: about ``room`` characters are held, whatever the size of ``value``."""
    out: list[str] = []
    held = 0  # characters in ``out``
    # open containers: (iterator over their items, closing bracket, is a mapping)
    stack: list[tuple[Iterator[Any], str, bool]] = []
    pending: list[Any] = [value]  # the next value to write (at most one)
    while pending or stack:
        if pending:
            piece = _open_or_scalar(pending.pop(), room - held, stack)
        else:
            items, closing, mapping = stack[-1]
            entry = next(items, _END)
            if entry is _END:
                stack.pop()
                piece = closing
            else:
                piece = "" if out[-1].endswith(("[", "{")) else ","
                if mapping:
                    key, entry = entry
                    key = key if isinstance(key, str) else _JSON.encode({key: None})[2:-7]
                    if len(key) + 3 > room - held:
                        return None
                    piece += _JSON.encode(key) + ":"
                pending.append(entry)
        if piece is None:
            return None
        held += len(piece)
        if held > room:
            return None
        out.append(piece)
        if len(out) > 512:
            out[:] = ["".join(out)]
    return "".join(out)


_END = object()


def _open_or_scalar(value: Any, room: int,
                    stack: list[tuple[Iterator[Any], str, bool]]) -> str | None:
    """A container's opening bracket (the container pushed on ``stack``), or a scalar's
    JSON; None when a string alone is longer than ``room``."""
    if isinstance(value, str):
        return _JSON.encode(value) if len(value) + 2 <= room else None
    if isinstance(value, dict):
        stack.append((iter(value.items()), "}", True))
        return "{"
    if isinstance(value, (list, tuple)):
        stack.append((iter(value), "]", False))
        return "["
    return _JSON.encode(value)
