"""Matching an event against subscriptions: targets, inputs, and every skip's reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tako_gha.core import matching
from tako_gha.core.cel import compile_filter
from tako_gha.core.config import ConfigResult, Produced, RepoConfig, Subscription, load_config
from tako_gha.core.events import Event
from tako_gha.core.matching import (
    CONFIG_ERROR,
    IS_SOURCE,
    NO_CONFIG,
    NO_MATCH,
    NO_SUBSCRIPTION,
    TEMPLATE_ERROR,
    Plan,
    plan_fanout,
)
from tako_gha.core.templates import parse_template
from tako_gha.core.versions import parse_range

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces"
SEED_FILTER = "'user-service' in event.payload.services.split(',').map(s, s.trim().lower())"


def load_workspace(name: str) -> list[ConfigResult]:
    """The fixture workspace's configs, read the way WorkspaceForge reads them."""
    results = []
    root = FIXTURES / name
    for repo_dir in sorted(p for p in root.glob("*/*") if p.is_dir()):
        repo = f"{repo_dir.parent.name}/{repo_dir.name}"
        config = repo_dir / "tako.yml"
        if config.is_file():
            results.append(load_config(config.read_text(), path=str(config), repo=repo))
        else:
            results.append(ConfigResult(repo=repo, path=str(config), config=None, missing=True))
    return results


CASCADE = load_workspace("cascade")
PAYLOAD = {"version": "2.1.0", "build_status": "success", "services": "api, User-Service ,web"}


def plan(payload: dict | None = None, *, event_type: str = "library_built",
         schema_version: str | None = None) -> Plan:
    event = Event(type=event_type, source="my-org/core-lib",
                  payload=PAYLOAD if payload is None else payload,
                  schema_version=schema_version)
    return plan_fanout(event, CASCADE)


def reasons(result: Plan) -> dict[str, str]:
    return {s.repo: s.reason for s in result.skipped}


def test_fixture_plan_lists_exactly_the_matching_repos() -> None:
    result = plan()
    assert result.event.schema_version == "1.2.0"  # from core-lib's produces
    assert result.target_repos() == ["my-org/api", "my-org/multi", "my-org/user-service",
                                     "my-org/v2-only", "other-org/consumer"]
    by_repo = {t.repo: t for t in result.targets}
    assert by_repo["my-org/api"].inputs == {"version": "2.1.0", "source": "my-org/core-lib",
                                            "schema": "1.2.0"}
    assert by_repo["my-org/api"].workflow == "rebuild.yml"
    assert by_repo["my-org/user-service"].inputs == {"services": "api, User-Service ,web"}
    assert json.loads(by_repo["my-org/v2-only"].inputs["major_payload"]) == PAYLOAD
    assert by_repo["other-org/consumer"].inputs == {"v": "2.1.0", "t": "library_built"}
    multi = by_repo["my-org/multi"]
    assert (multi.subscription.index, multi.inputs, multi.also_matched) == (0, {"which": "first"},
                                                                            (1,))


def test_fixture_plan_gives_a_reason_for_every_other_repo() -> None:
    result = plan()
    why = reasons(result)
    assert sorted(why) == ["my-org/bad-template", "my-org/billing", "my-org/broken",
                           "my-org/core-lib", "my-org/docs-site", "my-org/frontend",
                           "my-org/ghost-artifact", "my-org/legacy", "my-org/no-config",
                           "my-org/stable-only"]
    assert why["my-org/no-config"] == "no tako.yml"
    assert why["my-org/frontend"] == "no subscription to my-org/core-lib"
    assert why["my-org/core-lib"] == "the source repository is never its own target"
    assert why["my-org/legacy"] == "schema_version 1.2.0 is outside '[0.1.0...1.0.0)'"
    assert why["my-org/docs-site"] == "event type 'library_built' is not in its events [docs_built]"
    assert why["my-org/ghost-artifact"] == ("my-org/core-lib publishes no artifact 'sdk' "
                                            "(it declares: default, docs)")
    assert why["my-org/billing"].startswith(
        "filters[1] `'billing' in event.payload.services.split(',')")
    assert why["my-org/stable-only"].startswith('filters[0] `event.payload.release.channel')
    assert "release" in why["my-org/stable-only"]
    assert why["my-org/broken"].startswith("tako.yml could not be used: ")
    assert "broken/tako.yml:6" in why["my-org/broken"]
    assert why["my-org/bad-template"].startswith(
        "subscriptions[0] (my-org/core-lib:default) inputs.channel "
        "`{{ .event.payload.release.channel }}`")
    kinds = {s.repo: (s.kind, s.error) for s in result.skipped}
    assert kinds["my-org/broken"] == (CONFIG_ERROR, True)
    assert kinds["my-org/bad-template"] == (TEMPLATE_ERROR, True)
    assert kinds["my-org/no-config"] == (NO_CONFIG, False)
    assert kinds["my-org/frontend"] == (NO_SUBSCRIPTION, False)
    assert kinds["my-org/core-lib"] == (IS_SOURCE, False)
    assert kinds["my-org/billing"] == (NO_MATCH, False)
    assert [s.repo for s in result.errors] == ["my-org/bad-template", "my-org/broken"]
    # the unusable file is reported as a diagnostic for that repo; the plan went on
    assert [d.file.split("/")[-2] for d in result.diagnostics] == ["broken"]


