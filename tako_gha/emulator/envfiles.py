"""A step's file commands: the fresh ``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_PATH``
and ``GITHUB_STEP_SUMMARY`` files each step process gets, and what is read back from
them when it ends: outputs (``k=v`` and ``k<<DELIM`` forms), environment for the next
steps, ``PATH`` additions, and the (masked) step summary, refused past GitHub's 1 MiB.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tako_gha.emulator.jobstate import JobState

SUMMARY_LIMIT_BYTES = 1024 * 1024  # GitHub: 1 MiB per step summary
# Outputs, env and path files: read back whole, so bounded (a job's outputs are 1 MiB
# on GitHub; this leaves room and stops a step that writes without end).
FILE_COMMAND_LIMIT_BYTES = 16 * 1024 * 1024
_KINDS = ("output", "summary", "env", "path")


def new_step_files(temp: Path, key: str) -> dict[str, Path]:
    """Empty files for one step process, named by ``key`` under the job's temp."""
    files = {k: temp / f"_{k}_{key}" for k in _KINDS}
    for f in files.values():
        f.write_text("", encoding="utf-8")
    return files


def step_files_env(files: dict[str, Path]) -> dict[str, str]:
    """The variables that name a step's files to it."""
    return {"GITHUB_OUTPUT": str(files["output"]),
            "GITHUB_STEP_SUMMARY": str(files["summary"]),
            "GITHUB_ENV": str(files["env"]), "GITHUB_PATH": str(files["path"])}


def parse_file_commands(text: str, what: str) -> dict[str, str]:
    """Read a ``GITHUB_OUTPUT``/``GITHUB_ENV`` file (``k=v`` and ``k<<DELIM`` forms)."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            name, delim = line[:heredoc], line[heredoc + 2:]
            if not name or not delim:
                raise ValueError(f"invalid {what} line {line!r} (expected NAME<<DELIMITER)")
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"{what}: matching delimiter {delim!r} not found for {name!r}")
            i += 1
            values[name] = "\n".join(body)
        elif eq > 0:
            values[line[:eq]] = line[eq + 1:]
        else:
            raise ValueError(f"invalid {what} line {line!r} (expected NAME=VALUE)")
    return values


def collect_files(state: JobState, files: dict[str, Path],
                  job_env: dict[str, str], run_env: dict[str, str],
                  where: str) -> dict[str, str] | None:
    """Apply GITHUB_ENV / GITHUB_PATH, keep the summary, return the step outputs (None:
    a file could not be processed, and the step fails saying which)."""
    outputs: dict[str, str] | None
    try:
        outputs = parse_file_commands(read_text(files["output"]), "GITHUB_OUTPUT")
        job_env.update(parse_file_commands(read_text(files["env"]), "GITHUB_ENV"))
        added = [p for p in read_text(files["path"]).splitlines() if p.strip()]
    except ValueError as exc:
        state.annotate("failure", f"{where}: unable to process file command: {exc}")
        return None
    if added:
        run_env["PATH"] = os.pathsep.join([*reversed(added), run_env.get("PATH", "")])
    try:
        summary = state.mask(read_text(files["summary"], SUMMARY_LIMIT_BYTES))
    except SummaryTooLarge:
        state.annotate("failure", f"{where}: step summary is larger than 1 MiB; "
                       "it was not uploaded")
    except ValueError as exc:
        state.annotate("failure", f"{where}: unable to process file command: {exc}")
        return None
    else:
        if summary.strip():
            with state.lock:
                state.summaries.append(summary)
    return outputs


class SummaryTooLarge(ValueError):
    """More than the bound was written."""


_NAMES = {"output": "GITHUB_OUTPUT", "env": "GITHUB_ENV", "path": "GITHUB_PATH",
          "summary": "GITHUB_STEP_SUMMARY"}


def read_text(path: Path, cap: int = FILE_COMMAND_LIMIT_BYTES) -> str:
    """The file the runner made, read back without waiting and with a bound: a step
    may have deleted it (empty), or put a FIFO, a device, a directory or a link to one
    in its place (``ValueError`` naming the variable, never a hang or an endless read)."""
    kind = path.name.split("_")[1] if path.name.count("_") >= 2 else path.name
    name = _NAMES.get(kind, path.name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:  # a step may delete its summary file on purpose
        return ""
    except OSError as exc:  # a socket (ENXIO), a dangling loop of links...
        raise ValueError(f"{name}: not a regular file ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{name}: not a regular file (a FIFO, device or directory "
                             "was put in its place)")
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, min(cap + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > cap:
        raise (SummaryTooLarge if kind == "summary" else ValueError)(
            f"{name}: larger than {cap // (1024 * 1024)} MiB")
    return b"".join(chunks).decode("utf-8", errors="replace")
