"""The workflow runner against a tiny in-memory world (no HTTP server).

Steps are real bash processes with tiny sleeps; what is asserted is what a user of
the emulator relies on: run/job/step states and conclusions, the event a step sees,
outputs, annotations, masking, timeouts, cancellation and runner capacity.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from runner_fakes import FakeHost, FakeWorld, wait_done, wf

from tako_gha.emulator.envfiles import parse_file_commands
from tako_gha.emulator.runner import WorkflowRunner
from tako_gha.emulator.state import RunRecord, RunStore

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def env():
    world, store, host = FakeWorld(), RunStore(), FakeHost()
    runner = WorkflowRunner(world, store, host, capacity=4, kill_grace=1.0)
    yield world, store, host, runner
    runner.stop()


def dispatch_one(world: FakeWorld, runner: WorkflowRunner, store: RunStore, workflow: str,
                 payload: dict | None = None, event_type: str = "go") -> RunRecord:
    world.add("acme/app", {".github/workflows/ci.yml": workflow, "README.md": "hi\n"})
    runs = runner.dispatch("acme/app", event_type, payload or {}, "alice")
    assert len(runs) == 1
    wait_done(store, runs)
    return runs[0]


def log_of(runner: WorkflowRunner, run: RunRecord, index: int = 0) -> str:
    return runner.job_log(run.jobs[index].id)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


# ----------------------------------------------------------------------------- dispatch

def test_step_sees_event_payload_env_and_run_succeeds(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: |
          python3 -c "import json,os; e=json.load(open(os.environ['GITHUB_EVENT_PATH'])); \
          print('PAYLOAD', e['client_payload']['x'], e['action'], e['repository']['full_name'])"
          echo "EXPR ${{ github.event.client_payload.x }}"
          echo "ENV $GITHUB_REPOSITORY $GITHUB_EVENT_NAME $GITHUB_API_URL $GITHUB_RUN_ID"
          echo "TOK ${#GITHUB_TOKEN} $GITHUB_SHA $GITHUB_REF $CI $GITHUB_ACTIONS"
          test -f README.md
          test "$GITHUB_WORKSPACE" = "$PWD"
"""
    run = dispatch_one(world, runner, store, wf(body), {"x": "hello"})
    log = log_of(runner, run)
    assert run.status == "completed" and run.conclusion == "success", log
    assert "PAYLOAD hello go acme/app" in log
    assert "EXPR hello" in log
    assert f"ENV acme/app repository_dispatch http://127.0.0.1:9 {run.id}" in log
    assert f"{'a' * 40} refs/heads/main true true" in log
    assert run.event == "repository_dispatch" and run.head_branch == "main"
    assert run.actor == "alice" and run.run_started_at is not None
    job = run.jobs[0]
    assert job.name == "build" and job.conclusion == "success"
    assert [s.conclusion for s in job.steps] == ["success"]
    assert job.started_at is not None and job.completed_at is not None