def test_semver_major_filter_and_ranges_follow_the_payload_and_version() -> None:
    old = plan({**PAYLOAD, "version": "1.5.0"})
    assert "my-org/v2-only" not in old.target_repos()
    assert reasons(old)["my-org/v2-only"].startswith(
        "filters[0] `semver.major(event.payload.version) >= 2`")
    bumped = plan(schema_version="2.0.0")
    assert bumped.target_repos() == ["my-org/multi", "my-org/user-service", "my-org/v2-only"]
    assert reasons(bumped)["my-org/api"] == "schema_version 2.0.0 is outside '^1.0.0'"
    assert reasons(bumped)["other-org/consumer"] == "schema_version 2.0.0 is outside '~1.2'"
    multi = next(t for t in bumped.targets if t.repo == "my-org/multi")
    assert (multi.subscription.index, multi.inputs["which"], multi.also_matched) == (1, "second",
                                                                                     ())


def test_seed_filter_is_case_and_space_insensitive() -> None:
    assert "my-org/user-service" in plan({**PAYLOAD, "services": " USER-service"}).target_repos()
    absent = plan({**PAYLOAD, "services": "api,web"})
    assert absent.target_repos() == ["my-org/api", "my-org/multi", "my-org/v2-only",
                                     "other-org/consumer"]
    assert reasons(absent)["my-org/user-service"].startswith(f"filters[0] `{SEED_FILTER}`")


def test_filter_on_a_missing_field_is_no_match_not_a_crash() -> None:
    result = plan({"version": "2.1.0"})  # no build_status, no services
    assert result.target_repos() == ["my-org/multi", "my-org/v2-only", "other-org/consumer"]
    why = reasons(result)
    assert why["my-org/api"].startswith('filters[0] `event.payload.build_status == "success"`')
    assert why["my-org/user-service"].startswith("filters[0]")


def test_undeclared_event_type_warns_and_multiple_reasons_are_listed() -> None:
    result = plan(event_type="docs_built")
    assert result.event.schema_version is None  # produces declares no version for it
    assert result.target_repos() == ["my-org/docs-site", "my-org/multi"]
    assert result.diagnostics[0].code != "undeclared-event"
    other = plan(event_type="nightly")
    assert other.target_repos() == []
    warning = next(d for d in other.diagnostics if d.code == "undeclared-event")
    assert not warning.is_error and "'nightly'" in warning.message
    assert "library_built, docs_built" in warning.message
    assert reasons(other)["my-org/multi"] == (
        "subscriptions[0]: event type 'nightly' is not in its events [library_built]; "
        "subscriptions[1]: event type 'nightly' is not in its events "
        "[library_built, docs_built]")


# ---------------------------------------------------------------- unit cases
def sub(producer: str = "o/lib", *, events: tuple[str, ...] = ("built",), index: int = 0,
        schema: str | None = None, filters: tuple[str, ...] = (),
        inputs: dict[str, str] | None = None, artifact: str = "default") -> Subscription:
    return Subscription(
        producer=producer, artifact=artifact, events=list(events), index=index,
        schema_range=parse_range(schema) if schema else None,
        filters=[compile_filter(f) for f in filters],
        inputs={k: parse_template(v) for k, v in (inputs or {}).items()},
    )


def result_for(repo: str, *subs: Subscription, errors: bool = False) -> ConfigResult:
    config = RepoConfig(repo=repo, path=f"{repo}/tako.yml", subscriptions=list(subs))
    return ConfigResult(repo=repo, path=config.path, config=config)


def test_event_without_schema_version_never_satisfies_a_range() -> None:
    event = Event(type="built", source="o/lib", payload={})
    result = plan_fanout(event, [result_for("o/app", sub(schema=">=1.0.0")),
                                 result_for("o/any", sub())])
    assert result.target_repos() == ["o/any"]
    assert reasons(result)["o/app"].startswith(
        "event has no schema_version and the subscription requires '>=1.0.0'")
    skip = result.skipped[0]
    assert skip.subscription_index == 0


