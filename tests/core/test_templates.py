"""Input templates (docs/tako-yml.md, Templates)."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tako_gha.core.events import Event
from tako_gha.core.templates import TemplateError, context_for, parse_template

EVENT = Event(
    type="library_built",
    source="my-org/core-lib",
    schema_version="1.2.0",
    payload={
        "version": "2.1.0",
        "build": {"status": "success", "number": 42, "ok": True, "ratio": 0.5},
        "services": ["user-service", "billing"],
        "empty": None,
        "with-dash": "d",
        "ünï": "u",
    },
)
CTX = context_for(EVENT)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ .event.payload.version }}", "2.1.0"),
        ("{{.event.payload.version}}", "2.1.0"),
        ("{{   .event.type   }}", "library_built"),
        ("{{ .event.source }}", "my-org/core-lib"),
        ("{{ .event.schema_version }}", "1.2.0"),
        ("v{{ .event.payload.version }}-rc", "v2.1.0-rc"),
        ("{{ .event.type }}@{{ .event.payload.version }}", "library_built@2.1.0"),
        ("no placeholders at all", "no placeholders at all"),
        ("", ""),
        ("a }} b", "a }} b"),  # a lone closing pair is ordinary text, as in Go
        # non-strings render as compact JSON
        ("{{ .event.payload.build.number }}", "42"),
        ("{{ .event.payload.build.ok }}", "true"),
        ("{{ .event.payload.build.ratio }}", "0.5"),
        ("{{ .event.payload.empty }}", "null"),
        ("{{ .event.payload.services }}", '["user-service","billing"]'),
        ("n={{ .event.payload.build.number }}", "n=42"),
        ("{{ .event.payload.services.1 }}", "billing"),
        ("{{ .event.payload.with-dash }}", "d"),
    ],
)
def test_render(source: str, expected: str) -> None:
    assert parse_template(source).render(CTX) == expected


def test_whole_payload_and_mapping_render_as_json() -> None:
    out = parse_template("{{ .event.payload.build }}").render(CTX)
    assert json.loads(out) == EVENT.payload["build"]
    assert " " not in out  # compact
    assert json.loads(parse_template("{{ .event.payload }}").render(CTX)) == EVENT.payload


def test_non_ascii_kept_verbatim() -> None:
    ctx = context_for(Event("t", "o/r", payload={"name": "café", "l": ["ü"]}))
    assert parse_template("{{ .event.payload.name }}").render(ctx) == "café"
    assert parse_template("{{ .event.payload.l }}").render(ctx) == '["ü"]'


def test_source_and_paths() -> None:
    t = parse_template("x {{ .event.type }} {{.event.payload.a.b}}")
    assert t.source == "x {{ .event.type }} {{.event.payload.a.b}}"
    assert str(t) == t.source
    assert t.paths == (".event.type", ".event.payload.a.b")
    assert parse_template("plain").paths == ()


def test_missing_schema_version_renders_null() -> None:
    ctx = context_for(Event("t", "o/r"))
    assert parse_template("{{ .event.schema_version }}").render(ctx) == "null"


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("{{ .foo }}", "must start with .event"),
        ("{{ .event }}", "names no field"),
        ("{{ .event.nope }}", "names no field of the event"),
        ("{{ .event.type.x }}", ".event.type is a string"),
        ("{{ .event.source.owner }}", ".event.source is a string"),
        ("{{ event.type }}", "is not a field path"),
        ("{{ .event..type }}", "is not a field path"),
        ("{{ .event.type | upper }}", "is not a field path"),
        ("{{ }}", "empty placeholder"),
        ("{{ .event.type", "unclosed"),
        ("a {{ .event.type }} {{ b", "unclosed"),
        ("{{ {{ .event.type }}", "is not a field path"),
    ],
)
def test_parse_errors(source: str, needle: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(source)
    assert needle in str(info.value)
    assert info.value.hint


def test_typo_in_root_field_suggests() -> None:
    with pytest.raises(TemplateError) as info:
        parse_template("{{ .event.paylod.version }}")
    assert info.value.hint == "did you mean .event.payload?"
    assert info.value.path == ".event.paylod.version"


def test_not_a_string() -> None:
    with pytest.raises(TemplateError, match="must be a string"):
        parse_template(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "needle", "hint"),
    [
        ("{{ .event.payload.versoin }}", "has no field 'versoin'", "did you mean 'version'?"),
        ("{{ .event.payload.zzz }}", "has no field 'zzz'", "fields present: build, empty"),
        ("{{ .event.payload.build.number.x }}", ".event.payload.build.number is a number",
         "use .event.payload.build.number"),
        ("{{ .event.payload.services.5 }}", "list of 2 item(s)", "index lists"),
        ("{{ .event.payload.services.name }}", "'name' is not an index", "index lists"),
        ("{{ .event.payload.version.major }}", "is a string, not a mapping", "use "),
        ("{{ .event.payload.empty.x }}", "is null", "use "),
        ("{{ .event.payload.build.ok.x }}", "is a boolean", "use "),
    ],
)
def test_render_errors_name_the_path(source: str, needle: str, hint: str) -> None:
    t = parse_template(source)
    with pytest.raises(TemplateError) as info:
        t.render(CTX)
    assert needle in str(info.value)
    assert hint in info.value.hint
    assert info.value.path == source.strip("{} ")
    assert info.value.path in str(info.value)


def test_render_error_on_empty_payload() -> None:
    with pytest.raises(TemplateError) as info:
        parse_template("{{ .event.payload.version }}").render(context_for(Event("t", "o/r")))
    assert "empty" in info.value.hint


def test_many_keys_hint_is_truncated() -> None:
    ctx = context_for(Event("t", "o/r", payload={f"k{i:02}": i for i in range(30)}))
    with pytest.raises(TemplateError) as info:
        parse_template("{{ .event.payload.zzzzzz }}").render(ctx)
    assert info.value.hint.endswith(", ...")


def test_render_against_a_non_event_shape_context() -> None:
    with pytest.raises(TemplateError, match="the context has no field 'event'"):
        parse_template("{{ .event.type }}").render({})


def test_render_is_repeatable() -> None:
    t = parse_template("{{ .event.payload.version }}")
    other = context_for(Event("t", "o/r", payload={"version": "9.9.9"}))
    assert t.render(CTX) == "2.1.0"
    assert t.render(other) == "9.9.9"
    assert t.render(CTX) == "2.1.0"


@given(st.text(max_size=80))
def test_fuzz_parse_never_raises_anything_but_template_error(text: str) -> None:
    try:
        t = parse_template(text)
    except TemplateError:
        return
    # What parses renders against a full event or fails with a TemplateError only.
    with contextlib.suppress(TemplateError):
        t.render(CTX)


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40))
def test_text_without_braces_renders_as_itself(text: str) -> None:
    assert parse_template(text).render(CTX) == text


@pytest.mark.parametrize(
    ("source", "column"),
    [("{{ .foo }}", 1), ("abc {{ .event.nope }}", 5), ("x {{ .event.type }} {{", 21),
     ("{{ .event.type }}{{ }}", 18)],
)
def test_parse_errors_carry_the_column(source: str, column: int) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(source)
    assert info.value.column == column
    assert source[column - 1 : column + 1] == "{{"
