"""The tako.yml loader (docs/tako-yml.md): model, diagnostics with file:line:col, JSON Schema."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tako_gha.core.config import (
    CODES,
    ArtifactRefError,
    ConfigResult,
    load_config,
    missing_config,
    parse_artifact_ref,
    schema,
    schema_text,
)
from tako_gha.core.config import loader as config_module
from tako_gha.core.config.shape import _validator
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


# --------------------------------------------------------------------------- exact positions

HEAD = "version: 1\nevents:\n  subscriptions:\n"


def _sub(body: str) -> str:
    """A file whose one subscription is ``body`` (lines indented under ``- ``), from line 4."""
    lines = body.strip("\n").split("\n")
    return HEAD + "    - " + lines[0] + "\n" + "".join(f"      {ln}\n" for ln in lines[1:])


POSITIONS = [
    # (name, text, code, line, col, words in the message)
    ("tab", "version: 1\n\tevents: {}\n", "yaml-syntax", 2, 1, "invalid YAML"),
    ("unclosed-flow", "version: 1\nevents: {subscriptions: [\n", "yaml-syntax", 3, 1,
     "invalid YAML"),
    ("bad-indent", "version: 1\nevents:\n  produces: []\n bad: 1\n", "yaml-syntax", 4, 2,
     "invalid YAML"),
    ("not-mapping", "# top\n- version: 1\n", "not-mapping", 2, 1, "got a list"),
    ("missing-version", "\nevents: {}\n", "missing-version", 2, 1, "version is missing"),
    ("bad-version", "version: 2\n", "bad-version", 1, 10, "version must be 1, got 2"),
    ("unknown-top", "version: 1\nevent:\n  subscriptions: []\n", "unknown-key", 2, 1,
     "unknown key 'event' at the top level; did you mean 'events'?"),
    ("unknown-events", "version: 1\nevents:\n  subscribe: []\n", "unknown-key", 3, 3,
     "unknown key 'subscribe' in events; did you mean 'subscriptions'?"),
    ("unknown-sub", _sub("artifact: a/b\nevents: [x]\nworkflows: a.yml"), "unknown-key",
     6, 7, "did you mean 'workflow'?"),
    ("events-not-list", _sub("artifact: a/b\nevents: x"), "wrong-type", 5, 15,
     "subscriptions[0].events must be a list, got a string"),
    ("subs-not-list", "version: 1\nevents:\n  subscriptions: {artifact: a/b}\n",
     "wrong-type", 3, 18, "events.subscriptions must be a list, got a mapping"),
    ("bad-owner", _sub("artifact: -acme/lib\nevents: [x]"), "bad-artifact", 4, 17,
     "owner '-acme' in '-acme/lib' is not a valid GitHub owner name"),
    ("no-slash", _sub("events: [x]\nartifact: core-lib"), "bad-artifact", 5, 17,
     "'core-lib' is not owner/repo"),
    ("missing-artifact", _sub("events: [x]"), "missing-key", 4, 7,
     "subscriptions[0] is missing the required key 'artifact'"),
    ("empty-events", _sub("artifact: a/b\nevents: []"), "bad-events", 5, 15,
     "subscriptions[0].events must not be empty"),
    ("event-number", _sub("artifact: a/b\nevents:\n  - ok\n  - 12"), "bad-event", 7, 11,
     "subscriptions[0].events[1]: an event must be an event type string or a mapping"),
    ("event-mapping-typo", _sub("artifact: a/b\nevents: [{typ: x}]"), "unknown-key", 5, 17,
     "unknown key 'typ' in subscriptions[0].events[0]; did you mean 'type'?"),
    ("event-empty-string", _sub("artifact: a/b\nevents: ['']"), "bad-event-type", 5, 16,
     "subscriptions[0].events[0] must not be empty"),
    # range errors point inside the value (after the quote), at the part in error
    ("bad-range", _sub("artifact: a/b\nevents: [x]\nschema_version: '>>1.0'"), "bad-range",
     6, 25, "invalid version range '>>1.0'"),
    # a number too big for 64 bits is kept as written (it was an internal error at 1:1)
    ("version-huge-hex", "version: 0x" + "9" * 5000 + "\n", "bad-version", 1, 10,
     "version must be 1, got \"0x999"),
    ("produces-huge-number", "version: 1\nevents:\n  produces:\n    - type: x\n"
     "      schema_version: 1.0." + "9" * 5000 + "\n", "bad-schema-version", 5, 23,
     "a number of 5,000 digits at column 5 is too large"),
    ("range-huge-number",
     _sub("artifact: a/b\nevents: [x]\nschema_version: '>=1 <" + "9" * 5000 + "'"),
     "bad-range", 6, 29, "a number of 5,000 digits is too large (at most 19)"),
    # template errors point inside the value (after the quote), at the placeholder
    ("bad-template", _sub("artifact: a/b\nevents: [x]\ninputs:\n  v: 'v{{ .version }}'"),
     "bad-template", 7, 14, "subscriptions[0].inputs.v: template path .version names no field"),
    ("unclosed-template", _sub("artifact: a/b\nevents: [x]\ninputs:\n  v: a {{ .event.type"),
     "bad-template", 7, 14, "unclosed '{{'"),
    ("input-number", _sub("artifact: a/b\nevents: [x]\ninputs:\n  n: 3"), "wrong-type", 7, 12,
     "subscriptions[0].inputs.n must be a string, got the number 3"),
    ("input-key-number", _sub("artifact: a/b\nevents: [x]\ninputs:\n  1: x"), "key-not-string",
     7, 9, "key '1' in subscriptions[0].inputs is not a string"),
    ("workflow-path", _sub("artifact: a/b\nevents: [x]\nworkflow: .github/workflows/r.yml"),
     "bad-workflow", 6, 17, "a workflow file name is needed, not a path"),
    ("workflow-ext", _sub("artifact: a/b\nevents: [x]\nworkflow: rebuild"), "bad-workflow",
     6, 17, "'rebuild' is not a workflow file name ending in .yml or .yaml"),
    ("filters-string", _sub("artifact: a/b\nevents: [x]\nfilters: 'true'"), "wrong-type",
     6, 16, "subscriptions[0].filters must be a list, got a string"),
    ("produces-no-type", "version: 1\nevents:\n  produces:\n    - schema_version: 1.0.0\n",
     "missing-key", 4, 7, "produces[0] is missing the required key 'type'"),
    ("produces-bad-version",
     "version: 1\nevents:\n  produces:\n    - type: t\n      schema_version: one\n",
     "bad-schema-version", 5, 23, "produces[0].schema_version: 'one' is not a semantic version"),
    ("produces-number", "version: 1\nevents:\n  produces: [7]\n", "bad-produces", 3, 14,
     "produces[0]: a produced event must be a mapping"),
    ("duplicate-key", _sub("artifact: a/b\nevents: [x]\nartifact: c/d"), "duplicate-key", 6, 7,
     "duplicate key 'artifact' in subscriptions[0]"),
    ("bad-artifact-name", "version: 1\nartifacts:\n  ok: {}\n  _bad: {}\n",
     "bad-artifact-name", 4, 3, "bad artifact name '_bad'"),
    ("artifact-value", "version: 1\nartifacts:\n  lib: [1]\n", "wrong-type", 3, 8,
     "artifacts.lib: an artifact must be a mapping"),
    ("artifact-key-typo", "version: 1\nartifacts:\n  lib: {desc: x}\n", "unknown-key", 3, 9,
     "unknown key 'desc' in artifacts.lib; did you mean 'description'?"),
    ("unknown-tag", "version: 1\nartifacts: !custom {}\n", "unknown-tag", 2, 12,
     "unsupported YAML tag !custom"),
    ("event-too-long", _sub("artifact: a/b\nevents: [" + "e" * 101 + "]"), "bad-event-type",
     5, 16, "is 101 characters long, more than 100"),
    ("self-subscription", _sub("artifact: acme/app:lib\nevents: [x]"), "self-subscription",
     4, 17, "subscribes acme/app to its own events"),
]


LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(("text", "code", "line", "col", "words"),
                         [p[1:] for p in POSITIONS], ids=[p[0] for p in POSITIONS])
def test_diagnostic_position(text: str, code: str, line: int, col: int, words: str,
                             loader: type, monkeypatch: pytest.MonkeyPatch) -> None:
    # Same positions whether PyYAML runs with libyaml (the default when present) or not.
    monkeypatch.setattr(config_module, "_LOADER", loader)
    result = _load(text)
    found = [d for d in result.diagnostics if d.code == code]
    assert found, result.diagnostics
    diag = found[0]
    assert (diag.line, diag.col) == (line, col), diag.format()
    assert words in diag.message
    assert diag.hint and "\n" not in diag.hint
    assert diag.file == "tako.yml"
    assert diag.format().startswith(f"tako.yml:{line}:{col}: ")
    # one problem -> one diagnostic (no echo of the same problem from schema and Python)
    assert len(result.diagnostics) == 1, [d.format() for d in result.diagnostics]


# --------------------------------------------------------------------------- keeping and dropping

MIXED = """\
version: 1
events:
  subscriptions:
    - artifact: acme/good-one
      events: [built]
    - artifact: acme/bad one
      events: [built]
    - artifact: acme/good-two
      events: [{type: built}, released]
      inputs: {v: "{{ .event.wrong }}"}
    - artifact: acme/good-three:docs
      events: [built]
