"""Shipped workflows build payloads with toJSON(), never by pasting event data into JSON.

`payload: '{"version": "${{ github.event.release.tag_name }}"}'` lets a tag name
holding `"` close the string and add keys to every child's payload. Every workflow,
action and YAML example the project ships is scanned: JSON text must not hold a
`${{ }}`, and a payload computed from event data is one expression using toJSON()."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# a JSON member whose value is, or starts with, an expression: {"key": "${{ ... or {"key": ${{
_JSON_WITH_EXPRESSION = re.compile(r"""[{,]\s*\\?"[^"\n]*\\?"\s*:\s*\\?"?\$(?:''|\\)?\{\{""")
_ONE_EXPRESSION = re.compile(r"\A\$\{\{(?:(?!\$\{\{).)*\}\}\Z", re.DOTALL)
_YAML_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _shipped() -> list[Path]:
    files = [ROOT / "action.yml", ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    files += sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    files += sorted((ROOT / "docs" / "examples").rglob("*.yml"))
    files += sorted((ROOT / "tako_gha" / "demo_world").rglob("*.yml"))
    return files


def _documents(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8")
    blocks = _YAML_BLOCK.findall(text) if path.suffix == ".md" else [text]
    for block in blocks:
        try:
            yield yaml.safe_load(block)
        except yaml.YAMLError:
            if path.suffix != ".md":
                raise
            # a Markdown fragment with placeholders (`...`) is not a workflow


def _payloads(node: Any) -> Iterator[str]:
    """Every string given as a `payload` (an action input or an env value)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).lower() in ("payload", "tako_input_payload") and isinstance(value, str):
                yield value
            yield from _payloads(value)
    elif isinstance(node, list):
        for item in node:
            yield from _payloads(item)


def payload_problem(value: str) -> str | None:
    """Why this payload value interpolates into JSON text (None: it does not)."""
    value = value.strip()
    if "${{" not in value:
        return None  # literal JSON
    if not _ONE_EXPRESSION.match(value):
        return "JSON text with ${{ }} inside: build the whole payload in one expression"
    if "toJSON(" not in value and "inputs.payload" not in value:
        return "an expression that does not build its JSON with toJSON()"
    return None


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expression_inside_json_text(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    bad = [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
           for m in _JSON_WITH_EXPRESSION.finditer(text)]
    assert bad == []


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(ROOT)))
def test_payloads_are_literal_or_built_with_tojson(path: Path) -> None:
    problems = [(value, problem) for doc in _documents(path) for value in _payloads(doc)
                if (problem := payload_problem(value))]
    assert problems == []


def test_the_scan_sees_payloads_in_every_kind_of_file() -> None:
    seen = {p.relative_to(ROOT).as_posix(): list(v for d in _documents(p) for v in _payloads(d))
            for p in _shipped()}
    assert any("toJSON(github.event.release.tag_name)" in v for v in seen["README.md"])
    assert seen["docs/examples/workflows/release.yml"]
    assert seen["tako_gha/demo_world/acme/auth/dot-github/workflows/on-tako.yml"]
    assert seen["action.yml"] == ["${{ inputs.payload }}"]


@pytest.mark.parametrize("value", [
    """'{"version": "${{ github.event.release.tag_name }}"}'""",
    """{"version": "${{ github.event.release.tag_name }}", "ok": true}""",
    """{"n": ${{ github.run_number }}}""",
    """--payload '{"dedupe": "${{ github.event.client_payload.inputs.dedupe }}"}'""",
    """printf '%s' '{"v": "$''{{ github.sha }}"}'""",
])
def test_interpolated_json_is_caught(value: str) -> None:
    assert _JSON_WITH_EXPRESSION.search(value)


@pytest.mark.parametrize(("value", "problem"), [
    ('{"version": "1.0.0"}', None),
    ("${{ toJSON(github.event.client_payload.event) }}", None),
    ("""${{ format('{{"v": {0}}}', toJSON(github.event.release.tag_name)) }}""", None),
    ("${{ github.event.client_payload.inputs.json }}", "does not build"),
    ('{"v": "${{ toJSON(github.sha) }}"}', "JSON text with"),
    ("${{ toJSON(github.sha) }} ${{ github.ref }}", "JSON text with"),
])
def test_payload_rule(value: str, problem: str | None) -> None:
    found = payload_problem(value)
    assert (found is None) if problem is None else (problem in (found or ""))


HOSTILE = 'v2.0.0", "admin": "yes'


@pytest.mark.parametrize(("path", "context", "expected"), [
    ("docs/examples/workflows/release.yml", {"release": {"tag_name": HOSTILE}},
     {"version": HOSTILE, "build_status": "success"}),
    ("tako_gha/demo_world/acme/auth/dot-github/workflows/on-tako.yml",
     {"client_payload": {"inputs": {"version": HOSTILE}}},
     {"service": "auth", "version": HOSTILE}),
    ("tako_gha/demo_world/acme/billing/dot-github/workflows/on-tako.yml",
     {"client_payload": {"inputs": {"version": HOSTILE}}},
     {"service": "billing", "version": HOSTILE}),
    ("docs/examples/workflows/on-tako-and-fan-out.yml",
     {"repository": {"name": 'svc"x'}}, {"service": 'svc"x'}),
])
def test_a_quote_in_event_data_stays_inside_its_string(path: str, context: dict[str, Any],
                                                      expected: dict[str, str]) -> None:
    import json

    from tako_gha.emulator import expressions

    (value,) = [v for d in _documents(ROOT / path) for v in _payloads(d)]
    payload = expressions.to_string(
        expressions.interpolate_value(value, {"github": {"event": context}}))
    assert json.loads(payload) == expected
