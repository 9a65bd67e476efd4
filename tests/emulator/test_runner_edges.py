"""The runner's failure paths: each ends the run with a clear annotation, never a crash."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from runner_fakes import FakeHost, FakeRepo, FakeWorld, wait_done, wf

from tako_gha.emulator import jobstate as runner_mod
from tako_gha.emulator.runner import WorkflowRunner
from tako_gha.emulator.state import RunRecord, RunStore

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def env():
    world, store, host = FakeWorld(), RunStore(), FakeHost()
    runner = WorkflowRunner(world, store, host, capacity=2, kill_grace=1.0)
    yield world, store, host, runner
    runner.stop()


def run_body(world: FakeWorld, runner: WorkflowRunner, store: RunStore, body: str,
             files: dict[str, str] | None = None) -> RunRecord:
    world.add("acme/app", {".github/workflows/ci.yml": wf(body), **(files or {})})
    run = runner.dispatch("acme/app", "go", {"k": "v"}, {"login": "bot", "type": "Bot"})[0]
    wait_done(store, [run])
    return run


def messages(run: RunRecord) -> str:
    return "\n".join(a.message for j in run.jobs for a in j.annotations)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("jobs:\n  j:\n    steps:\n      - shell: nosuchshell\n        run: 'true'\n",
         "unsupported shell 'nosuchshell'"),
        ("jobs:\n  j:\n    steps:\n      - shell: /nonexistent/sh {0}\n        run: 'true'\n",
         "cannot start /nonexistent/sh"),
        ("jobs:\n  j:\n    steps:\n      - working-directory: nope\n        run: 'true'\n",
         "working-directory 'nope' does not exist"),
        ("jobs:\n  j:\n    timeout-minutes: soon\n    steps:\n      - run: 'true'\n",
         "timeout-minutes must be a number of minutes, not 'soon'"),
        ("jobs:\n  j:\n    timeout-minutes: -1\n    steps:\n      - run: 'true'\n",
         "timeout-minutes must be positive"),
        ("jobs:\n  j:\n    if: github.x ==\n    steps:\n      - run: 'true'\n",
         "jobs.j.if"),
        ("jobs:\n  j:\n    steps:\n      - if: nosuch\n        run: 'true'\n",
         "jobs.j.steps[0].if"),
        ("jobs:\n  j:\n    env:\n      A: ${{ fromJSON('x') }}\n    steps:\n      - run: 'true'\n",
         "not valid JSON"),
        ("jobs:\n  j:\n    steps:\n      - env: {A: '${{ 1 == }}'}\n        run: 'true'\n",
         "jobs.j.steps[0]"),
    ],
)
def test_bad_steps_fail_the_run_with_annotation(env, body: str, expected: str) -> None:
    world, store, _, runner = env
    run = run_body(world, runner, store, body)
    assert run.status == "completed" and run.conclusion == "failure"
    assert expected in messages(run)


def test_working_directory_defaults_and_step_name_expression(env) -> None:
    world, store, _, runner = env
    body = """
defaults:
  run:
    working-directory: sub
jobs:
  j:
    steps:
      - name: Build ${{ github.event.client_payload.k }}
        run: pwd; cat here.txt
      - working-directory: .
        run: test -d sub