"""


def test_bad_subscriptions_are_dropped_and_the_rest_kept() -> None:
    result = _load(MIXED)
    assert not result.ok
    assert [(d.code, d.line) for d in result.diagnostics] == [
        ("bad-artifact", 6), ("bad-template", 10)]
    cfg = result.config
    assert cfg is not None
    assert [(s.index, s.artifact_ref, s.line) for s in cfg.subscriptions] == [
        (0, "acme/good-one:default", 4), (3, "acme/good-three:docs", 11)]
    assert cfg.subscriptions[1].describe() == "subscriptions[3] (acme/good-three:docs)"


@pytest.mark.parametrize(
    "text",
    ["a: [\n", "- 1\n", "just text\n", "version: 2\nevents: {}\n", "version: '1'\n",
     "version: true\n", "version: [1]\n", "version: 1\n---\nversion: 1\n"],
)
def test_unusable_files_have_no_config(text: str) -> None:
    result = _load(text)
    assert result.config is None and not result.ok and not result.missing
    assert all(d.line >= 1 for d in result.diagnostics)


def test_missing_version_is_an_error_but_the_rest_is_kept() -> None:
    result = _load("events:\n  subscriptions:\n    - {artifact: a/b, events: [x]}\n")
    assert _codes(result.diagnostics) == [("missing-version", 1, 1)]
    assert result.config is not None and len(result.config.subscriptions) == 1


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n", "---\n",
                                  "~\n", "null\n"])
def test_empty_file_is_a_warning(text: str) -> None:
    result = _load(text)
    assert _codes(result.diagnostics) == [("empty-file", 1, 1)]
    assert result.ok and result.config is not None and result.config.subscriptions == []
    assert "empty tako.yml" in result.diagnostics[0].message


def test_minimal_and_null_sections() -> None:
    for text in ["version: 1\n", "version: 1\nevents:\n", "version: 1\nartifacts:\nevents:\n"
                 "  produces:\n  subscriptions:\n"]:
        result = _load(text)
        assert result.diagnostics == [] and result.config is not None
        assert result.config.subscriptions == [] and result.config.produces == []


def test_null_optional_fields_of_a_subscription() -> None:
    result = _load(_sub("artifact: a/b\nevents: [x]\nfilters:\ninputs:\nschema_version:"))
    assert result.diagnostics == []
    [sub] = result.config.subscriptions
    assert sub.filters == [] and sub.inputs == {} and sub.schema_range is None


def test_diagnostics_are_in_file_order() -> None:
    text = _sub("artifact: a b\nevents: []\nworkflow: x\ninputs: {a: 1}") + "zzz: 1\n"
    result = _load(text)
    lines = [(d.line, d.col) for d in result.diagnostics]
    assert lines == sorted(lines) and len(lines) == 5


# --------------------------------------------------------------------------- warnings


def test_duplicate_subscription_warns_and_keeps_both() -> None:
    text = HEAD + (
        "    - artifact: acme/lib\n      events: [a, b]\n"
        "    - artifact: ACME/lib:default\n      events: [b, a]\n"
        "    - artifact: acme/lib\n      events: [a, b]\n      schema_version: '^2'\n"
    )
    result = _load(text)
    assert _codes(result.diagnostics) == [("duplicate-subscription", 6, 7)]
    diag = result.diagnostics[0]
    assert not diag.is_error and "duplicates subscriptions[0] (line 4)" in diag.message
    assert result.ok and len(result.config.subscriptions) == 3


def test_self_subscription_is_a_kept_warning_and_needs_the_repo() -> None:
    text = _sub("artifact: Acme/App\nevents: [x]")
    result = _load(text, repo="acme/app")
    assert [d.code for d in result.diagnostics] == ["self-subscription"]
    assert result.ok and len(result.config.subscriptions) == 1
    assert _load(text, repo=None).diagnostics == []
    assert _load(text, repo=None).repo == ""


def test_duplicate_produces_warns() -> None:
    text = "version: 1\nevents:\n  produces:\n    - built\n    - {type: built}\n"
    result = _load(text)
    assert _codes(result.diagnostics) == [("duplicate-produces", 5, 7)]
    assert [p.type for p in result.config.produces] == ["built"]


# --------------------------------------------------------------------------- values


def test_versions_are_read_as_written_not_as_floats() -> None:
    text = ("version: 1\nevents:\n  produces:\n    - {type: a, schema_version: 1.10}\n"
            "    - {type: b, schema_version: 2}\n    - {type: c, schema_version: v1.2.3-rc.1}\n"
            "  subscriptions:\n    - {artifact: o/r, events: [x], schema_version: 1.10}\n")
    result = _load(text)
    assert result.diagnostics == []
    assert [p.schema_version for p in result.config.produces] == ["1.10.0", "2.0.0",
                                                                    "1.2.3-rc.1"]
    rng = result.config.subscriptions[0].schema_range
    assert rng.contains("1.10.5") and not rng.contains("1.1.0")


def test_produced_version_lookup() -> None:
    cfg = load_config((FIXTURES / "valid.yml").read_text()).config
    assert cfg.produced_version("library_built") == "1.2.0"
    assert cfg.produced_version("docs_built") is None
    assert cfg.produces_type("docs_published") and not cfg.produces_type("nope")


def test_events_are_normalised_to_unique_strings() -> None:
    result = _load(_sub("artifact: a/b\nevents: [x, {type: y}, x]"))
    assert result.config.subscriptions[0].events == ["x", "y"]


def test_inputs_are_templates_that_render() -> None:
    from tako_gha.core.events import Event
    from tako_gha.core.templates import context_for

    result = load_config((FIXTURES / "valid.yml").read_text())
    inputs = result.config.subscriptions[0].inputs
    ctx = context_for(Event("library_built", "my-org/core-lib", {"version": "2.1.0"}))
    assert {k: t.render(ctx) for k, t in inputs.items()} == {
        "version": "2.1.0", "source": "from my-org/core-lib"}


def test_anchors_and_merge_keys() -> None:
    text = """\
