"""core.settings on tests/core/settings_corpus.py, and where each setting is read: the
CLI's fan-out (refused before anything is sent), the action's inputs (every bad one
named), the pre-push hook (said, and the default used: the push goes on)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from settings_corpus import CASES

from tako_gha.core.settings import SETTINGS, SettingError, read_number
from tako_gha.engine.api import FanOutOptions
from tako_gha.surfaces.action import InputError, read_inputs
from tako_gha.surfaces.commands.cascade_common import ENV_KNOBS, env_tuning
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.hook import PLAN_BUDGET_SECONDS, _plan_budget

ACTION_ENV = {"TAKO_INPUT_EVENT_TYPE": "built", "GITHUB_REPOSITORY": "acme/core",
              "TAKO_INPUT_TOKEN": "t"}


def test_the_corpus_covers_every_setting() -> None:
    assert {name for name, _, _ in CASES} == set(SETTINGS)
    assert sum(isinstance(expected, str) for *_, expected in CASES) >= 25


@pytest.mark.parametrize(("name", "raw", "expected"), CASES,
                         ids=[f"{n}={r[:12]}" for n, r, _ in CASES])
def test_each_value_is_taken_or_refused_with_its_name(name: str, raw: str,
                                                      expected: Any) -> None:
    if isinstance(expected, str):
        with pytest.raises(SettingError) as info:
            read_number(name, raw)
        assert str(info.value).startswith(f"{name}: ") and expected in str(info.value)
    else:
        value = read_number(name, raw)
        assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("name", "raw", "expected"), CASES,
                         ids=[f"{n}={r[:12]}" for n, r, _ in CASES])
def test_the_action_and_the_cli_read_them_the_same_way(name: str, raw: str,
                                                       expected: Any) -> None:
    if name == "TAKO_HOOK_PLAN_TIMEOUT":
        out = io.StringIO()
        budget = _plan_budget({name: raw}, out)
        assert (budget == PLAN_BUDGET_SECONDS and expected in out.getvalue()
                if isinstance(expected, str) else budget == expected)
        return
    if isinstance(expected, str):
        with pytest.raises(InputError) as info:  # never an internal error
            read_inputs({**ACTION_ENV, name: raw})
        assert f"environment {name}: " in str(info.value) and expected in str(info.value)
    else:
        assert read_inputs({**ACTION_ENV, name: raw}).options  # taken
    if name not in ENV_KNOBS:  # TAKO_MAX_CHILDREN: the CLI has --max-children
        return
    if isinstance(expected, str):
        with pytest.raises(UserError) as refused:
            env_tuning(FanOutOptions(), {name: raw})
        assert refused.value.message.startswith(f"{name}: ")
    else:
        tuned = env_tuning(FanOutOptions(), {name: raw})
        assert getattr(tuned, ENV_KNOBS[name]) == expected


def test_every_fan_out_setting_names_an_option() -> None:
    # one table (core.settings) says which option each variable tunes, for the action
    # and the CLI alike: a misspelt option would be a TypeError in replace()
    from dataclasses import fields

    from tako_gha.core.settings import OPTION_SETTINGS
    from tako_gha.engine.api import FanOutOptions

    assert set(OPTION_SETTINGS.values()) <= {f.name for f in fields(FanOutOptions)}
    assert len(OPTION_SETTINGS) == 6
