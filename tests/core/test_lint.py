"""core/lint.py is pure: workflow texts and configs in, diagnostics out (no file read)."""

from __future__ import annotations

from pathlib import Path

from tako_gha.core.ids import RUN_NAME_LINE
from tako_gha.core.lint import RUN_NAME_HINT, lint_workflows

LISTENER = "on:\n  repository_dispatch:\n    types: [built]\njobs: {}\n"


def test_workflow_texts_in_run_name_warnings_out_in_file_order() -> None:
    files = [
        (Path("a.yml"), LISTENER),  # listens, no run-name
        (Path("b.yml"), OSError("permission denied")),  # could not be read
        (Path("c.yml"), RUN_NAME_LINE + "\n" + LISTENER),  # fine
        (Path("d.yml"), "run-name: ${{ github.workflow }}\n" + LISTENER),  # no title
        (Path("e.yml"), "on: [push\n"),  # not YAML
    ]
    infos, problems = lint_workflows(files)
    assert [i.path.name for i in infos] == ["a.yml", "c.yml", "d.yml"]
    assert infos[0].listens and infos[0].types == ["built"]
    assert [(p.file, p.code) for p in problems] == [
        ("a.yml", "run-name"), ("b.yml", "workflow-read"), ("d.yml", "run-name"),
        ("e.yml", "workflow-yaml")]
    assert problems[0].hint == RUN_NAME_HINT and (problems[0].line, problems[0].col) == (2, 3)
    assert (problems[2].line, problems[2].col) == (1, 11)
