"""Workflow commands a step prints on stdout, read as GitHub's runner reads them.

``::add-mask::VALUE`` adds a mask, ``::error``/``::warning``/``::notice`` (with
``file``, ``line``, ``title``) become annotations of the job (and ``##[error]message``
… in the log), ``::group::TITLE``/``::endgroup::`` become ``##[group]TITLE`` /
``##[endgroup]``, ``::debug::`` is dropped (debug logging is off),
``::stop-commands::TOKEN`` … ``::TOKEN::`` turns command reading off and on again. The
command lines themselves are not logged, as on GitHub (masked values never show even
escaped); everything else is a plain log line. Data and property values are
%-unescaped as the runner's toolkit escapes them.
"""

from __future__ import annotations

import re
from typing import Protocol

MASK = "***"
_COMMAND = re.compile(r"^::([A-Za-z0-9_-]+)(?:\s+([^:]*?))?::(.*)$")


class CommandTarget(Protocol):
    """What a job offers the commands its steps print (``emulator.jobstate``)."""

    stop_token: str | None

    def write_log(self, line: str) -> None: ...

    def add_mask(self, value: str) -> None: ...

    def annotate(self, level: str, message: str, title: str = "", path: str = ".github",
                 line: int = 1, log: bool = True) -> None: ...


def parse_command(line: str) -> tuple[str, str, str] | None:
    """``(name in lower case, raw properties, raw data)`` of a workflow command line,
    None for a plain line."""
    match = _COMMAND.match(line)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2) or "", match.group(3)


def handle_line(target: CommandTarget, raw: str) -> None:
    """One line a step printed: a workflow command or plain log. As GitHub's runner
    does, a command line itself is not logged: what it means is (an annotation as
    ``##[error]message``, a group as ``##[group]title`` … ``##[endgroup]``)."""
    line = raw.rstrip("\r\n")
    command = parse_command(line)
    if command is None:
        target.write_log(line)
        return
    name, props, data = command
    if target.stop_token is not None:
        if name == target.stop_token.lower():
            target.stop_token = None
        else:
            target.write_log(line)
        return
    if name == "add-mask":
        target.add_mask(unescape_data(data))
    elif name == "stop-commands":
        target.stop_token = data.strip() or None
    elif name in ("error", "warning", "notice"):
        _command_annotation(target, name, parse_props(props), unescape_data(data))
    elif name == "group":
        target.write_log("##[group]" + unescape_data(data))
    elif name == "endgroup":
        target.write_log("##[endgroup]")
    elif name != "debug":  # debug lines show only with debug logging, which is off
        target.write_log(line)


def _command_annotation(target: CommandTarget, name: str, props: dict[str, str],
                        message: str) -> None:
    level = {"error": "failure", "warning": "warning", "notice": "notice"}[name]
    line = props.get("line", "1")
    target.annotate(level, message, title=props.get("title", ""),
                    path=props.get("file", ".github"),
                    line=int(line) if line.isdigit() else 1)


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_prop(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def parse_props(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            props[key.strip().lower()] = _unescape_prop(value)
    return props
