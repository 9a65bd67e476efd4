"""Flag values every command reads the same way: ``--payload``, ``--event``,
``--schema-version``, durations and report paths.

One reader per kind of value, so ``plan`` and ``fan-out`` accept the same text and
refuse it with the same words (the action entry reads its inputs in ``action``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tako_gha.core.durations import EXAMPLES, DurationError, parse_duration
from tako_gha.core.ids import tag_shape_in
from tako_gha.core.strictjson import MAX_BYTES, JsonInputError, read_json_object
from tako_gha.core.versions import VersionError, parse_version
from tako_gha.engine import streams
from tako_gha.surfaces.errors import UserError

MAX_EVENT_TYPE = 100  # GitHub's limit on a repository_dispatch event_type
PAYLOAD_EXAMPLE = """--payload '{"version": "2.1.0"}'"""


def read_payload(raw: str | None, flag: str = "--payload") -> dict[str, Any]:
    """``--payload`` as JSON text, ``@FILE`` or ``@-`` (stdin); must be an object.

    Read by ``core.strictjson``: standard JSON only, bounded in size, depth and
    number length, and every refusal names the line, column and path."""
    if raw is None:
        return {}
    where, text = flag, raw
    if raw.startswith("@"):
        where = f"{flag} {raw}"
        text = _read_payload_file(raw[1:], where)
    return payload_from_text(text, where)


def payload_from_text(text: str, where: str) -> dict[str, Any]:
    """The payload in ``text`` or a UserError starting with ``where`` (the flag, or
    the input, that gave it)."""
    try:
        return read_json_object(text)
    except JsonInputError as exc:
        if exc.reason.startswith("must be a JSON object"):
            hint = f"wrap it, e.g. {PAYLOAD_EXAMPLE}"
        else:
            hint = (f"pass a standard JSON object, e.g. {PAYLOAD_EXAMPLE} "
                    "or --payload @payload.json")
        raise UserError(f"{where}: {exc}", hint=hint) from None


def _read_payload_file(name: str, where: str) -> str:
    """The file's text, never more than the reader accepts plus one byte (a huge file
    or an endless stdin is refused without reading it all). A path must name a regular
    file: a FIFO or a device is refused at once, never waited on (``-`` is the stream
    a user means)."""
    cap = MAX_BYTES + 1
    try:
        if name == "-":
            text = sys.stdin.read(cap)
        else:
            data = streams.read_regular(name, cap)
            # Too large is said below, before decoding a text cut mid-character.
            text = " " * cap if len(data) >= cap else data.decode("utf-8")
    except OSError as exc:
        # a pipe is read as @- (@/dev/stdin names it as a FIFO, which is never waited on)
        hint = ("give @PATH of a regular JSON file, or @- to read standard input"
                if isinstance(exc, streams.NotRegularFile)
                else "give @PATH of a readable JSON file")
        raise UserError(f"{where}: cannot read the file: {exc.strerror or exc}",
                        hint=hint) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{where}: the file is not UTF-8 text (byte {exc.start})",
                        hint="give @PATH of a JSON file saved as UTF-8") from None
    if len(text) >= cap:
        raise UserError(f"{where}: more than {MAX_BYTES:,} bytes of JSON; at most that "
                        "much is read", hint="a dispatch's whole client_payload must be "
                        "less than 64 KB: pass large data by URL (an artifact, a release)")
    return text


def read_duration(value: str, flag: str) -> float:
    """A duration flag in seconds: more than zero, at most a year (core.durations)."""
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        # Some messages already carry the examples; say them once.
        hint = "" if EXAMPLES in str(exc) else EXAMPLES
        raise UserError(f"{flag}: {exc}", hint=hint) from None
    if seconds <= 0:
        raise UserError(f"{flag}: must be more than zero, got {value!r}",
                        hint=EXAMPLES)
    return seconds


def read_event_type(value: str) -> str:
    """``--event``: what GitHub accepts as a repository_dispatch event_type."""
    bad = undecodable_at(value)
    if bad is not None:  # bytes of the command line that are not UTF-8 (surrogateescape)
        raise UserError(f"--event: character {bad + 1} is not valid Unicode (a byte that "
                        "is not UTF-8?)", hint="write the event type in UTF-8 text, e.g. "
                                               "--event library_built")
    if not value.strip() or len(value) > MAX_EVENT_TYPE:
        raise UserError(f"--event {value[:40]!r}{'…' if len(value) > 40 else ''} must be "
                        f"1 to {MAX_EVENT_TYPE} characters, got {len(value)}",
                        hint="GitHub limits repository_dispatch event_type to "
                             f"{MAX_EVENT_TYPE} characters")
    shape = tag_shape_in(value)
    if shape is not None:
        # The event type heads every run title, before the tag naming the cascade.
        raise UserError(f"--event {value[:60]!r} contains {shape!r}, the shape of the tag "
                        "tako puts in run titles", hint="choose an event type without "
                                                        "'[tako:' in it")
    return value


def utf8_option(ctx: Any, param: Any, value: Any) -> Any:
    """A click callback for text that goes into API paths and queries (``--org``,
    ``--config-path``): bytes of the command line that are not UTF-8 are refused here,
    naming the option, rather than failing later where the text is encoded."""
    for text in value if isinstance(value, tuple) else (value,):
        bad = undecodable_at(text) if isinstance(text, str) else None
        if bad is not None:
            flag = max(param.opts, key=len) if param.opts else param.name
            raise UserError(f"{flag}: character {bad + 1} is not valid Unicode (a byte "
                            "that is not UTF-8?)", hint=f"write {flag} in UTF-8 text")
    return value


def undecodable_at(value: str) -> int | None:
    """Where ``value`` holds a lone surrogate (how Python passes command-line bytes that
    are not UTF-8), or None when it is Unicode text."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def read_schema_version(value: str | None) -> str | None:
    """``--schema-version``: a version the matcher can compare (or none given)."""
    if value is not None:
        try:
            parse_version(value)
        except VersionError as exc:
            raise UserError(f"--schema-version {value!r} is not a version: {exc.reason}",
                            hint=exc.hint) from None
    return value


def check_output_path(path: str | None, flag: str) -> None:
    """Fail now, before anything is dispatched, if ``path`` cannot be written later
    (a report that cannot be saved after an hour-long cascade is lost work).
    An existing file is opened for appending (its content is left alone); a new
    one is created and removed again."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{flag}: {path} is a directory", hint=f"give a file path: {flag} "
                        f"{target / 'tree.json' if 'json' in flag else target / 'summary.md'}")
    try:
        streams.check_writable(target)  # a FIFO nobody reads is refused, not waited on
    except OSError as exc:
        raise UserError(f"{flag}: cannot write {path}: {exc.strerror or exc}",
                        hint="give a path in an existing, writable directory") from None