"""
    run = run_body(world, runner, store, body, {"sub/here.txt": "inside-sub\n"})
    assert run.conclusion == "success", runner.job_log(run.jobs[0].id)
    assert run.jobs[0].steps[0].name == "Build v"
    assert "inside-sub" in runner.job_log(run.jobs[0].id)
    assert run.actor == "bot"


def test_checkout_failure_fails_the_job(env) -> None:
    world, store, _, runner = env

    class Broken(FakeRepo):
        def checkout_to(self, dest: Path) -> None:
            raise OSError("disk full")

    world.repos["acme/app"] = Broken("acme/app", {".github/workflows/ci.yml": wf(
        "jobs:\n  j:\n    steps:\n      - run: 'true'\n")})
    run = runner.dispatch("acme/app", "go", {}, "a")[0]
    wait_done(store, [run])
    assert run.conclusion == "failure"
    assert "checkout of acme/app failed: disk full" in messages(run)


def test_host_error_is_a_failed_run_not_a_dead_worker(env) -> None:
    world, store, host, runner = env
    calls = {"n": 0}
    real = host.issue_run_token

    def flaky(repo: str) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("token service down")
        return real(repo)

    host.issue_run_token = flaky  # type: ignore[method-assign]
    body = "jobs:\n  j:\n    steps:\n      - run: 'true'\n"
    first = run_body(world, runner, store, body)
    assert first.conclusion == "failure"
    assert "token service down" in messages(first)
    second = run_body(world, runner, store, body)
    assert second.conclusion == "success"


def test_log_is_capped_and_wait_idle(env, monkeypatch: pytest.MonkeyPatch) -> None:
    world, _, _, runner = env
    monkeypatch.setattr(runner_mod, "LOG_LIMIT_CHARS", 2000)
    body = "jobs:\n  j:\n    steps:\n      - run: for i in $(seq 1 500); do echo line$i; done\n"
    world.add("acme/app", {".github/workflows/ci.yml": wf(body)})
    run = runner.dispatch("acme/app", "go", {}, "a")[0]
    assert runner.wait_idle(20) is True
    log = runner.job_log(run.jobs[0].id)
    assert "line1\n" in log and "line500" not in log and "log truncated" in log
    assert len(log) < 2200
    assert runner.job_log(123) == "" and runner.job_summary(123) == ""


def test_wait_idle_times_out_while_busy(env) -> None:
    world, _, _, runner = env
    world.add("acme/app", {".github/workflows/ci.yml": wf(
        "jobs:\n  j:\n    steps:\n      - run: sleep 5\n")})
    run = runner.dispatch("acme/app", "go", {}, "a")[0]
    assert runner.wait_idle(0.2) is False
    assert runner.cancel(run.id) is True
    assert runner.wait_idle(10) is True


def test_rerun_refused_while_running_and_summary_too_big(env) -> None:
    world, store, _, runner = env
    body = ("jobs:\n  j:\n    steps:\n"
            "      - run: head -c 1100000 /dev/zero | tr '\\0' x >> \"$GITHUB_STEP_SUMMARY\"\n"
            "      - run: sleep 0.3\n")
    world.add("acme/app", {".github/workflows/ci.yml": wf(body)})
    run = runner.dispatch("acme/app", "go", {}, "a")[0]
    time.sleep(0.05)
    assert runner.rerun(run.id) is False
    wait_done(store, [run])
    assert "larger than 1 MiB" in messages(run)
    assert run.conclusion == "success"  # GitHub: step status unaffected
    assert runner.job_summary(run.jobs[0].id) == ""


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WorkflowRunner(FakeWorld(), RunStore(), FakeHost(), capacity=0)


def test_job_continue_on_error_keeps_run_green(env) -> None:
    world, store, _, runner = env
    body = ("jobs:\n  flaky:\n    continue-on-error: true\n    steps:\n      - run: exit 1\n"
            "  next:\n    needs: flaky\n    if: always()\n    steps:\n      - run: 'true'\n")
    run = run_body(world, runner, store, body)
    assert [j.conclusion for j in run.jobs] == ["failure", "success"]
    assert run.conclusion == "success"


def test_step_timeout_absorbed_by_continue_on_error_and_deleted_summary(env) -> None:
    world, store, _, runner = env
    body = """
jobs:
  j:
    outputs:
      bad: ${{ fromJSON('nope') }}
    steps:
      - continue-on-error: true
        timeout-minutes: 0.005
        run: sleep 10
      - run: |
          echo "# gone" >> "$GITHUB_STEP_SUMMARY"
          rm "$GITHUB_STEP_SUMMARY"
      - continue-on-error: ${{ nosuch }}
        run: 'true'
      - timeout-minutes: true
        run: 'true'