def test_failing_step_fails_job_and_run_with_annotation(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  build:
    steps:
      - run: echo before; exit 3
      - run: echo never
      - if: failure()
        run: echo cleanup-ran
      - if: always()
        run: echo always-ran
"""
    run = dispatch_one(world, runner, store, wf(body))
    job = run.jobs[0]
    assert run.conclusion == "failure"
    assert job.conclusion == "failure"
    assert [s.conclusion for s in job.steps] == ["failure", "skipped", "success", "success"]
    assert "never" not in log_of(runner, run)
    assert "cleanup-ran" in log_of(runner, run) and "always-ran" in log_of(runner, run)
    assert any(a.level == "failure" and "exit code 3" in a.message for a in job.annotations)


def test_pipefail_is_on(env) -> None:
    world, store, _, runner = env
    run = dispatch_one(world, runner, store, wf("jobs:\n  j:\n    steps:\n"
                                                "      - run: false | cat\n"))
    assert run.conclusion == "failure"


def test_types_filter_and_on_forms(env) -> None:
    world, store, _, runner = env
    world.add("acme/app", {
        ".github/workflows/a.yml": wf("jobs:\n  j:\n    steps:\n      - run: 'true'\n",
                                      on="on:\n  repository_dispatch:\n    types: [build]"),
        ".github/workflows/b.yaml": wf("jobs:\n  j:\n    steps:\n      - run: 'true'\n",
                                       on="on: [push, repository_dispatch]"),
        ".github/workflows/c.yml": wf("jobs:\n  j:\n    steps:\n      - run: 'true'\n",
                                      on="on:\n  repository_dispatch:\n    types: deploy"),
        ".github/workflows/d.yml": wf("jobs:\n  j:\n    steps:\n      - run: 'true'\n",
                                      on="on: push"),
        ".github/workflows/sub/e.yml": wf("jobs:\n  j:\n    steps:\n      - run: 'true'\n"),
        ".github/workflows/notes.txt": "not a workflow",
    })
    build = runner.dispatch("acme/app", "build", {}, "bob")
    deploy = runner.dispatch("acme/app", "deploy", None, "bob")
    other = runner.dispatch("acme/app", "other", {}, "bob")
    assert sorted(r.workflow_path for r in build) == [".github/workflows/a.yml",
                                                       ".github/workflows/b.yaml"]
    assert sorted(r.workflow_path for r in deploy) == [".github/workflows/b.yaml",
                                                        ".github/workflows/c.yml"]
    assert [r.workflow_path for r in other] == [".github/workflows/b.yaml"]
    wait_done(store, build + deploy + other)
    assert all(r.conclusion == "success" for r in build + deploy + other)
    # workflow ids are stable per file, run numbers count per workflow
    b_runs = [r for r in build + deploy + other if r.workflow_path.endswith("b.yaml")]
    assert len({r.workflow_id for r in b_runs}) == 1
    assert sorted(r.run_number for r in b_runs) == [1, 2, 3]
    assert runner.dispatch("acme/missing", "build", {}, "bob") == []


def test_two_listening_workflows_give_two_runs_in_store(env) -> None:
    world, store, _, runner = env
    job = "jobs:\n  j:\n    steps:\n      - run: 'true'\n"
    world.add("acme/app", {".github/workflows/one.yml": "name: one\non: repository_dispatch\n"
                           + job,
                           ".github/workflows/two.yml": "on: repository_dispatch\n" + job})
    runs = runner.dispatch("acme/app", "x", {}, "bob")
    assert {r.workflow_name for r in runs} == {"one", ".github/workflows/two.yml"}
    assert runs[0].id != runs[1].id
    assert {r.id for r in store.list_runs("ACME/app")} == {r.id for r in runs}
    wait_done(store, runs)


def test_run_name_from_payload_title_or_workflow_name(env) -> None:
    world, store, _, runner = env
    body = ("run-name: ${{ github.event.client_payload.tako.title || github.workflow }}\n"
            "jobs:\n  j:\n    steps:\n      - run: 'true'\n")
    world.add("acme/app", {".github/workflows/r.yml": "name: Rebuild\non: repository_dispatch\n"
                           + body})
    titled = runner.dispatch("acme/app", "x", {"tako": {"title": "tako [r1/p1/d1]"}}, "b")[0]
    plain = runner.dispatch("acme/app", "x", {"other": 1}, "b")[0]
    assert titled.display_title == "tako [r1/p1/d1]"
    assert plain.display_title == "Rebuild"
    assert titled.status in ("queued", "in_progress", "completed")
    wait_done(store, [titled, plain])


def test_bad_expression_fails_run_with_clear_annotation(env) -> None:
    world, store, _, runner = env
    body = ("run-name: ${{ github.event.client_payload.x == }}\n"
            "jobs:\n  j:\n    steps:\n      - run: 'true'\n")
    run = dispatch_one(world, runner, store, wf(body))
    assert run.conclusion == "failure"
    notes = [a for j in run.jobs for a in j.annotations]
    assert notes and "run-name" in notes[0].message and "position" in notes[0].message
    assert notes[0].path == ".github/workflows/ci.yml"

    body2 = "jobs:\n  j:\n    steps:\n      - run: echo ${{ nosuch.thing }}\n"
    run2 = dispatch_one(world, runner, store, wf(body2))
    assert run2.conclusion == "failure"
    assert "Unrecognized named-value: 'nosuch'" in run2.jobs[0].annotations[0].message


def test_invalid_workflow_that_listens_gets_failed_run(env) -> None:
    world, store, _, runner = env
    run = dispatch_one(world, runner, store, "on: repository_dispatch\njobs:\n  j:\n"
                       "    steps: []\n")
    assert run.conclusion == "failure"
    assert "steps" in run.jobs[0].annotations[0].message
    world.add("acme/app", {".github/workflows/x.yml": "on: [push\n"})
    assert runner.dispatch("acme/app", "go", {}, "a") == []
    assert runner.problems and "invalid YAML" in runner.problems[-1]


# ----------------------------------------------------------------------------- jobs

def test_needs_order_and_failed_need_skips_dependants(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  last:
    needs: [first, second]
    steps:
      - run: echo "last sees ${{ needs.first.outputs.val }} ${{ needs.second.result }}"
  first:
    outputs:
      val: ${{ steps.s.outputs.val }}
    steps:
      - id: s
        run: echo "val=from-first" >> "$GITHUB_OUTPUT"
  second:
    needs: first
    steps:
      - run: echo second
"""
    run = dispatch_one(world, runner, store, wf(body))
    assert run.conclusion == "success"
    names = [j.name for j in run.jobs]
    assert names == ["first", "second", "last"]
    starts = [j.started_at for j in run.jobs]
    assert starts == sorted(starts)
    assert "last sees from-first success" in log_of(runner, run, 2)

    failing = """
jobs:
  a:
    steps:
      - run: exit 1
  b:
    needs: a
    steps:
      - run: echo b
  c:
    needs: b
    steps:
      - run: echo c
  report:
    needs: b
    if: always()
    steps:
      - run: echo "report ${{ needs.b.result }}"
  on-fail:
    needs: a
    if: failure()
    steps:
      - run: echo on-fail
"""
    run = dispatch_one(world, runner, store, wf(failing))
    by_name = {j.name: j.conclusion for j in run.jobs}
    assert by_name == {"a": "failure", "b": "skipped", "c": "skipped", "report": "success",
                       "on-fail": "success"}
    assert run.conclusion == "failure"
    report = next(j for j in run.jobs if j.name == "report")
    assert "report skipped" in runner.job_log(report.id)


def test_if_conditions_on_jobs_and_steps(env) -> None:
    world, store, _, runner = env
    body = """
env:
  MODE: ${{ github.event.client_payload.mode }}
jobs:
  deploy:
    if: github.event.client_payload.mode == 'PROD'
    steps:
      - run: echo deploying
  always:
    steps:
      - if: ${{ env.MODE == 'prod' }}
        run: echo step-prod
      - if: contains(github.event.client_payload.tags, 'x')
        run: echo step-tag
      - if: false
        run: echo never
"""
    run = dispatch_one(world, runner, store, wf(body), {"mode": "prod", "tags": ["x", "y"]})
    assert {j.name: j.conclusion for j in run.jobs} == {"deploy": "success", "always": "success"}
    log = log_of(runner, run, 1)
    assert "step-prod" in log and "step-tag" in log and "never" not in log
    assert [s.conclusion for s in run.jobs[1].steps] == ["success", "success", "skipped"]

    run2 = dispatch_one(world, runner, store, wf(body), {"mode": "dev", "tags": []})
    assert [j.conclusion for j in run2.jobs] == ["skipped", "success"]
    assert run2.conclusion == "success"
    assert [s.conclusion for s in run2.jobs[0].steps] == ["skipped"]


def test_outputs_env_path_and_summary_between_steps(env) -> None:
    world, store, _, runner = env
    body = """
env:
  WF_LEVEL: wf
jobs:
  j:
    env:
      JOB_LEVEL: ${{ env.WF_LEVEL }}-job
    steps:
      - id: one
        run: |
          echo "simple=1" >> "$GITHUB_OUTPUT"
          {
            echo "multi<<EOF_MARK"
            echo "line a"
            echo "line b"
            echo "EOF_MARK"
          } >> "$GITHUB_OUTPUT"
          echo "FROM_ENV_FILE=carried" >> "$GITHUB_ENV"
          mkdir -p "$RUNNER_TEMP/bin"
          printf '#!/bin/sh\\necho tool-on-path\\n' > "$RUNNER_TEMP/bin/mytool"
          chmod +x "$RUNNER_TEMP/bin/mytool"
          echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
          echo "# Summary one" >> "$GITHUB_STEP_SUMMARY"
      - env:
          MULTI: ${{ steps.one.outputs.multi }}
          STEP_LEVEL: ${{ env.JOB_LEVEL }}-step
        run: |
          echo "simple=${{ steps.one.outputs.simple }}"
          echo "multi=[$MULTI]"
          echo "levels $WF_LEVEL $JOB_LEVEL $STEP_LEVEL $FROM_ENV_FILE"
          mytool
          echo "outcome=${{ steps.one.outcome }}"
"""
    run = dispatch_one(world, runner, store, wf(body))
    log = log_of(runner, run)
    assert run.conclusion == "success", log
    assert "simple=1" in log
    assert "multi=[line a\nline b]" in log
    assert "levels wf wf-job wf-job-step carried" in log
    assert "tool-on-path" in log and "outcome=success" in log
    assert runner.job_summary(run.jobs[0].id).strip() == "# Summary one"


def test_bad_output_file_fails_step(env) -> None:
    world, store, _, runner = env
    body = ("jobs:\n  j:\n    steps:\n"
            "      - run: printf 'x<<END\\nno end\\n' >> \"$GITHUB_OUTPUT\"\n")
    run = dispatch_one(world, runner, store, wf(body))
    assert run.conclusion == "failure"
    assert "delimiter" in run.jobs[0].annotations[0].message
    assert run.jobs[0].annotations[0].message.startswith("jobs.j.steps[0]: ")  # where


def test_parse_file_commands_forms() -> None:
    text = "a=1\nb=x=y\n\nc<<D\nl1\n\nl3\nD\nd<<EOF\nEOF\n"
    assert parse_file_commands(text, "GITHUB_OUTPUT") == {
        "a": "1", "b": "x=y", "c": "l1\n\nl3", "d": ""}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_file_commands("novalue\n", "GITHUB_OUTPUT")


def test_continue_on_error_and_custom_shells(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  j:
    steps:
      - id: bad
        continue-on-error: true
        run: exit 2
      - shell: python
        run: |
          import sys
          print("py", sys.version_info[0],
                "${{ steps.bad.outcome }}", "${{ steps.bad.conclusion }}")
      - shell: sh
        run: echo from-sh
      - uses: actions/checkout@v4
"""
    run = dispatch_one(world, runner, store, wf(body))
    log = log_of(runner, run)
    assert run.conclusion == "success", log
    assert "py 3 failure success" in log and "from-sh" in log
    assert "actions/checkout@v4 (the emulator's built-in)" in log and "Checked out acme/app" in log
    assert [s.conclusion for s in run.jobs[0].steps] == ["success"] * 4


# ----------------------------------------------------------------------------- commands

def test_annotations_and_masking(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  j:
    steps:
      - run: |
          echo "::add-mask::hunter2"
          echo "::error file=src/app.py,line=12,title=Bad%2C thing::broke with hunter2"
          echo "::warning::careful%0Asecond line"
          echo "::notice title=Hi::just so you know"
          echo "plain hunter2 and ${{ secrets.TAKO_TOKEN }} and $GITHUB_TOKEN"
          echo "# sum hunter2" >> "$GITHUB_STEP_SUMMARY"
"""
    run = dispatch_one(world, runner, store, wf(body))
    notes = run.jobs[0].annotations
    assert [(a.level, a.title) for a in notes] == [
        ("failure", "Bad, thing"), ("warning", ""), ("notice", "Hi")]
    assert notes[0].message == "broke with ***"
    assert (notes[0].path, notes[0].line) == ("src/app.py", 12)
    assert notes[1].message == "careful\nsecond line"
    log = log_of(runner, run)
    assert "hunter2" not in log and "s3cr3t-value" not in log
    assert "ghs_run" not in log
    assert "plain *** and *** and ***" in log
    assert "hunter2" not in runner.job_summary(run.jobs[0].id)
    # ::error:: alone does not fail a step (as on GitHub)
    assert run.conclusion == "success"


def test_each_line_of_a_multi_line_secret_is_masked_in_log_summary_and_notes(env) -> None:
    world, store, host, runner = env
    key = "-----BEGIN KEY-----\nline-one-s3cret\r\n  line-two-s3cret  \n\n-----END KEY-----\n"
    host.secrets = lambda: {"KEY": key}  # type: ignore[method-assign]
    body = """
jobs:
  j:
    steps:
      - env:
          K: ${{ secrets.KEY }}
        run: |
          printf '%s\\n' "$K"
          echo "::error file=line-one-s3cret,title=t line-two-s3cret::m line-one-s3cret"
          echo "::add-mask::alpha-part%0Abeta-part"
          echo "alpha-part beta-part"
          printf '%s\\n' "$K" >> "$GITHUB_STEP_SUMMARY"
"""
    run = dispatch_one(world, runner, store, wf(body))
    log = log_of(runner, run)
    summary = runner.job_summary(run.jobs[0].id)
    for text in (log, summary):
        assert "s3cret" not in text and "KEY-----" not in text, text
    assert "*** ***" in log  # the two lines of the ::add-mask:: value
    (note,) = run.jobs[0].annotations
    assert (note.path, note.title, note.message) == ("***", "t ***", "m ***")


def test_github_token_is_set_in_step_env_and_with(env) -> None:
    world, store, _, runner = env
    body = """
env:
  WF_TOKEN: ${{ github.token }}
jobs:
  j:
    steps:
      - env:
          T: ${{ github.token }}
        if: github.token != ''
        run: |
          test -n "$T" && test "$T" = "$GITHUB_TOKEN" && test "$WF_TOKEN" = "$T"
          echo "token length ${#T}"
"""
    run = dispatch_one(world, runner, store, wf(body))
    log = log_of(runner, run)
    assert run.conclusion == "success", log
    assert [s.conclusion for s in run.jobs[0].steps] == ["success"]
    assert "ghs_run" not in log and "token length" in log


def test_command_lines_are_not_logged_what_they_mean_is(env) -> None:
    """As GitHub's runner: an escaped value (``%3A``) in a command line would slip past
    its mask, so the line is not logged; the annotation and the group are."""
    world, store, host, runner = env
    host.secrets = lambda: {"PW": "pass: word, here"}  # type: ignore[method-assign]
    body = """
jobs:
  j:
    steps:
      - run: |
          echo "::add-mask::later"
          echo "::error title=pass%3A word%2C here::broke with later"
          echo "::group::Setup"
          echo "::debug::hidden unless debugging"
          echo "::endgroup::"
"""
    run = dispatch_one(world, runner, store, wf(body))
    lines = log_of(runner, run).splitlines()
    assert [x for x in lines if not x.startswith("##[group]Run")][1:] == [
        "##[error]broke with ***", "##[group]Setup", "##[endgroup]"]
    assert not any("word" in x or x.startswith("::") for x in lines), lines
    assert run.jobs[0].annotations[0].title == "***"


def test_stop_commands_suspends_workflow_commands(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  j:
    steps:
      - run: |
          echo "::stop-commands::pause123"
          echo "::error::not an annotation"
          echo "::pause123::"
          echo "::error::real one"
"""
    run = dispatch_one(world, runner, store, wf(body))
    assert [a.message for a in run.jobs[0].annotations] == ["real one"]


# ----------------------------------------------------------------------------- time

def test_job_timeout_kills_sleeping_step_quickly(env, tmp_path: Path) -> None:
    world, store, _, runner = env
    pidfile = tmp_path / "pid"
    body = f"""
jobs:
  slow:
    timeout-minutes: 0.05
    steps:
      - run: |
          sleep 30 &
          echo $! > {pidfile}
          sleep 30
      - if: always()
        run: echo after
"""
    # 3 s: time for the step to start its sleeps even on a loaded machine (at 0.6 s,
    # beside a benchmark, the job timed out before the step wrote the pid)
    started = time.monotonic()
    run = dispatch_one(world, runner, store, wf(body))
    elapsed = time.monotonic() - started
    assert elapsed < 15, elapsed
    assert run.conclusion == "timed_out"
    assert run.jobs[0].conclusion == "timed_out"
    assert run.jobs[0].steps[0].conclusion == "failure"
    assert run.jobs[0].steps[1].conclusion == "skipped"
    assert any("maximum execution time" in a.message for a in run.jobs[0].annotations)
    assert not pid_alive(int(pidfile.read_text()))


def test_step_timeout_with_expression(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  j:
    steps:
      - timeout-minutes: ${{ 0.01 }}
        run: sleep 30
      - if: always()
        run: echo after-timeout
"""
    run = dispatch_one(world, runner, store, wf(body))
    assert run.conclusion == "timed_out"
    assert [s.conclusion for s in run.jobs[0].steps] == ["failure", "success"]
    assert any("timed out" in a.message for a in run.jobs[0].annotations)


def test_cancel_stops_sleeping_run_and_leaves_no_process(env, tmp_path: Path) -> None:
    world, store, _, runner = env
    pidfile = tmp_path / "pid"
    body = f"""
jobs:
  j:
    steps:
      - run: |
          echo $$ > {pidfile}
          sleep 30
      - run: echo never
      - if: always()
        run: sleep 0.2; echo cleaned-up
  later:
    needs: j
    steps:
      - run: echo never-later
"""
    world.add("acme/app", {".github/workflows/ci.yml": wf(body)})
    run = runner.dispatch("acme/app", "go", {}, "a")[0]
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert run.status == "in_progress"
    started = time.monotonic()
    assert runner.cancel(run.id) is True
    time.sleep(0.1)  # the cleanup step (if: always()) is running now
    assert runner.cancel(run.id) is True  # a second cancel spares the cleanup step
    wait_done(store, [run])
    assert time.monotonic() - started < 3
    assert run.conclusion == "cancelled"
    assert [j.conclusion for j in run.jobs] == ["cancelled", "cancelled"]
    assert [s.conclusion for s in run.jobs[0].steps] == ["cancelled", "skipped", "success"]
    assert "cleaned-up" in runner.job_log(run.jobs[0].id)
    assert not pid_alive(int(pidfile.read_text()))
    assert runner.cancel(run.id) is False  # already completed (the API's 409)
    assert runner.cancel(999_999) is False


def test_cancel_queued_run_and_capacity_limit(tmp_path: Path) -> None:
    world, store, host = FakeWorld(), RunStore(), FakeHost()
    runner = WorkflowRunner(world, store, host, capacity=1)
    marks, gate = tmp_path / "marks", tmp_path / "gate"
    # each run holds its slot until the test opens the gate: no timing assumptions
    body = f"""
jobs:
  j:
    steps:
      - run: |
          echo "start $GITHUB_RUN_ID $(date +%s.%N)" >> {marks}
          while [ ! -f {gate} ]; do sleep 0.01; done
          sleep 0.05
          echo "end $GITHUB_RUN_ID $(date +%s.%N)" >> {marks}
"""
    world.add("acme/app", {".github/workflows/ci.yml": wf(body)})
    try:
        first = runner.dispatch("acme/app", "go", {}, "a")[0]
        second = runner.dispatch("acme/app", "go", {}, "a")[0]
        third = runner.dispatch("acme/app", "go", {}, "a")[0]
        deadline = time.monotonic() + 10
        while not marks.exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)  # were capacity ignored, the others would start meanwhile
        assert first.status == "in_progress"
        assert second.status == "queued" and third.status == "queued"
        assert runner.cancel(third.id) is True
        assert third.status == "completed" and third.conclusion == "cancelled"
        gate.write_text("open")
        wait_done(store, [first, second, third])
        assert first.conclusion == second.conclusion == "success"
        events = [line.split() for line in marks.read_text().splitlines()]
        assert [(e[0], int(e[1])) for e in events] == [
            ("start", first.id), ("end", first.id), ("start", second.id), ("end", second.id)]
        assert float(events[2][2]) >= float(events[1][2])
        assert str(third.id) not in [e[1] for e in events]  # ids, not timestamp digits
    finally:
        runner.stop()


def test_rerun_creates_new_attempt(env) -> None:
    world, store, _, runner = env
    body = ("jobs:\n  j:\n    steps:\n"
            "      - run: echo attempt=$GITHUB_RUN_ATTEMPT; test $GITHUB_RUN_ATTEMPT = 2\n")
    run = dispatch_one(world, runner, store, wf(body))
    assert run.conclusion == "failure"
    old_job = run.jobs[0].id
    assert runner.rerun(run.id) is True
    assert run.run_attempt == 2
    wait_done(store, [run])
    assert run.conclusion == "success"
    assert run.jobs[0].id != old_job
    assert runner.rerun(424242) is False


def test_stop_kills_everything(tmp_path: Path) -> None:
    world, store, host = FakeWorld(), RunStore(), FakeHost()
    runner = WorkflowRunner(world, store, host, capacity=2)
    pids = tmp_path / "pids"
    body = f"""
jobs:
  j:
    steps:
      - run: |
          trap '' INT TERM
          sleep 30 &
          echo $! >> {pids}
          echo $$ >> {pids}
          wait
      - if: always()
        run: sleep 30
"""
    world.add("acme/app", {".github/workflows/ci.yml": wf(body)})
    runs = [runner.dispatch("acme/app", "go", {}, "a")[0] for _ in range(3)]
    deadline = time.monotonic() + 10
    while not pids.exists() or len(pids.read_text().split()) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 5
    assert all(r.status == "completed" and r.conclusion == "cancelled" for r in runs)
    for pid in pids.read_text().split():
        assert not pid_alive(int(pid)), pid
    # after stop, a dispatch still answers but nothing runs
    late = runner.dispatch("acme/app", "go", {}, "a")
    assert late[0].status == "completed" and late[0].conclusion == "cancelled"


# ----------------------------------------------------------------------------- tako action

def test_uses_tako_action_runs_entry_with_inputs(env, tmp_path: Path) -> None:
    world, store, host, _ = env
    fake = tmp_path / "fake_action.py"
    fake.write_text(
        "import json, os\n"
        "keys = sorted(k for k in os.environ if k.startswith('TAKO_INPUT_'))\n"
        "print('INPUTS', json.dumps({k: os.environ[k] for k in keys}))\n"
        "print('API', os.environ['GITHUB_API_URL'], os.environ['GITHUB_ACTION_PATH'] != '')\n"
        "with open(os.environ['GITHUB_OUTPUT'], 'a') as f:\n"
        "    f.write('status=success\\n')\n"
    )
    runner = WorkflowRunner(world, store, host, action_command=[sys.executable, str(fake)])
    body = """
jobs:
  fan:
    steps:
      - id: tako
        uses: someone/tako-gha@v1
        with:
          event_type: built
          payload: ${{ toJSON(github.event.client_payload.event) }}
          token: ${{ secrets.TAKO_TOKEN }}
      - run: echo "result=${{ steps.tako.outputs.status }}"
      - uses: ./
        with:
          event_type: local
          bogus: 1
"""
    # the local action is a composite one: it runs step by step (the same fake entry)
    local = {"inputs": {"event_type": {"required": True}},
             "runs": {"using": "composite", "steps": [{
                 "shell": "bash", "run": f'"{sys.executable}" "{fake}"',
                 "env": {"TAKO_INPUT_EVENT_TYPE": "${{ inputs.event_type }}"}}]}}
    files = {".github/workflows/ci.yml": wf(body), "action.yml": yaml.safe_dump(local)}
    world.add("acme/app", files)
    try:
        run = runner.dispatch("acme/app", "go", {"event": {"v": 1}}, "a")[0]
        wait_done(store, [run])
        log = runner.job_log(run.jobs[0].id)
        assert run.conclusion == "success", log
        lines = [json.loads(line[len("INPUTS "):]) for line in log.splitlines()
                 if line.startswith("INPUTS ")]
        assert len(lines) == 2
        first = lines[0]
        assert first["TAKO_INPUT_EVENT_TYPE"] == "built"
        assert json.loads(first["TAKO_INPUT_PAYLOAD"]) == {"v": 1}
        assert first["TAKO_INPUT_WAIT_FOR_CHILDREN"] == "true"  # a default
        assert first["TAKO_INPUT_TIMEOUT"] == "30m"
        assert first["TAKO_INPUT_ORG"] == "acme"  # action.yml: inputs.org || owner
        assert first["TAKO_INPUT_API_URL"] == "http://127.0.0.1:9"
        assert lines[1]["TAKO_INPUT_EVENT_TYPE"] == "local"
        assert "result=success" in log
        assert "API http://127.0.0.1:9 True" in log
        assert any("Unexpected input" in a.message and "bogus" in a.message
                   for a in run.jobs[0].annotations)
    finally:
        runner.stop()


def test_uses_local_action_without_runs_fails_and_says_why(env) -> None:
    world, store, _, runner = env
    world.add("acme/app", {".github/workflows/ci.yml": wf(
        "jobs:\n  j:\n    steps:\n      - uses: ./\n"), "action.yml": "name: other\n"})
    run = runner.dispatch("acme/app", "go", {}, "a")[0]
    wait_done(store, [run])
    assert run.conclusion == "failure"
    (note,) = run.jobs[0].annotations
    assert "./ (action.yml): 'runs.using' is missing" in note.message


def test_independent_jobs_run_side_by_side(env, tmp_path: Path) -> None:
    world, store, _, runner = env
    # each job waits for the other's mark: only finishes if both run at once
    body = f"""
jobs:
  left:
    timeout-minutes: 0.1
    steps:
      - run: |
          touch {tmp_path}/left
          while [ ! -f {tmp_path}/right ]; do sleep 0.01; done
  right:
    timeout-minutes: 0.1
    steps:
      - run: |
          touch {tmp_path}/right
          while [ ! -f {tmp_path}/left ]; do sleep 0.01; done
  after:
    needs: [left, right]
    steps:
      - run: test -f {tmp_path}/left -a -f {tmp_path}/right
"""
    run = dispatch_one(world, runner, store, wf(body))
    assert [j.conclusion for j in run.jobs] == ["success", "success", "success"]
    assert run.conclusion == "success"
    left, right, after = run.jobs
    assert after.started_at >= max(left.completed_at, right.completed_at)


def test_matrix_jobs_expand_with_include_exclude(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  test:
    strategy:
      matrix:
        py: ['3.10', '3.11']
        os: [linux, mac]
        exclude:
          - os: mac
            py: '3.10'
        include:
          - os: linux
            extra: yes-linux
          - os: windows
            py: '3.12'
    outputs:
      last: ${{ matrix.py }}
    steps:
      - env:
          AT: ${{ strategy.job-index }}/${{ strategy.job-total }}
        run: echo "combo ${{ matrix.os }} ${{ matrix.py }} ${{ matrix.extra }} $AT"
  named:
    strategy:
      matrix: ${{ fromJSON('{"v":[1,2]}') }}
    name: Named ${{ matrix.v }}
    steps:
      - run: test ${{ matrix.v }} -le 2
  after:
    needs: [test, named]
    steps:
      - run: echo "after ${{ needs.test.result }}"
"""
    run = dispatch_one(world, runner, store, wf(body))
    names = [j.name for j in run.jobs]
    assert names == ["test (3.10, linux, yes-linux)", "test (3.11, linux, yes-linux)",
                     "test (3.11, mac)", "test (windows, 3.12)", "Named 1", "Named 2", "after"]
    assert run.conclusion == "success"
    logs = "\n".join(runner.job_log(j.id) for j in run.jobs)
    assert "combo linux 3.10 yes-linux 0/4" in logs
    assert "combo mac 3.11  2/4" in logs
    assert "combo windows 3.12  3/4" in logs
    assert "after success" in logs


def test_failing_matrix_combination_fails_the_job_result(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  t:
    strategy:
      fail-fast: false
      matrix:
        n: [1, 2, 3]
    steps:
      - run: test ${{ matrix.n }} != 2
  report:
    needs: t
    if: always()
    steps:
      - run: echo "t was ${{ needs.t.result }}"
"""
    run = dispatch_one(world, runner, store, wf(body))
    assert [j.conclusion for j in run.jobs] == ["success", "failure", "success", "success"]
    assert "t was failure" in runner.job_log(run.jobs[3].id)
    assert run.conclusion == "failure"


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ("matrix:\n        n: []", "strategy.matrix.n must be a non-empty list"),
        ("matrix:\n        n: [1]\n        exclude: [{n: 1}]", "no combinations left"),
        ("matrix: ${{ fromJSON('[1]') }}", "must be a mapping"),
        ("matrix:\n        n: [1]\n        include: [3]", "include must be a list of mappings"),
        ("matrix: ${{ nope }}", "Unrecognized named-value"),
    ],
)
def test_bad_matrix_fails_the_run_at_startup(env, matrix: str, message: str) -> None:
    world, store, _, runner = env
    body = f"jobs:\n  t:\n    strategy:\n      {matrix}\n    steps:\n      - run: 'true'\n"
    run = dispatch_one(world, runner, store, wf(body))
    assert run.conclusion == "failure"
    assert len(run.jobs) == 1
    note = run.jobs[0].annotations[0].message
    assert message in note and note.startswith(".github/workflows/ci.yml: jobs.t")


def test_matrix_fail_fast_cancels_sibling_combinations(env, tmp_path: Path) -> None:
    world, store, _, runner = env
    body = f"""
jobs:
  t:
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: |
          if [ ${{{{ matrix.n }}}} = 1 ]; then
            echo $$ > {tmp_path}/pid
            sleep 30
          fi
          while [ ! -f {tmp_path}/pid ]; do sleep 0.01; done
          exit 1
      - if: cancelled()
        run: echo "cleanup ${{{{ matrix.n }}}} ${{{{ strategy.fail-fast }}}}"
"""
    started = time.monotonic()
    run = dispatch_one(world, runner, store, wf(body))
    assert time.monotonic() - started < 10
    assert [j.conclusion for j in run.jobs] == ["cancelled", "failure"]
    assert run.conclusion == "failure"
    assert "cleanup 1 true" in runner.job_log(run.jobs[0].id)
    assert not pid_alive(int((tmp_path / "pid").read_text()))