version: 1
events:
  subscriptions:
    - &base
      artifact: acme/lib
      events: [built]
      workflow: ci.yml
    - <<: *base
      artifact: acme/other
    - <<: [*base]
      events: [released]
"""
    result = _load(text)
    assert result.diagnostics == []
    subs = result.config.subscriptions
    assert [(s.producer, s.events, s.workflow) for s in subs] == [
        ("acme/lib", ["built"], "ci.yml"), ("acme/other", ["built"], "ci.yml"),
        ("acme/lib", ["released"], "ci.yml")]


def test_bad_merge_keeps_own_keys() -> None:
    result = _load("version: 1\n<<: 3\nevents: {}\n")
    assert _codes(result.diagnostics) == [("bad-merge", 2, 5)]
    assert result.config is not None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("&a [*a]\n", "recursive-alias"),
        ("version: 1\nevents: &e {subscriptions: [*e]}\n", "recursive-alias"),
        ("[" * 3000 + "]" * 3000, "too-large"),
        ("a: &a [1,2,3,4,5,6,7,8,9,0]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
         "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
         "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
         "too-large"),
        ("x:\n" + "".join("  " * i + "- \n" for i in range(1, 80)), "too-large"),
    ],
    ids=["self-alias", "nested-self-alias", "deep-brackets", "alias-bomb", "deep-blocks"],
)
def test_hostile_yaml_is_refused_quickly(text: str, code: str) -> None:
    result = _load(text)
    assert code in [d.code for d in result.diagnostics]
    assert result.config is None or not result.ok


@pytest.mark.parametrize(
    ("key", "code"),
    [("on", "key-not-string"), ("1", "key-not-string"), ("[a]", "key-not-string"),
     ("{a: 1}", "key-not-string"), ("~", "key-not-string")],
)
def test_non_string_keys(key: str, code: str) -> None:
    result = _load(f"version: 1\n? {key}\n: x\n")
    assert [d.code for d in result.diagnostics] == [code]
    assert result.diagnostics[0].line == 2


def test_strange_scalars_become_text() -> None:
    # A timestamp or binary where a string is expected is a type error on the text,
    # never a crash while serialising non-JSON values.
    result = _load(_sub("artifact: a/b\nevents: [2001-12-14, !!binary aGVsbG8=]"))
    assert result.ok
    assert result.config.subscriptions[0].events == ["2001-12-14", "aGVsbG8="]


def test_reader_error_has_a_position() -> None:
    result = _load("version: 1\nx: \x01\n")
    assert _codes(result.diagnostics) == [("yaml-syntax", 2, 4)]


def test_multiple_problems_in_one_subscription_are_all_reported() -> None:
    text = _sub("artifact: bad\nevents: [x]\nschema_version: '^^'\nworkflow: a\n"
                "inputs: {v: '{{ .x }}'}")
    result = _load(text)
    assert [d.code for d in result.diagnostics] == [
        "bad-artifact", "bad-range", "bad-workflow", "bad-template"]
    assert result.config.subscriptions == []


# --------------------------------------------------------------------------- artifact refs

@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("my-org/core-lib", ("my-org/core-lib", "default")),
        ("my-org/core-lib:default", ("my-org/core-lib", "default")),
        ("a/b:docs.v2", ("a/b", "docs.v2")),
        ("A1/.github", ("A1/.github", "default")),
        ("o/repo_name.x-y", ("o/repo_name.x-y", "default")),
        ("a" * 39 + "/r", ("a" * 39 + "/r", "default")),
        # legacy account names: double and trailing hyphens exist on GitHub
        ("ac--me/lib", ("ac--me/lib", "default")),
        ("acme-/lib", ("acme-/lib", "default")),
        ("o/" + "r" * 100, ("o/" + "r" * 100, "default")),
    ],
)
def test_artifact_refs_ok(ref: str, expected: tuple[str, str]) -> None:
    assert parse_artifact_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("core-lib", "is not owner/repo"),
        ("/core-lib", "empty owner"),
        ("acme/", "empty repository"),
        ("acme/lib:", "names no artifact"),
        ("acme/a/b", "more than one '/'"),
        ("-acme/lib", "not a valid GitHub owner"),
        ("ac_me/lib", "not a valid GitHub owner"),
        ("a" * 40 + "/lib", "longer than 39"),
        ("acme/" + "r" * 101, "longer than 100"),
        ("acme/li b", "not a valid name"),
        ("acme/..", "not a valid name"),
        ("acme/.", "not a valid name"),
        ("acme/lib.git", "ends with .git"),
        ("acme/lib:-x", "bad artifact name"),
        ("acme/lib:a b", "bad artifact name"),
    ],
)
def test_artifact_refs_bad(ref: str, words: str) -> None:
    with pytest.raises(ArtifactRefError) as info:
        parse_artifact_ref(ref)
    assert words in info.value.message and info.value.hint


@given(st.text(alphabet="ab-_.:/9Z", max_size=14))
def test_schema_pattern_agrees_with_python_check(ref: str) -> None:
    # Editors use the schema's regex; the loader uses parse_artifact_ref. Same verdict.
    pattern = schema()["$defs"]["subscription"]["properties"]["artifact"]["pattern"]
    try:
        parse_artifact_ref(ref)
        ok = True
    except ArtifactRefError:
        ok = False
    assert ok == bool(re.search(pattern, ref))


@given(st.text(alphabet="ab_.-/\\ ym", max_size=12))
def test_workflow_pattern_agrees_with_python_check(name: str) -> None:
    pattern = schema()["$defs"]["subscription"]["properties"]["workflow"]["pattern"]
    result = _load(_sub(f"artifact: a/b\nevents: [x]\nworkflow: {json.dumps(name)}"))
    assert result.ok == bool(re.search(pattern, name))


# --------------------------------------------------------------------------- the schema


def test_schema_is_valid_package_data_and_accepts_the_examples() -> None:
    data = schema()
    jsonschema.Draft202012Validator.check_schema(data)
    assert json.loads(schema_text()) == data
    packaged = resources.files("tako_gha.core").joinpath("tako.schema.json")
    assert packaged.is_file()
    example = yaml.safe_load((FIXTURES / "valid.yml").read_text())
    assert list(jsonschema.Draft202012Validator(data).iter_errors(example)) == []


def test_schema_rejects_what_the_loader_rejects() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    bad = yaml.safe_load(_sub("artifact: a/b\nevents: []\nfilter: [x]"))
    assert len(list(validator.iter_errors(bad))) == 2


def test_every_code_is_documented() -> None:
    text = MIXED + "bogus: 1\n"
    for d in _load(text).diagnostics:
        assert d.code in CODES


# --------------------------------------------------------------------------- never raises

_KEYS = ["version", "artifacts", "events", "produces", "subscriptions", "artifact", "type",
         "filters", "inputs", "workflow", "schema_version", "description", "x", "a\nb"]
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
    st.sampled_from(["a/b", "acme/lib:docs", "^1.0", ">>", "rebuild.yml", "{{ .event.type }}",
                     "{{ .x }}", "1.2.0", "", "x", "event.payload.ok == true", "a\n/b",
                     "{{\n.event.type}}", "event.type ==\n"]),
    st.text(max_size=8),
)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)),
    max_leaves=25,
)


def _check_result(result: ConfigResult) -> None:
    assert isinstance(result, ConfigResult)
    for d in result.diagnostics:
        assert d.code in CODES and d.code != "internal-error", d.format()
        assert d.hint and d.message
        assert "\n" not in d.hint and "\n" not in d.message, d.format()
        assert d.line >= 1, d.format()


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_random_text_never_raises(text: str) -> None:
    _check_result(_load(text))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _TREES, max_size=4),
       st.sampled_from([None, "x", "events"]))
def test_fuzz_random_nested_yaml_never_raises(tree: dict, wrap: str | None) -> None:
    data = {"version": 1, wrap: tree} if wrap else tree
    _check_result(_load(yaml.safe_dump(data, default_flow_style=False)))
    _check_result(_load(yaml.safe_dump(data, default_flow_style=True)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _TREES, max_size=6), max_size=3))
def test_fuzz_random_subscriptions_never_raise(subs: list) -> None:
    text = yaml.safe_dump({"version": 1, "events": {"subscriptions": subs}})
    result = _load(text)
    _check_result(result)
    # A kept subscription always has a producer and at least one event type.
    for sub in result.config.subscriptions:
        assert "/" in sub.producer and sub.events


# --------------------------------------------------------------------------- odd corners


def test_scalar_with_unknown_tag_and_impossible_timestamp() -> None:
    result = _load(_sub("artifact: !repo a/b\nevents: [2001-13-45]"))
    assert [(d.code, d.line, d.col) for d in result.diagnostics] == [("unknown-tag", 4, 17)]
    # the impossible date is kept as the text written, a valid event type
    result = _load(_sub("artifact: a/b\nevents: [2001-13-45]"))
    assert result.ok and result.config.subscriptions[0].events == ["2001-13-45"]


def test_key_with_unknown_tag() -> None:
    result = _load("version: 1\n? !k x\n: 1\n")
    assert [d.code for d in result.diagnostics] == ["unknown-key"]


def test_recursive_merge_is_refused() -> None:
    result = _load("version: 1\nartifacts: &a {b: {}, <<: *a}\n")
    assert _codes(result.diagnostics) == [("recursive-alias", 2, 12)]
    assert result.config.artifacts == {"b": ""}


def test_odd_key_names_are_quoted_in_messages() -> None:
    result = _load(_sub("artifact: a/b\nevents: [x]\ninputs: {'a b': 3, '': x}"))
    messages = [d.message for d in result.diagnostics]
    assert "subscriptions[0].inputs['a b'] must be a string, got the number 3" in messages
    assert "key '' in subscriptions[0].inputs is not allowed" in messages


def test_a_loader_bug_becomes_a_diagnostic(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(config_module._Builder, "build", boom)
    result = _load("version: 1\n")
    assert result.config is None
    assert [d.code for d in result.diagnostics] == ["internal-error"]
    assert "KeyError" in result.diagnostics[0].message


def test_unmarked_yaml_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def compose(*args: object, **kwargs: object) -> None:
        raise yaml.YAMLError("strange")

    monkeypatch.setattr(yaml, "compose", compose)
    result = _load("version: 1\n")
    assert [(d.code, d.line) for d in result.diagnostics] == [("yaml-syntax", 1)]
    assert "strange" in result.diagnostics[0].message


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("a: b: c\n", "quote values"),
        ("a: 'x\n", "not closed"),
        ("- a\nb: 1\n", "line up"),
        ("a: *nope\n", "define the anchor"),
        ("a:\n  - x\n - y\n", "line up"),
        ("version: 1\n\tevents: {}\n", "tabs"),
        ("a: [x, y\nb: 1\n", "not closed with ']'"),
        ("a: {x: 1\nb: 1\n", "not closed with '}'"),
    ],
)
def test_yaml_syntax_hints(text: str, hint: str) -> None:
    [diag] = _load(text).diagnostics
    assert diag.code == "yaml-syntax" and hint in diag.hint and diag.line >= 1


# --------------------------------------------------------------------------- CEL filters


def test_filters_are_compiled_once_and_kept() -> None:
    from tako_gha.core.cel import activation_for, compile_filter
    from tako_gha.core.events import Event

    result = load_config((FIXTURES / "valid.yml").read_text())
    filters = result.config.subscriptions[0].filters
    assert [f.source for f in filters] == ['event.payload.build_status == "success"',
                                           "semver.major(event.payload.version) >= 2"]
    assert filters[0] is compile_filter('event.payload.build_status == "success"')
    event = Event("library_built", "my-org/core-lib",
                  {"build_status": "success", "version": "2.1.0"})
    assert all(f.evaluate(activation_for(event, "acme/app")).matched for f in filters)


def test_bad_filters_point_at_the_column_of_the_problem() -> None:
    result = load_config((FIXTURES / "bad_filters.yml").read_text(), path="bad.yml")
    got = [(d.code, d.line, d.col) for d in result.diagnostics]
    assert got == [
        ("bad-filter", 7, 27),   # plain scalar: the column inside the expression
        ("bad-filter", 8, 12),   # double-quoted: after the quote
        ("bad-filter", 9, 11),   # not a bool: no column, the start of the filter
        ("bad-filter", 10, 11),  # '' escapes before the spot: the start of the filter
        ("bad-filter", 12, 22),  # folded block scalar: its row and column
        ("bad-filter", 13, 11),  # escapes: the start of the filter
        ("bad-filter", 14, 20),
    ]
    messages = [d.message for d in result.diagnostics]
    assert messages[1] == "subscriptions[0].filters[1]: unknown name 'foo'"
    assert "not bool" in messages[2]
    assert all(d.hint for d in result.diagnostics)
    assert result.config.subscriptions == []


def test_errors_inside_block_scalars_point_at_their_row() -> None:
    # Long filters are often written as | or > blocks; lint pointed at the '|' line,
    # two or more rows above the mistake.
    text = """\
