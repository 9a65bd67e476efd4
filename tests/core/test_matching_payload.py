"""Planning without a real payload (the pre-push hook): a subscription that only the
payload can decide is `depends-on-payload`, never judged on an empty stand-in."""

from __future__ import annotations

import pytest

from tako_gha.core.config import ConfigResult, load_config
from tako_gha.core.events import Event
from tako_gha.core.matching import (
    DEPENDS_ON_PAYLOAD,
    NO_MATCH,
    TEMPLATE_ERROR,
    Plan,
    plan_fanout,
    reads_payload,
)

SOURCE = "version: 1\nevents:\n  produces:\n    - {type: built, schema_version: 1.2.0}\n"


def _sub(body: str) -> str:
    return ("version: 1\nevents:\n  subscriptions:\n    - artifact: o/lib\n"
            "      events: [built]\n" + body)


REPOS = {
    "o/plain": _sub(""),
    "o/filtered": _sub("      filters:\n        - event.payload.channel == 'stable'\n"),
    "o/both": _sub("      filters:\n        - event.payload.channel == 'stable'\n"
                   "        - subscriber.repo.endsWith('/nope')\n"),
    "o/old": _sub("      schema_version: '^0.9'\n"
                  "      filters:\n        - event.payload.channel == 'stable'\n"),
    "o/inputs": _sub("      inputs:\n        version: '{{ .event.payload.version }}'\n"),
    "o/typed": _sub("      filters:\n        - event.type == 'built'\n"
                    "      inputs:\n        kind: '{{ .event.type }}'\n"),
}


def _configs() -> list[ConfigResult]:
    results = [load_config(SOURCE, path="tako.yml", repo="o/lib")]
    results += [load_config(text, path="tako.yml", repo=repo) for repo, text in REPOS.items()]
    assert all(r.ok for r in results), [r.diagnostics for r in results]
    return results


def _plan(payload: dict, *, known: bool) -> Plan:
    return plan_fanout(Event(type="built", source="o/lib", payload=payload), _configs(),
                       payload_known=known)


def test_without_a_payload_only_what_reads_it_is_undecided() -> None:
    result = _plan({}, known=False)
    assert result.target_repos() == ["o/plain", "o/typed"]
    undecided = {s.repo: s.reason for s in result.undecided}
    assert undecided == {
        "o/filtered": "depends on the payload: filters[0] `event.payload.channel == 'stable'`",
        "o/inputs": "depends on the payload: inputs.version `{{ .event.payload.version }}`",
    }
    assert all(s.kind == DEPENDS_ON_PAYLOAD and not s.error for s in result.undecided)
    real = {s.repo: s for s in result.skipped if s.kind != DEPENDS_ON_PAYLOAD
            and s.repo != "o/lib"}
    # a filter that does not read the payload still decides; so does the range
    assert real["o/both"].kind == NO_MATCH
    assert "subscriber.repo.endsWith('/nope')" in real["o/both"].reason
    assert real["o/old"].kind == NO_MATCH and "outside '^0.9'" in real["o/old"].reason


def test_with_the_payload_known_nothing_changes() -> None:
    empty = _plan({}, known=True)
    assert empty.undecided == []
    assert empty.target_repos() == ["o/plain", "o/typed"]
    kinds = {s.repo: s.kind for s in empty.skipped}
    assert kinds["o/filtered"] == NO_MATCH  # the empty payload has no field: a real verdict
    assert kinds["o/inputs"] == TEMPLATE_ERROR
    full = _plan({"channel": "stable", "version": "2.0.0"}, known=True)
    assert full.target_repos() == ["o/filtered", "o/inputs", "o/plain", "o/typed"]


def test_several_subscriptions_one_undecided_one_matching_is_a_target() -> None:
    text = _sub("      filters:\n        - event.payload.channel == 'stable'\n") + \
        "    - artifact: o/lib\n      events: [built]\n"
    configs = [load_config(SOURCE, path="tako.yml", repo="o/lib"),
               load_config(text, path="tako.yml", repo="o/two")]
    result = plan_fanout(Event(type="built", source="o/lib"), configs, payload_known=False)
    assert result.target_repos() == ["o/two"]


@pytest.mark.parametrize(("source", "reads"), [
    ("event.payload.build_status == 'success'", True),
    ("semver.major(event.payload.version) >= 2", True),
    ("has(event.payload.skip)", True),
    ("event['payload'] != null", True),
    ("size(event) > 0", True),
    ("event.type == 'built'", False),
    ("event.source.startsWith('o/') && event.schema_version != ''", False),
    ("subscriber.repo.endsWith('-svc')", False),
    ("'event.payload' == event.type", False),  # in a string literal: not code
    ('"it\\"s event.payload" == event.source', False),
    ("r'''event.payload''' == event.type", False),
])
def test_reads_payload(source: str, reads: bool) -> None:
    assert reads_payload(source) is reads