def test_unparsable_event_version_is_a_reason() -> None:
    event = Event(type="built", source="o/lib", schema_version="not-a-version")
    result = plan_fanout(event, [result_for("o/app", sub(schema="^1"))])
    assert reasons(result)["o/app"].startswith("event schema_version 'not-a-version' is not")


def test_explicit_source_config_and_case_insensitive_source() -> None:
    source = RepoConfig(repo="O/Lib", path="lib.yml",
                        produces=[Produced("built", schema_version="1.4.0")],
                        artifacts={"default": ""})
    event = Event(type="built", source="O/LIB")
    result = plan_fanout(event, [result_for("o/app", sub("o/lib", schema="~1.4"))],
                         source_config=source)
    assert result.event.schema_version == "1.4.0"
    assert result.target_repos() == ["o/app"]
    assert result.diagnostics == []


def test_source_never_targets_itself_even_when_subscribed() -> None:
    event = Event(type="built", source="o/lib")
    result = plan_fanout(event, [result_for("o/lib", sub("o/lib"))])
    assert result.targets == [] and result.skipped[0].kind == IS_SOURCE


def test_partially_broken_config_says_so_in_the_reason() -> None:
    broken = result_for("o/app", sub("o/other"))
    broken.diagnostics.append(load_config("version: 1\nbogus: 1\n", path="x.yml").diagnostics[0])
    result = plan_fanout(Event(type="built", source="o/lib"), [broken])
    assert reasons(result)["o/app"] == ("no subscription to o/lib (its tako.yml has 1 error(s); "
                                        "run tako-gha lint)")
    # flagged as an error so the cascade report lists it instead of staying quiet
    assert result.skipped[0].error is True
    assert len(result.diagnostics) == 1


def test_non_string_inputs_render_as_json_and_plan_serialises() -> None:
    event = Event(type="built", source="o/lib", payload={"n": 3, "flags": {"a": True}})
    inputs = {"n": "{{ .event.payload.n }}", "f": "{{ .event.payload.flags }}"}
    result = plan_fanout(event, [result_for("o/app", sub(inputs=inputs))])
    (target,) = result.targets
    assert target.inputs == {"n": "3", "f": '{"a":true}'}
    data = json.loads(json.dumps(result.to_json()))
    assert data["targets"] == [{"repo": "o/app",
                                "subscription": {"index": 0, "artifact": "o/lib:default",
                                                 "line": 0},
                                "inputs": {"n": "3", "f": '{"a":true}'}, "workflow": None,
                                "also_matched": []}]
    assert data["event"]["source"] == "o/lib"


def test_order_is_by_repo_name_whatever_the_input_order() -> None:
    repos = [result_for(name, sub()) for name in ("o/zeta", "o/Alpha", "o/mid")]
    result = plan_fanout(Event(type="built", source="o/lib"), repos)
    assert result.target_repos() == ["o/Alpha", "o/mid", "o/zeta"]


@pytest.mark.parametrize(("filters", "matched"), [
    (("event.payload.n > 2", "subscriber == 'o/app'"), True),
    (("event.payload.n > 2", "subscriber == 'o/web'"), False),
    (("event.type == 'built'", "event.source.startsWith('o/')"), True),
])
def test_all_filters_must_be_true(filters: tuple[str, ...], matched: bool) -> None:
    event = Event(type="built", source="o/lib", payload={"n": 3})
    result = plan_fanout(event, [result_for("o/app", sub(filters=filters))])
    assert bool(result.targets) is matched
    if not matched:
        assert reasons(result)["o/app"].startswith("filters[1] `subscriber == 'o/web'`")


@settings(max_examples=60, deadline=None)
@given(major=st.integers(0, 5), minor=st.integers(0, 3), patch=st.integers(0, 3),
       schema=st.sampled_from(["0.0.9", "0.1.0", "0.9.9", "1.0.0", "1.2.0", "1.2.7", "1.3.0",
                               "2.0.0"]))
