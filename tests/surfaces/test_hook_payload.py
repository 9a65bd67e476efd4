"""The hook's plan without a payload tells the truth: what only the payload can decide
is listed as such and counted apart from the targets and the real skips."""

from __future__ import annotations

import io

from tako_gha.core.config import load_config
from tako_gha.core.events import Event
from tako_gha.core.matching import plan_fanout
from tako_gha.surfaces.hook import write_plan

SOURCE = "version: 1\nevents:\n  produces:\n    - {type: built, schema_version: 1.2.0}\n"


def _sub(body: str = "") -> str:
    return ("version: 1\nevents:\n  subscriptions:\n    - artifact: o/lib\n"
            "      events: [built]\n" + body)


CONFIGS = [
    load_config(SOURCE, path="tako.yml", repo="o/lib"),
    load_config(_sub(), path="tako.yml", repo="o/a"),
    load_config(_sub("      filters:\n        - event.payload.ok == true\n"),
                path="tako.yml", repo="o/b"),
    load_config(_sub("      inputs:\n        v: '{{ .event.payload.version }}'\n"),
                path="tako.yml", repo="o/c"),
    load_config(_sub("      schema_version: '^2'\n"), path="tako.yml", repo="o/d"),
    load_config("version: 1\n", path="tako.yml", repo="o/e"),  # not subscribed: not listed
]


def _text(payload: dict, *, known: bool) -> str:
    plan = plan_fanout(Event(type="built", source="o/lib", payload=payload), CONFIGS,
                       payload_known=known)
    out = io.StringIO()
    write_plan(plan, "o/lib", out)
    return out.getvalue()


def test_without_a_payload_the_summary_counts_the_undecided_apart() -> None:
    assert _text({}, known=False) == (
        "tako-gha: built from o/lib would start: o/a\n"
        "  depends on the payload o/b: filters[0] `event.payload.ok == true`\n"
        "  depends on the payload o/c: inputs.v `{{ .event.payload.version }}`\n"
        "  skipped o/d: schema_version 1.2.0 is outside '^2'\n"
        "  1 would start, 2 depend on the payload, 1 skipped "
        "(set TAKO_HOOK_PAYLOAD, or an example_payload under produces in tako.yml, "
        "to decide them)\n")


def test_with_a_payload_every_subscriber_is_decided() -> None:
    assert _text({"ok": True, "version": "1.2.3"}, known=True) == (
        "tako-gha: built from o/lib would start: o/a, o/b, o/c\n"
        "  skipped o/d: schema_version 1.2.0 is outside '^2'\n"
        "  3 would start, 0 depend on the payload, 1 skipped\n")
    text = _text({"ok": False}, known=True)
    assert "skipped o/b: filters[0] `event.payload.ok == true`: is false" in text
    assert "1 would start, 0 depend on the payload, 3 skipped" in text


def test_nothing_for_certain_is_not_no_repository() -> None:
    configs = CONFIGS[:1] + CONFIGS[2:3]
    plan = plan_fanout(Event(type="built", source="o/lib"), configs, payload_known=False)
    out = io.StringIO()
    write_plan(plan, "o/lib", out)
    assert out.getvalue().startswith(
        "tako-gha: built from o/lib would start: no repository for certain\n")
    plan = plan_fanout(Event(type="built", source="o/lib"), configs[:1], payload_known=False)
    out = io.StringIO()
    write_plan(plan, "o/lib", out)
    assert out.getvalue() == ("tako-gha: built from o/lib would start: no repository\n"
                              "  0 would start, 0 depend on the payload, 0 skipped\n")


EXAMPLE_SOURCE = ("version: 1\nevents:\n  produces:\n    - type: built\n"
                  "      schema_version: 1.2.0\n"
                  "      example_payload: {ok: true, version: 1.2.3}\n")


def test_an_example_payload_in_tako_yml_decides_offline() -> None:
    from tako_gha.surfaces.hook import plan_event

    source = load_config(EXAMPLE_SOURCE, path="tako.yml", repo="o/lib")
    assert source.ok, source.diagnostics
    assert source.config is not None
    (produced,) = source.config.produces
    assert produced.example_payload == {"ok": True, "version": "1.2.3"}
    configs = [source, *CONFIGS[1:]]
    plan, example = plan_event(produced, "o/lib", configs, source.config, None)
    assert example and plan.undecided == []
    assert plan.target_repos() == ["o/a", "o/b", "o/c"]
    out = io.StringIO()
    write_plan(plan, "o/lib", out, example=example)
    assert out.getvalue().startswith(
        "tako-gha: built from o/lib (with its example_payload from tako.yml) would start: "
        "o/a, o/b, o/c\n")
    # a real payload (TAKO_HOOK_PAYLOAD) wins over the example
    plan, example = plan_event(produced, "o/lib", configs, source.config, {"ok": False})
    assert not example and "o/b" not in plan.target_repos()
    # without either: undecided
    bare = load_config(SOURCE, path="tako.yml", repo="o/lib")
    assert bare.config is not None
    plan, example = plan_event(bare.config.produces[0], "o/lib", CONFIGS, bare.config, None)
    assert not example and {s.repo for s in plan.undecided} == {"o/b", "o/c"}


def test_an_example_payload_that_is_not_a_mapping_is_an_error_with_its_place() -> None:
    result = load_config(EXAMPLE_SOURCE.replace("{ok: true, version: 1.2.3}", "[1, 2]"),
                         path="tako.yml", repo="o/lib")
    assert not result.ok
    (diag,) = [d for d in result.diagnostics if d.is_error]
    assert diag.format().startswith(
        "tako.yml:6:24: error: produces[0].example_payload must be a mapping, got a list")
    assert "example_payload: {version: 2.1.0" in diag.format()