version: 1
events:
  subscriptions:
    - artifact: a/b
      events: [x]
      filters:
        - |
          event.payload.ok &&
          semver.nope(1)
        - >-
          event.payload.ok &&
          evnt.x
        - |-
          event.payload.ok
            && evnt.x
      inputs:
        a: >-
          {{ .event.type }}
          {{ .event.typo }}
        b: |
          line one
          {{ .evnt.x }}
"""
    result = load_config(text, path="blocks.yml")
    got = [(d.line, d.col) for d in result.diagnostics]
    assert got == [
        (9, 18),   # literal block: semver.nope, 'nope' as on one line
        (12, 11),  # folded block: evnt on the second row
        (13, 11),  # a more-indented row: not plainly the value, so the block's start
        (19, 11),  # folded template: the second placeholder
        (20, 12),  # a template's column is an offset in the whole text: the start
    ]


def test_filter_over_a_limit_names_it() -> None:
    deep = "(" * 80 + "true" + ")" * 80
    result = _load(_sub(f"artifact: a/b\nevents: [x]\nfilters: ['{deep}']"))
    [diag] = result.diagnostics
    assert diag.code == "filter-limit" and "max_depth" in diag.message
    assert (diag.line, diag.col) == (6, 68)  # the 51st "(" (the expression starts at 18)


def test_costly_filters_warn_at_the_comprehension() -> None:
    # Nested comprehensions over payload lists: fine on a small payload, quadratic on a
    # big one. lint warns (the file still loads) at the outer comprehension.
    nested = "event.payload.l.exists(x, event.payload.l.exists(y, x == y))"
    result = _load(_sub(f"artifact: a/b\nevents: [x]\nfilters: ['true', '{nested}']"))
    [diag] = result.diagnostics
    assert diag.code == "costly-filter" and not diag.is_error
    assert "square" in diag.message and diag.message.startswith("subscriptions[0].filters[1]")
    assert (diag.line, diag.col) == (6, 26)  # where the expression starts
    assert "docs/filters.md" in diag.hint
    assert result.ok and len(result.config.subscriptions[0].filters) == 2
    cheap = "event.payload.l.exists(x, x == 1)"
    assert _load(_sub(f"artifact: a/b\nevents: [x]\nfilters: ['{cheap}']")).diagnostics == []


def test_annotated_fixture() -> None:
    text = (FIXTURES / "invalid.yml").read_text()
    expected = []
    for number, row in enumerate(text.split("\n"), start=1):
        found = re.search(r"# expect: ([a-z-]+)@(\d+)$", row)
        if found:
            expected.append((found.group(1), number, int(found.group(2))))
    result = load_config(text, path="invalid.yml", repo="acme/app")
    assert _codes(result.diagnostics) == expected
    assert len(expected) >= 15
    # survivors: the first subscription, its duplicate, the self-subscription (warnings)
    assert [s.index for s in result.config.subscriptions] == [0, 8, 9]


def test_unclosed_bracket_says_where_it_opened() -> None:
    [diag] = _load(_sub("artifact: a/b\nevents: [x\nworkflow: a.yml")).diagnostics
    assert diag.code == "yaml-syntax"
    assert "(started on line 5, column 15)" in diag.message


def test_bytes_are_decoded_as_utf8() -> None:
    text = (FIXTURES / "valid.yml").read_bytes()
    assert load_config(b"\xef\xbb\xbf" + text).diagnostics == []
    result = load_config(b"version: 1\nx: \xff\n")
    assert _codes(result.diagnostics) == [("yaml-syntax", 1, 1)]
    assert "not UTF-8" in result.diagnostics[0].message and result.config is None


def test_oversized_file_is_refused() -> None:
    result = _load("version: 1\n" + "# padding\n" * 120_000)
    assert [d.code for d in result.diagnostics] == ["too-large"]
    assert result.config is None


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    _check_result(load_config(data))


def test_messages_stay_on_one_line_whatever_the_input() -> None:
    text = 'version: 1\n"a\\nb": 1\nevents:\n  subscriptions:\n' \
           '    - {artifact: "x\\ny", events: [e], inputs: {v: "{{\\n.x }}"}}\n'
    result = _load(text)
    assert [d.code for d in result.diagnostics] == ["unknown-key", "bad-artifact",
                                                    "bad-template"]
    assert "unknown key 'a\\nb'" in result.diagnostics[0].message
    _check_result(result)


def test_a_key_at_the_wrong_level_says_where_it_belongs() -> None:
    result = _load("version: 1\nsubscriptions:\n  - {artifact: a/b, events: [x]}\n")
    [diag] = result.diagnostics
    assert diag.message == "unknown key 'subscriptions' at the top level; it belongs under " \
                           "'events:'"
    assert diag.hint == "indent 'subscriptions:' under 'events:'"
    assert (diag.line, diag.col) == (2, 1)


def test_deep_nesting_with_the_pure_python_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "_LOADER", yaml.SafeLoader)
    result = _load("[" * 5000 + "]" * 5000)
    assert _codes(result.diagnostics) == [("too-large", 1, 1)]
    assert result.config is None


def test_inlined_schema_judges_like_the_shipped_one() -> None:
    shipped = jsonschema.Draft202012Validator(schema())
    for name in ("valid.yml", "invalid.yml", "bad_filters.yml"):
        data = yaml.safe_load((FIXTURES / name).read_text())
        expected = sorted((list(e.absolute_path), e.validator) for e in shipped.iter_errors(data))
        got = sorted((list(e.absolute_path), e.validator)
                     for e in _validator().iter_errors(data))
        assert got == expected