def test_targets_follow_version_filters_and_ranges(major: int, minor: int, patch: int,
                                                   schema: str) -> None:
    version = f"{major}.{minor}.{patch}"
    result = plan({**PAYLOAD, "version": version}, schema_version=schema)
    targets = set(result.target_repos())
    assert ("my-org/v2-only" in targets) == (major >= 2)
    s = tuple(int(x) for x in schema.split("."))
    assert ("my-org/legacy" in targets) == ((0, 1, 0) <= s < (1, 0, 0))
    assert ("my-org/api" in targets) == ((1, 0, 0) <= s < (2, 0, 0))
    assert ("other-org/consumer" in targets) == ((1, 2, 0) <= s < (1, 3, 0))
    assert "my-org/multi" in targets  # its second subscription takes any version


# ------------------------------------------------------ one repository's budget
def _many_subscriptions(filters: list[str]) -> ConfigResult:
    subs = "".join(f"    - artifact: acme/core\n      events: [built]\n      filters:\n"
                   f"        - {json.dumps(source)}\n" for source in filters)
    return load_config("version: 1\nevents:\n  subscriptions:\n" + subs, repo="acme/evil")


def test_one_tako_yml_with_many_costly_subscriptions_costs_a_few_evaluations() -> None:
    # Each filter is distinct (no shared outcome) and spends a whole evaluation budget on
    # a 1,000-item list; 200 of them took 42 s before repositories had a budget.
    costly = [f"event.payload.targets.exists(t, t == 'a' || t + {i} == -5000)"
              for i in range(200)]
    event = Event(type="built", source="acme/core", payload={"targets": list(range(1000))})
    plan = plan_fanout(event, [_many_subscriptions(costly)])
    assert not plan.targets
    (skip,) = plan.skipped
    assert skip.kind == "over-budget" and skip.error
    evaluated = 200 - int(skip.reason.split(": ")[1].split(" of its")[0])
    assert evaluated <= 8, skip.reason  # ~4 budgets' worth, whatever the file declares
    assert "of its 200 subscriptions to acme/core were not evaluated" in skip.reason


def test_a_match_found_before_the_budget_is_spent_still_dispatches() -> None:
    costly = ["event.payload.targets.exists(t, t == 'a' || t == 0)"] + [
        f"event.payload.targets.exists(t, t == 'a' || t + {i} == -5000)" for i in range(50)]
    event = Event(type="built", source="acme/core", payload={"targets": list(range(1000))})
    plan = plan_fanout(event, [_many_subscriptions(costly)])
    assert [t.repo for t in plan.targets] == ["acme/evil"]


# ------------------------------------------------------ the plan's budget, shared fairly
def _repo(name: str, filters: list[str]) -> ConfigResult:
    subs = "".join(f"    - artifact: acme/core\n      events: [built]\n      filters:\n"
                   f"        - {json.dumps(source)}\n" for source in filters)
    return load_config("version: 1\nevents:\n  subscriptions:\n" + subs, repo=name)


def _counting_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    spent: list[int] = []
    real = matching.evaluate_subscription

    def counted(*args: object, **kwargs: object) -> object:
        verdict = real(*args, **kwargs)  # type: ignore[arg-type]
        spent.append(verdict.steps)
        return verdict

    monkeypatch.setattr(matching, "evaluate_subscription", counted)
    return spent


def _exhausting(i: int) -> str:
    # linear, distinct (no shared outcome), needs more than a whole evaluation budget
    return f"event.payload.targets.exists(t, t == 'a' || t + {i} == -5000)"


def test_the_plan_budget_bounds_all_repositories_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "PLAN_EVAL_STEPS", 20_000)  # a small plan: a fast test
    spent = _counting_steps(monkeypatch)
    event = Event(type="built", source="acme/core", payload={"targets": list(range(1000))})
    repos = [_repo(f"acme/hostile-{i:02}", [_exhausting(i)]) for i in range(8)]
    plan = plan_fanout(event, repos)
    assert sum(spent) <= 20_000 + 8  # (a stop may overshoot by its last step)
    assert not plan.targets and len(plan.skipped) == 8
    assert all(s.kind == "over-budget" and s.error for s in plan.skipped)
    starved = [s for s in plan.skipped if "fair part" in s.reason]
    assert starved and "of the 20,000 steps all repositories' filters may spend" in (
        starved[0].reason)
    # the same plan, step for step, every time
    assert plan_fanout(event, repos).to_json() == plan.to_json()


