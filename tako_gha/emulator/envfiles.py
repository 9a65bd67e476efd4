"""A step's file commands: the fresh ``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_PATH``
and ``GITHUB_STEP_SUMMARY`` files each step process gets, and what is read back from
them when it ends: outputs (``k=v`` and ``k<<DELIM`` forms), environment for the next
steps, ``PATH`` additions, and the (masked) step summary, refused past GitHub's 1 MiB.
"""

from __future__ import annotations

import os
from pathlib import Path

from tako_gha.emulator.jobstate import JobState

SUMMARY_LIMIT_BYTES = 1024 * 1024  # GitHub: 1 MiB per step summary
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
    """Apply GITHUB_ENV / GITHUB_PATH, keep the summary, return the step outputs."""
    outputs: dict[str, str] | None
    try:
        outputs = parse_file_commands(read_text(files["output"]), "GITHUB_OUTPUT")
        job_env.update(parse_file_commands(read_text(files["env"]), "GITHUB_ENV"))
    except ValueError as exc:
        state.annotate("failure", f"{where}: unable to process file command: {exc}")
        outputs = None
    added = [p for p in read_text(files["path"]).splitlines() if p.strip()]
    if added:
        run_env["PATH"] = os.pathsep.join([*reversed(added), run_env.get("PATH", "")])
    summary_file = files["summary"]
    if summary_file.exists():
        if summary_file.stat().st_size > SUMMARY_LIMIT_BYTES:
            state.annotate("failure", f"{where}: step summary is larger than 1 MiB; "
                           "it was not uploaded")
        else:
            summary = state.mask(read_text(summary_file))
            if summary.strip():
                with state.lock:
                    state.summaries.append(summary)
    return outputs


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:  # a step may delete its summary file on purpose
        return ""
