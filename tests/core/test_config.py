"""The tako.yml loader (SPEC §2): model, diagnostics with file:line:col, JSON Schema."""

from __future__ import annotations

from pathlib import Path

from tako_gha.core.config import load_config, missing_config
from tako_gha.core.diagnostics import Diagnostic

FIXTURES = Path(__file__).parent / "fixtures"


def _load(text: str, repo: str | None = "acme/app"):
    return load_config(text, path="tako.yml", repo=repo)


def _codes(diags: list[Diagnostic]) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.col) for d in diags]


def test_valid_file_loads_everything() -> None:
    result = load_config((FIXTURES / "valid.yml").read_text(), path="x/tako.yml",
                         repo="acme/app")
    assert result.diagnostics == []
    assert result.ok and not result.missing
    cfg = result.config
    assert cfg is not None and cfg.repo == "acme/app" and cfg.path == "x/tako.yml"
    assert cfg.artifacts == {"default": "the core library", "docs": "the rendered docs",
                             "extra": ""}
    assert [(p.type, p.schema_version, p.line) for p in cfg.produces] == [
        ("library_built", "1.2.0", 9), ("docs_built", None, 11), ("docs_published", None, 12)]
    first, second = cfg.subscriptions
    assert (first.producer, first.artifact, first.events) == (
        "my-org/core-lib", "default", ["library_built"])
    assert first.schema_range is not None and first.schema_range.contains("1.5.0")
    assert not first.schema_range.contains("2.0.0")
    assert first.workflow == "rebuild.yml"
    assert set(first.inputs) == {"version", "source"}
    assert first.inputs["version"].paths == (".event.payload.version",)
    assert (first.index, first.line) == (0, 14)
    assert (second.producer, second.artifact, second.events) == (
        "other-org/tools", "default", ["tool_released", "tool_patched"])
    assert second.schema_range is None and second.filters == [] and second.inputs == {}
    assert (second.index, second.line) == (1, 24)


def test_missing_config_helper() -> None:
    result = missing_config("acme/app")
    assert result.missing and result.config is None and result.diagnostics == []
    assert result.ok and result.path == "tako.yml"


def test_unknown_key_with_suggestion_and_line() -> None:
    text = "version: 1\nevents:\n  subscriptions:\n    - artifact: a/b\n      events: [x]\n" \
           "      filter: [\"true\"]\n"
    result = _load(text)
    [diag] = result.diagnostics
    assert (diag.code, diag.line, diag.col) == ("unknown-key", 6, 7)
    assert diag.message == "unknown key 'filter' in subscriptions[0]; did you mean 'filters'?"
    assert diag.file == "tako.yml" and diag.hint
    assert result.config is not None and result.config.subscriptions == []
