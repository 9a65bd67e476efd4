"""The report a fan-out inside a tree leaves for the level above (docs/protocol.md,
"Reports up the tree"): where it is written in the job, and the step outputs that
name it for ``actions/upload-artifact`` — the action's last step, or a step a
workflow adds after ``run: tako-gha fan-out``."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from tako_gha.engine.api import CascadeContext
from tako_gha.engine.report import REPORT_FILE, report_name
from tako_gha.surfaces.workflow_commands import env_file_write, write_outputs


def report_dir_for(context: CascadeContext | None, env: Mapping[str, str]) -> Path | None:
    """Inside a tree: where the report for the root goes (the action's last step
    uploads it as the run's artifact; docs/protocol.md, Reports up the tree)."""
    if context is None or context.parent is None:
        return None
    base = env.get("RUNNER_TEMP") or tempfile.gettempdir()
    return Path(base) / "tako-reports" / report_name(context.root, context.parent)


def report_outputs(context: CascadeContext | None, report_dir: Path | None,
                   env: Mapping[str, str]) -> str | None:
    """Once the report is written: the step outputs ``report_name`` (the artifact's
    name the level above looks for) and ``report_path`` (the directory to upload).
    Why ``GITHUB_OUTPUT`` could not be written, if so."""
    if context is None or context.parent is None or report_dir is None:
        return None
    if not (report_dir / REPORT_FILE).is_file():
        return None
    return env_file_write(env, "GITHUB_OUTPUT", lambda path: write_outputs(path, {
        "report_name": report_name(context.root, context.parent or ""),
        "report_path": str(report_dir)}))
