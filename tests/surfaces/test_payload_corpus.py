"""The hostile payload corpus (payload_corpus.py) through every surface that reads a
payload: ``plan``, ``fan-out`` (refused before credentials or network are needed)
and the action entry. Each case: the exact exit code, its words, never a traceback.

Before the one reader: 100,000 '[' or a 5,000-digit number were "internal error",
NaN and Infinity were accepted and dispatched.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_world import run_console
from payload_corpus import CASES, FILE_CASES, OK, Case

from tako_gha.surfaces.action import InputError, read_inputs
from tako_gha.surfaces.cli import main

WORKSPACE = str(Path(__file__).resolve().parents[1] / "fixtures" / "workspaces" / "cascade")
PLAN = ["plan", "--workspace", WORKSPACE, "--source", "my-org/core-lib",
        "--event", "library_built"]
FAN_OUT = ["fan-out", "--source", "my-org/core-lib", "--event", "library_built"]


@pytest.fixture
def tako(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         tmp_path: Path) -> Any:
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "TAKO_APP_ID", "TAKO_APP_PRIVATE_KEY",
                 "TAKO_APP_INSTALLATION_ID", "GITHUB_EVENT_PATH", "GITHUB_ACTIONS",
                 "GITHUB_REPOSITORY", "GITHUB_API_URL", "TAKO_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        done = run_console(main, args, capsys)
        return done.exit_code, done.stdout, done.stderr

    return run


def _assert_refused(code: int, out: str, err: str, case: Case) -> None:
    assert "Traceback" not in out + err and "internal error" not in err
    assert code == 2, (out, err[:300])
    first = err.splitlines()[0]
    assert first.startswith("error: --payload"), first[:300]
    assert case.fragment in first, first[:300]
    assert err.splitlines()[1].startswith("  hint: ")


def test_the_corpus_is_large_and_named_uniquely() -> None:
    ids = [c.id for c in CASES] + [c[0] for c in FILE_CASES]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)
    assert sum(c.exit_code == 2 for c in CASES) >= 90


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_plan_reads_or_refuses_each_payload(tako: Any, case: Case) -> None:
    code, out, err = tako(*PLAN, "--payload", case.text)
    if case.exit_code == 0:
        assert (code, err) == (0, ""), err[:300]
        assert out.startswith(OK)
    else:
        _assert_refused(code, out, err, case)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fan_out_refuses_each_bad_payload_before_anything_else(tako: Any,
                                                                case: Case) -> None:
    """Refused payloads never reach the forge; accepted ones get as far as the
    credentials check (none are set), which proves the payload passed."""
    code, out, err = tako(*FAN_OUT, "--payload", case.text)
    if case.exit_code == 0:
        assert code == 2 and err.startswith("error: no GitHub credentials"), err[:300]
    else:
        _assert_refused(code, out, err, case)


@pytest.mark.parametrize("case", [c for c in CASES if c.text.strip()], ids=lambda c: c.id)
def test_the_action_reads_its_payload_input_with_the_same_reader(case: Case) -> None:
    env = {"TAKO_INPUT_EVENT_TYPE": "library_built", "GITHUB_REPOSITORY": "acme/core-lib",
           "TAKO_INPUT_PAYLOAD": case.text}
    if case.exit_code == 0:
        assert isinstance(read_inputs(env).payload, dict)
        return
    with pytest.raises(InputError) as info:
        read_inputs(env)
    assert info.value.problems == [p for p in info.value.problems
                                   if p.startswith("input payload: ")]
    # The action strips the input first: positions on the first line shift with it.
    fragment = case.fragment if case.text == case.text.strip() else \
        case.fragment.split(": ", 1)[-1]
    assert fragment in str(info.value)


@pytest.mark.parametrize(("case_id", "how", "data", "exit_code", "fragment"), FILE_CASES,
                         ids=[c[0] for c in FILE_CASES])
def test_payload_files_and_stdin(tako: Any, tmp_path: Path, case_id: str, how: str,
                                 data: bytes, exit_code: int, fragment: str) -> None:
    path = tmp_path / "event.json"
    stdin = ""
    if how == "@file":
        path.write_bytes(data)
        flag = f"@{path}"
    elif how == "@-":
        stdin, flag = data.decode("utf-8"), "@-"
    elif how == "@dir":
        flag = f"@{tmp_path}"
    else:
        flag = f"@{tmp_path / 'missing.json'}"
    code, out, err = tako(*PLAN, "--payload", flag, stdin=stdin)
    if exit_code == 0:
        assert (code, err) == (0, "") and out.startswith(OK)
    else:
        _assert_refused(code, out, err, Case(case_id, "", 2, fragment.format(path=path)))
