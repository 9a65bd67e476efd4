"""GitHub Actions workflow commands and environment files (docs/limits.md, Inside a workflow).

Escaping follows the actions toolkit: message data ``%``→``%25``, ``\\r``→``%0D``,
``\\n``→``%0A``; property values additionally ``:``→``%3A`` and ``,``→``%2C``.
Multi-line outputs use ``name<<DELIM`` with a random delimiter that cannot occur
on its own line in the value.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from tako_gha.engine import streams


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, properties: Mapping[str, str] | None = None) -> str:
    """``::name key=value,...::message`` with everything escaped."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in (properties or {}).items() if v)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def mask_lines(value: str, out: TextIO) -> None:
    """``::add-mask::`` for a secret: each non-empty line, since masks are per line."""
    for line in value.splitlines():
        if line.strip():
            out.write(f"::add-mask::{line}\n")
    out.flush()


def output_block(name: str, value: str) -> str:
    """One ``GITHUB_OUTPUT`` entry, multi-line safe."""
    delimiter = f"tako_{secrets.token_hex(12)}"
    while delimiter in value:  # astronomically unlikely; never emit an ambiguous block
        delimiter = f"tako_{secrets.token_hex(12)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def write_outputs(path: str | Path, outputs: Mapping[str, str]) -> None:
    """Append ``outputs`` to a ``GITHUB_OUTPUT`` file, in place (``engine.streams``):
    a write error, a full disk included, raises ``OSError``."""
    streams.append_text(path, "".join(output_block(name, value)
                                      for name, value in outputs.items()))


def parse_output_file(text: str) -> dict[str, str]:
    """Read a ``GITHUB_OUTPUT`` file back (both ``k=v`` and ``k<<DELIM`` forms)."""
    result: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            result[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            result[name] = value
        i += 1
    return result


def env_file_write(env: Mapping[str, str], name: str,
                   write: Callable[[str], None]) -> str | None:
    """Run ``write`` on the file the variable ``name`` names (when set); the message
    for a write that failed (a directory, a FIFO nobody reads, a full disk), else
    None."""
    path = env.get(name)
    if not path:
        return None
    try:
        write(path)
    except OSError as exc:
        return f"{name}: cannot write {path}: {exc.strerror or exc}"
    return None
