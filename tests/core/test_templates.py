"""Input templates (docs/tako-yml.md, Templates)."""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tako_gha.core.events import Event
from tako_gha.core.templates import (
    HINT_KEYS,
    MAX_INPUT_CHARS,
    MAX_INPUTS_CHARS,
    TemplateError,
    context_for,
    parse_template,
)

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


# --- bounded rendering: caps checked while rendering, suggestions bounded -------------


def _peak_while(render: Any) -> tuple[Any, int]:
    """What ``render()`` returned (or raised) and the peak bytes it allocated."""
    tracemalloc.start()
    try:
        try:
            result: Any = render()
        except TemplateError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_one_input_is_capped_while_it_renders() -> None:
    big_text = "x" * 900_000
    big_list = [f"item-{i}" for i in range(100_000)]  # ~1 MB as JSON
    ctx = context_for(Event("t", "o/r", payload={"text": big_text, "list": big_list}))
    for path in ("text", "list"):
        result, peak = _peak_while(
            lambda p=path: parse_template(f"{{{{ .event.payload.{p} }}}}").render(ctx))
        assert isinstance(result, TemplateError)
        assert f"renders to more than {MAX_INPUT_CHARS:,} characters" in result.message
        assert result.path == f".event.payload.{path}" and result.hint
        assert peak < 4 * MAX_INPUT_CHARS + 100_000  # never the whole value's text
    # 100 placeholders of a 10 KB value: refused after the fourth, not after the 100th
    ctx = context_for(Event("t", "o/r", payload={"v": "y" * 10_000}))
    hundred = parse_template("{{ .event.payload.v }}," * 100)
    result, peak = _peak_while(lambda: hundred.render(ctx))
    assert isinstance(result, TemplateError) and peak < 200_000
    # up to the cap exactly, it renders
    exact = context_for(Event("t", "o/r", payload={"v": "z" * (MAX_INPUT_CHARS - 2)}))
    assert len(parse_template("<{{ .event.payload.v }}>").render(exact)) == MAX_INPUT_CHARS
    with pytest.raises(TemplateError):
        parse_template("<{{ .event.payload.v }}>!").render(exact)


def test_a_smaller_limit_is_honoured() -> None:
    t = parse_template("{{ .event.payload.services }}")
    assert t.render(CTX, limit=26) == '["user-service","billing"]'
    with pytest.raises(TemplateError, match="more than 25 characters"):
        t.render(CTX, limit=25)


class _CountingMapping(Mapping[str, Any]):
    """A mapping that counts the keys anyone reads from it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.read = 0

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        for key in self.data:
            self.read += 1
            yield key

    def __len__(self) -> int:
        return len(self.data)


def test_did_you_mean_reads_a_bounded_number_of_keys() -> None:
    keys = {f"field_{i:06}": i for i in range(200_000)}
    keys["version"] = 1
    payload = _CountingMapping({"versoin_note": 0, **keys})
    with pytest.raises(TemplateError) as info:
        parse_template("{{ .event.payload.versoin }}").render({"event": {"payload": payload}})
    assert info.value.hint == "did you mean 'versoin_note'?"
    assert payload.read <= HINT_KEYS
    with pytest.raises(TemplateError) as info:
        parse_template("{{ .event.payload.zzz }}").render({"event": {"payload": payload}})
    assert info.value.hint.startswith("fields present: field_000000, ") and "..." in (
        info.value.hint)
    assert payload.read <= 2 * HINT_KEYS


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=6),
    max_leaves=20,
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(["a", "b", "c", "d"]),
                       st.text(alphabet="xyz -", max_size=20)), max_size=12),
    st.fixed_dictionaries({"a": _values, "b": _values, "c": _values, "d": _values}),
    st.integers(0, 2_000),
)
def test_rendering_never_exceeds_its_limit_and_the_cap_is_exact(
    parts: list[str], payload: dict[str, Any], limit: int
) -> None:
    source = "".join(f"{{{{ .event.payload.{p} }}}}" if p in "abcd" and p else p
                     for p in parts)
    template = parse_template(source)
    ctx = context_for(Event("t", "o/r", payload=payload))
    try:  # bounded first: rendered values are remembered, the encoder must run here
        bounded = template.render(ctx, limit=limit)
    except TemplateError as exc:
        unbounded = template.render(ctx, limit=10**9)
        assert len(unbounded) > limit, exc  # refused only when it really is too long
        assert "characters" in exc.message
    else:
        assert bounded == template.render(ctx, limit=10**9) and len(bounded) <= limit


def test_a_subscribers_inputs_are_capped_together() -> None:
    from tako_gha.core.config import load_config
    from tako_gha.core.matching import TEMPLATE_ERROR, plan_fanout

    def repo(name: str, count: int) -> Any:
        inputs = "".join(f"        i{n}: '{{{{ .event.payload.v }}}}'\n" for n in range(count))
        return load_config("version: 1\nevents:\n  subscriptions:\n    - artifact: o/src\n"
                           "      events: [t]\n      inputs:\n" + inputs, repo=name)

    each = MAX_INPUTS_CHARS // 4 + 1  # under the one-input cap; four are over the total
    event = Event("t", "o/src", payload={"v": "v" * each})
    plan = plan_fanout(event, [repo("o/three", 3), repo("o/four", 4)])
    assert [t.repo for t in plan.targets] == ["o/three"]
    (skip,) = plan.skipped
    assert skip.repo == "o/four" and skip.kind == TEMPLATE_ERROR and skip.error
    assert "inputs.i3" in skip.reason and f"{MAX_INPUTS_CHARS:,} all the inputs" in skip.reason


@settings(max_examples=80, deadline=None)
@given(_values)
def test_values_render_as_compact_json(value: Any) -> None:
    # the bounded encoder writes exactly what json.dumps would
    ctx = context_for(Event("t", "o/r", payload={"a": value}))
    expected = value if isinstance(value, str) else json.dumps(
        value, separators=(",", ":"), ensure_ascii=False)
    assert parse_template("{{ .event.payload.a }}").render(ctx, limit=10**9) == expected


def test_a_missing_fields_hint_is_computed_once_per_mapping(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Every subscriber naming the same missing field gets the same hint, computed once.
    import tako_gha.core.templates as templates

    calls: list[str] = []
    real = templates.difflib.get_close_matches

    def counted(word: str, *args: Any, **kwargs: Any) -> list[str]:
        calls.append(word)
        return real(word, *args, **kwargs)

    monkeypatch.setattr(templates.difflib, "get_close_matches", counted)
    ctx = context_for(Event("t", "o/r", payload={f"key_{i:05}": i for i in range(5_000)}))
    template = parse_template("{{ .event.payload.versoin }}")
    hints = set()
    for _ in range(50):
        with pytest.raises(TemplateError) as info:
            template.render(ctx)
        hints.add(info.value.hint)
    assert calls == ["versoin"] and len(hints) == 1
    other = context_for(Event("t", "o/r", payload={"version": 1}))
    with pytest.raises(TemplateError, match="payload has no field 'versoin'") as info:
        template.render(other)
    assert info.value.hint == "did you mean 'version'?" and len(calls) == 2