def test_costly_repositories_cannot_starve_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every repository may spend at least an equal part of the plan's budget (here
    # 30,000 / 19 = 1,578 steps), whatever the others do; the costly ones go last.
    monkeypatch.setattr(matching, "PLAN_EVAL_STEPS", 30_000)
    event = Event(type="built", source="acme/core", payload={"targets": list(range(1000))})
    # named first, and greedy: without a fair share they would spend the whole plan
    hostile = [_repo(f"acme/a-hostile-{i}", [_exhausting(i)]) for i in range(8)]
    hoarder = _repo("acme/a-hoarder", [_exhausting(100 + i) for i in range(50)])
    # ordinary repositories whose filters cost real work (~350-1,300 steps each)
    ordinary = [_repo(f"acme/z-app-{i}", [f"event.payload.targets.exists(t, t == {i})"])
                for i in range(50, 190, 14)]
    plan = plan_fanout(event, [*hostile, hoarder, *ordinary])
    assert sorted(plan.target_repos()) == sorted(r.repo for r in ordinary)
    assert {s.repo for s in plan.skipped} == {r.repo for r in [*hostile, hoarder]}
    assert all(s.kind == "over-budget" for s in plan.skipped)


def test_a_filter_many_repositories_share_is_evaluated_once_with_their_parts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 400 repositories share one filter costing ~700 steps: each one's part of a
    # 30,000-step plan is 75 steps, but the shared evaluation is allowed their parts
    # together, runs once and is remembered for the others. (Cut at 75 steps, never
    # remembered, it was run and cut 400 times: every repository over budget.)
    monkeypatch.setattr(matching, "PLAN_EVAL_STEPS", 30_000)
    spent = _counting_steps(monkeypatch)
    event = Event(type="built", source="acme/core", payload={"targets": list(range(1000))})
    shared = "event.payload.targets.exists(t, t == 100)"
    repos = [_repo(f"acme/app-{i:03}", [shared]) for i in range(400)]
    hostile = [_repo(f"acme/hostile-{i}", [_exhausting(i)]) for i in range(5)]
    plan = plan_fanout(event, [*repos, *hostile])
    assert sorted(plan.target_repos()) == [r.repo for r in repos]
    assert {s.repo for s in plan.skipped} == {r.repo for r in hostile}
    assert sum(spent) <= 30_000 + 5
    # ... and when even their parts together do not suffice, it is not run 400 times
    monkeypatch.setattr(matching, "PLAN_EVAL_STEPS", 4_000)
    spent.clear()
    costly = "event.payload.targets.exists(t, t == 900)"  # ~6,300 steps
    plan = plan_fanout(event, [_repo(f"acme/app-{i:03}", [costly]) for i in range(400)])
    assert not plan.targets and len(plan.skipped) == 400
    assert len([s for s in spent if s]) == 1 and sum(spent) <= 4_001


def test_a_tool_error_is_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CPU backstop (or an internal error) stops a filter: neither "matches" nor
    # "does not match": the repository is an error of tako-gha and is not dispatched,
    # even though a later subscription would match.
    from tako_gha.core.cel import FilterOutcome
    from tako_gha.core.cel.compiled import CompiledFilter

    real = CompiledFilter.evaluate

    def broken(self: CompiledFilter, activation: object, **kwargs: object) -> FilterOutcome:
        if "broken" in self.source:
            return FilterOutcome(False, "failed: backstop", True, "max_eval_seconds",
                                 detail="failed: backstop", tool_error=True)
        return real(self, activation, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(CompiledFilter, "evaluate", broken)
    event = Event(type="built", source="acme/core", payload={"n": 1})
    first = _repo("acme/first", ["event.payload.n == 1 && 'broken' != ''", "true"])
    later = _repo("acme/later", ["event.payload.n == 1", "event.payload.n == 1 || 'broken' == ''"])
    plan = plan_fanout(event, [first, later])
    (skip,) = plan.skipped
    assert skip.repo == "acme/first" and skip.kind == "tool-error" and skip.error
    assert "tako-gha could not evaluate it" in skip.reason and skip.subscription_index == 0
    # a match found before the broken filter still dispatches
    assert [t.repo for t in plan.targets] == ["acme/later"]


def test_many_cheap_subscriptions_are_all_evaluated() -> None:
    cheap = [f"event.payload.n == {i}" for i in range(500)]
    event = Event(type="built", source="acme/core", payload={"n": 499})
    plan = plan_fanout(event, [_many_subscriptions(cheap)])
    assert [(t.repo, t.subscription.index) for t in plan.targets] == [("acme/evil", 499)]


def test_a_reason_names_at_most_ten_event_types() -> None:
    # a repository subscribed to a hundred types is one line in every fan-out's log
    types = tuple(f"t{i:03d}" for i in range(100))
    result = plan_fanout(Event(type="built", source="o/lib"),
                         [result_for("o/app", sub(events=types))])
    assert reasons(result)["o/app"] == ("event type 'built' is not in its events ["
                                        + ", ".join(types[:10]) + ", … 90 more]")