"""
    run = run_body(world, runner, store, body)
    steps = [s.conclusion for s in run.jobs[0].steps]
    assert steps == ["success", "success", "success", "failure"]
    assert run.conclusion == "failure"  # the bad timeout-minutes, not the absorbed timeout
    text = messages(run)
    assert "has timed out" in text
    assert "timeout-minutes must be a number, not True" in text
    assert "continue-on-error" in text and "outputs.bad" in text
    assert runner.job_summary(run.jobs[0].id) == ""


def test_bad_heredoc_name_and_broken_workflow_forms(env) -> None:
    world, store, _, runner = env
    body = ("jobs:\n  j:\n    steps:\n"
            "      - run: echo '<<EOF' >> \"$GITHUB_OUTPUT\"\n")
    run = run_body(world, runner, store, body)
    assert "expected NAME<<DELIMITER" in messages(run)
    world.add("acme/app", {
        ".github/workflows/a.yml": "on: [repository_dispatch]\njobs: {}\n",
        ".github/workflows/b.yml": "- just a list\n",
        ".github/workflows/c.yml": "on:\n  repository_dispatch: {types: [other]}\njobs: 3\n",
    })
    runs = runner.dispatch("acme/app", "go", {}, "a")
    assert [r.workflow_path for r in runs] == [".github/workflows/a.yml"]
    wait_done(store, runs)
    assert runs[0].conclusion == "failure"
    assert len(runner.problems) == 2


def test_unreadable_world_repo_gives_no_runs_and_a_problem(env) -> None:
    world, _, _, runner = env

    class Unreadable(FakeRepo):
        def list_files(self, prefix: str) -> list[str]:
            raise OSError("bad object")

    world.repos["acme/app"] = Unreadable("acme/app", {})
    assert runner.dispatch("acme/app", "go", {}, "a") == []
    assert runner.problems == ["acme/app: cannot read workflows: bad object"]


DEEP = ("import os\n"
        "for _ in range(1200):  # deeper than Python's recursion limit\n"
        "    os.mkdir('d')\n"
        "    os.chdir('d')\n"
        "print('made deep')\n")


def test_a_workspace_deeper_than_the_recursion_limit_is_removed(
        env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step may leave any tree behind: the job ends as its steps say and its run
    directory is removed. Before: shutil.rmtree recursed once per level, so the job
    failed with 'emulator runner error: RecursionError' and the directory stayed."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    world, store, _, runner = env
    body = ("jobs:\n  j:\n    steps:\n      - shell: python\n        run: |\n"
            + "".join(f"          {line}\n" for line in DEEP.splitlines())
            + "      - run: echo after\n")
    try:
        run = run_body(world, runner, store, body)
        assert run.conclusion == "success", messages(run)
        assert "runner error" not in messages(run)
        assert list(tmp_path.iterdir()) == []
    finally:  # what a failure leaves would break pytest's own (recursive) clean-up
        subprocess.run(["rm", "-rf", *map(str, tmp_path.iterdir())], check=False)


@pytest.mark.parametrize(("swap", "variable"), [
    ('rm "$GITHUB_OUTPUT"; mkfifo "$GITHUB_OUTPUT"', "GITHUB_OUTPUT"),
    ('rm "$GITHUB_ENV"; mkfifo "$GITHUB_ENV"', "GITHUB_ENV"),
    ('rm "$GITHUB_PATH"; mkdir "$GITHUB_PATH"', "GITHUB_PATH"),
    ('rm "$GITHUB_STEP_SUMMARY"; mkfifo "$GITHUB_STEP_SUMMARY"', "GITHUB_STEP_SUMMARY"),
    ('rm "$GITHUB_ENV"; ln -s /dev/zero "$GITHUB_ENV"', "GITHUB_ENV"),
    ('rm "$GITHUB_STEP_SUMMARY"; ln -s /dev/zero "$GITHUB_STEP_SUMMARY"',
     "GITHUB_STEP_SUMMARY"),
])
def test_a_file_command_file_swapped_for_a_fifo_device_or_directory_fails_its_step(
        env, swap: str, variable: str) -> None:
    """Read back with a bound and without waiting: a FIFO nobody writes, /dev/zero or a
    directory where the runner's file was fails the step that put it there, saying
    which file. Before: the job waited forever on the FIFO, read /dev/zero until memory
    ran out, or ended in 'emulator runner error' on the directory."""
    world, store, _, runner = env
    body = ("jobs:\n  j:\n    steps:\n"
            f"      - run: '{swap}'\n"
            "      - run: echo next-step-ran\n")
    run = run_body(world, runner, store, body)
    notes = messages(run)
    assert run.conclusion == "failure", notes
    assert [s.conclusion for s in run.jobs[0].steps] == ["failure", "skipped"]
    assert f"unable to process file command: {variable}: not a regular file" in notes, notes
    assert "runner error" not in notes

