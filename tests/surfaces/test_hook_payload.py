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
        "(set TAKO_HOOK_PAYLOAD to a payload to decide them)\n")


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
