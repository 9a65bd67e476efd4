"""Composite actions in the emulator's runner: ``uses: OWNER/REPO[/path]@REF`` from the
world and ``uses: ./path``, run step by step, with the built-in actions/checkout,
actions/setup-python and actions/cache, and clear failures for what is not run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tako_gha.emulator import Emulator
from tako_gha.emulator.state import RunRecord
from tako_gha.emulator.worldgen import write_world

pytestmark = pytest.mark.timeout(120)

GREET = {
    "name": "greet",
    "inputs": {"who": {"required": True},
               "greeting": {"default": "hello"},
               "repo": {"default": "${{ github.repository }}"}},
    "outputs": {"line": {"value": "${{ steps.say.outputs.line }}"},
                "inner": {"value": "${{ steps.nested.outputs.shout }}"},
                "skipped": {"value": "[${{ steps.never.outputs.x }}]"}},
    "runs": {"using": "composite", "steps": [
        {"id": "say", "shell": "bash",
         "env": {"WHO": "${{ inputs.who }}", "GREETING": "${{ inputs.greeting }}",
                 "REPO": "${{ inputs.repo }}"},
         "run": 'echo "line=$GREETING $WHO from $REPO" >> "$GITHUB_OUTPUT"\n'
                'echo "data: $(cat "$GITHUB_ACTION_PATH/data.txt")"\n'
                '[ "${{ github.action_path }}" = "$GITHUB_ACTION_PATH" ] && echo path-same\n'
                'echo "caller-env: $CALLER"'},
        {"id": "never", "if": "inputs.who == 'nobody'", "shell": "bash",
         "run": 'echo "x=1" >> "$GITHUB_OUTPUT"'},
        {"id": "nested", "uses": "acme/tools/shout@v1",
         "with": {"text": "${{ steps.say.outputs.line }}"}},
        {"shell": "python", "run": "print('python step ran')"},
    ]},
}
SHOUT = {
    "inputs": {"text": {}},
    "outputs": {"shout": {"value": "${{ steps.up.outputs.text }}"}},
    "runs": {"using": "composite", "steps": [
        {"id": "up", "shell": "bash", "env": {"TEXT": "${{ inputs.text }}"},
         "run": 'echo "text=${TEXT^^}" >> "$GITHUB_OUTPUT"'}]},
}
FAILING = {
    "runs": {"using": "composite", "steps": [
        {"shell": "bash", "run": "echo first; exit 3"},
        {"shell": "bash", "run": "echo should-not-run"},
        {"if": "failure()", "shell": "bash", "run": "echo cleanup-after-failure"},
        {"if": "always()", "id": "last", "shell": "bash",
         "run": 'echo "done=yes" >> "$GITHUB_OUTPUT"'}]},
    "outputs": {"done": {"value": "${{ steps.last.outputs.done }}"}},
}


def workflow(event: str, steps: list[dict]) -> str:
    return yaml.safe_dump({"name": event, "on": {"repository_dispatch": {"types": [event]}},
                           "jobs": {"j": {"runs-on": "ubuntu-latest", "steps": steps}}},
                          sort_keys=False)


CASES: dict[str, list[dict]] = {
    "greet": [
        {"id": "g", "uses": "acme/tools@v1", "with": {"who": "world"},
         "env": {"CALLER": "from-the-workflow"}},
        {"run": 'echo "outputs: ${{ steps.g.outputs.line }} | ${{ steps.g.outputs.inner }}'
                ' | ${{ steps.g.outputs.skipped }}"'},
    ],
    "local": [
        {"id": "l", "uses": "./.github/actions/local", "with": {"secret": "${{ secrets.S }}",
                                                              "bogus": "1"}},
        {"run": 'echo "local said ${{ steps.l.outputs.said }}"'},
    ],
    "failing": [
        {"id": "f", "uses": "acme/tools/failing@main", "continue-on-error": True},
        {"run": 'echo "after ${{ steps.f.outcome }} ${{ steps.f.outputs.done }}"'},
    ],
    "no-repo": [{"uses": "acme/nothing@v1"}],
    "no-ref": [{"uses": "acme/tools@v9"}],
    "js": [{"uses": "acme/tools/js@v1"}],
    "docker": [{"uses": "docker://alpine:3"}],
    "no-shell": [{"uses": "acme/tools/noshell@v1"}],
    "pwsh": [{"uses": "acme/tools/pwsh@v1"}],
    "bad-format": [{"uses": "just-a-name"}],
    "missing-local": [{"uses": "./nope"}],
    "deep": [{"uses": "acme/tools/loop@v1"}],
    "escape": [{"uses": "acme/tools/../../x@v1"}],
    "escape-local": [{"uses": "./../outside"}],
    "bad-yaml": [{"uses": "acme/tools/badyaml@v1"}],
    "not-mapping": [{"uses": "acme/tools/list@v1"}],
    "no-steps": [{"uses": "acme/tools/nosteps@v1"}],
    "bad-inputs": [{"uses": "acme/tools/badinputs@v1"}],
    "bad-input-spec": [{"uses": "acme/tools/badspec@v1"}],
    "dockerfile": [{"uses": "acme/tools/dockerfile@v1"}],
    "docker-yml": [{"uses": "acme/tools/dockeryml@v1"}],
    "other-using": [{"uses": "acme/tools/weird@v1"}],
    "bad-exprs": [{"id": "b", "uses": "acme/tools/badexprs@v1"},
                  {"if": "always()", "run": 'echo "b: ${{ steps.b.outcome }}"'}],
    "workdir": [{"uses": "acme/tools/workdir@v1"}],
    "slow": [{"uses": "acme/tools/slow@v1", "timeout-minutes": 0.02}],
}
LOCAL = {
    "inputs": {"secret": {}},
    "outputs": {"said": {"value": "${{ steps.s.outputs.said }}"}},
    "runs": {"using": "composite", "steps": [
        {"id": "s", "shell": "bash", "env": {"SECRET": "${{ inputs.secret }}"},
         "run": 'echo "secret is $SECRET"; echo "said=ok" >> "$GITHUB_OUTPUT"'}]},
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("composite") / "world"
    step = {"runs": {"using": "composite", "steps": [{"run": "echo hi"}]}}
    tools = {"action.yml": yaml.safe_dump(GREET), "data.txt": "from the action repo\n",
             "shout/action.yaml": yaml.safe_dump(SHOUT),
             "failing/action.yml": yaml.safe_dump(FAILING),
             "js/action.yml": yaml.safe_dump({"runs": {"using": "node20", "main": "x.js"}}),
             "noshell/action.yml": yaml.safe_dump(step),
             "pwsh/action.yml": yaml.safe_dump({"runs": {"using": "composite", "steps": [
                 {"shell": "pwsh", "run": "Write-Host hi"}]}}),
             "loop/action.yml": yaml.safe_dump({"runs": {"using": "composite", "steps": [
                 {"uses": "acme/tools/loop@v1"}]}}),
             "badyaml/action.yml": "runs: [unclosed\n",
             "list/action.yml": "- a\n- b\n",
             "nosteps/action.yml": yaml.safe_dump({"runs": {"using": "composite"}}),
             "badinputs/action.yml": yaml.safe_dump({"inputs": ["a"], **step}),
             "badspec/action.yml": yaml.safe_dump({"inputs": {"a": "text"}, **step}),
             "dockerfile/Dockerfile": "FROM alpine\n",
             "dockeryml/action.yml": yaml.safe_dump({"runs": {"using": "docker",
                                                              "image": "Dockerfile"}}),
             "weird/action.yml": yaml.safe_dump({"runs": {"using": "perl"}}),
             "badexprs/action.yml": yaml.safe_dump({
                 "outputs": {"o": {"value": "${{ steps.x.outputs.y ) }}"}},
                 "runs": {"using": "composite", "steps": [
                     {"if": "github.event ==", "shell": "bash", "run": "echo if-ran"},
                     {"if": "always()", "shell": "bash", "env": {"A": "${{ nope( }}"},
                      "run": "echo env-ran"},
                     {"if": "always()", "shell": "bash", "run": "exit 1",
                      "continue-on-error": "${{ bad( }}"},
                     {"if": "always()", "shell": "bash", "run": "exit 4",
                      "continue-on-error": "${{ inputs.missing == '' }}"},
                     {"if": "always()", "shell": "bash", "run": "echo last-ran"}]}}),
             "workdir/action.yml": yaml.safe_dump({"runs": {"using": "composite", "steps": [
                 {"shell": "bash", "working-directory": "sub", "run": "echo in-$(basename $PWD)"},
                 {"shell": "bash", "working-directory": "absent", "run": "echo no"}]}}),
             "slow/action.yml": yaml.safe_dump({"runs": {"using": "composite", "steps": [
                 {"shell": "bash", "run": "sleep 30"},
                 {"if": "always()", "shell": "bash", "run": "echo after-timeout"}]}})}
    app = {f".github/workflows/{name}.yml": workflow(name, steps)
           for name, steps in CASES.items()}
    app[".github/actions/local/action.yml"] = yaml.safe_dump(LOCAL)
    app["sub/keep.txt"] = "a directory for working-directory\n"
    write_world(root, {"acme/tools": tools, "acme/app": app},
                {"secrets": {"S": "pa55word-xyz"}})
    subprocess.run(["git", "-C", str(root / "acme" / "tools"), "tag", "v1"], check=True)
    with Emulator(root, port=0, runner_capacity=4) as emulator:
        yield emulator


def run_case(emu: Emulator, case: str) -> tuple[RunRecord, str]:
    (run,) = emu.runner.dispatch("acme/app", case, {}, "tester")
    deadline_ok = emu.wait_idle(60)
    assert deadline_ok
    log = "\n".join(emu.runner.job_log(job.id) for job in run.jobs)
    return run, log


def messages(run: RunRecord) -> list[str]:
    return [a.message for job in run.jobs for a in job.annotations]


def test_a_world_repository_action_runs_step_by_step(emu: Emulator) -> None:
    run, log = run_case(emu, "greet")
    assert run.conclusion == "success", (log, messages(run))
    assert "data: from the action repo" in log  # $GITHUB_ACTION_PATH is the checkout
    assert "path-same" in log
    assert "caller-env: from-the-workflow" in log  # the calling step's env reaches it
    assert "python step ran" in log
    # input given, default, default with an expression; a nested action's output;
    # a step skipped by its if: leaves its output empty
    assert ("outputs: hello world from acme/app | HELLO WORLD FROM ACME/APP | []"
            in log)


def test_a_local_action_masks_secrets_and_warns_on_unknown_inputs(emu: Emulator) -> None:
    run, log = run_case(emu, "local")
    assert run.conclusion == "success", (log, messages(run))
    assert "secret is ***" in log and "pa55word" not in log
    assert "local said ok" in log
    assert any("Unexpected input(s) 'bogus', valid inputs are ['secret']" in m
               for m in messages(run))


def test_a_failing_composite_step_skips_the_rest_but_not_always(emu: Emulator) -> None:
    run, log = run_case(emu, "failing")
    assert run.conclusion == "success", (log, messages(run))  # continue-on-error
    assert "first" in log and "should-not-run" not in log
    assert "cleanup-after-failure" in log
    assert "after failure yes" in log
    assert "Process completed with exit code 3." in messages(run)


@pytest.mark.parametrize(("case", "expected"), [
    ("no-repo", "Unable to resolve action `acme/nothing@v1`, repository not found"),
    ("no-ref", "Unable to resolve action `acme/tools@v9`, unable to find version `v9`"),
    ("js", "acme/tools/js@v1: a JavaScript action (runs.using: node20); the emulator "
           "runs composite actions"),
    ("docker", "docker://alpine:3: Docker container actions are not run by the emulator"),
    ("no-shell", "acme/tools/noshell@v1 runs.steps[0]: 'shell' is required"),
    ("pwsh", "unsupported shell 'pwsh'"),
    ("bad-format", "Expected format {org}/{repo}[/path]@ref. Actual 'just-a-name'"),
    ("missing-local", "Can't find 'action.yml', 'action.yaml' or 'Dockerfile' under"),
    ("deep", "composite actions nest more than 9 levels deep"),
    ("escape", "acme/tools/../../x@v1: the path leaves the action's repository"),
    ("escape-local", "./../outside: the path leaves the workspace"),
    ("bad-yaml", "acme/tools/badyaml@v1 (action.yml):2:1: invalid YAML"),
    ("not-mapping", "an action file must be a mapping with 'runs'"),
    ("no-steps", "'runs.steps' must be a non-empty list"),
    ("bad-inputs", "(action.yml): 'inputs' must be a mapping"),
    ("bad-input-spec", "'inputs.a' must be a mapping"),
    ("dockerfile", "acme/tools/dockerfile@v1: a Docker container action"),
    ("docker-yml", "a Docker container action (runs.using: docker)"),
    ("other-using", "an action (runs.using: perl)"),
    ("workdir", "runs.steps[1]: working-directory 'absent' does not exist"),
])
def test_what_cannot_run_fails_the_step_with_why(emu: Emulator, case: str,
                                                 expected: str) -> None:
    run, log = run_case(emu, case)
    assert run.conclusion == "failure"
    assert any(expected in m for m in messages(run)), messages(run)
    assert any(expected in line for line in log.splitlines() if line.startswith("##[error]"))


def test_bad_expressions_in_an_action_fail_their_step_and_say_where(emu: Emulator) -> None:
    run, log = run_case(emu, "bad-exprs")
    notes = messages(run)
    assert run.conclusion == "failure"
    where = "acme/tools/badexprs@v1 runs.steps"
    for expected in (f"{where}[0].if:", f"{where}[1]:", "outputs.o:"):
        assert any(expected in n for n in notes), (expected, notes)
    assert any(f"{where}[2].continue-on-error:" in n for n in notes)
    lines = log.splitlines()
    assert "if-ran" not in lines and "env-ran" not in lines
    assert "last-ran" in lines  # always()
    assert "b: failure" in log


def test_working_directory_and_a_step_timeout_inside_an_action(emu: Emulator) -> None:
    _run, log = run_case(emu, "workdir")
    assert "in-sub" in log
    slow, slow_log = run_case(emu, "slow")
    assert slow.conclusion == "timed_out"
    assert any("has timed out after 0.02 minutes" in m for m in messages(slow))
    assert "after-timeout" not in slow_log  # a timeout ends the whole action


# ----------------------------------------------------------------------------- built-ins

def test_setup_python_checkout_and_cache(make_world, start_emulator) -> None:
    steps = [
        {"id": "py", "uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
        {"run": 'echo "py=${{ steps.py.outputs.python-path }}"\n'
                'python -c "import sys, tako_gha; print(\'on-path\', sys.executable)"'},
        {"uses": "actions/checkout@v4", "with": {"repository": "acme/lib", "path": "lib"}},
        {"run": "cat lib/lib.txt"},
        {"id": "c", "uses": "actions/cache@v4",
         "with": {"path": "built\n~/.tako-home-cache", "key": "k-${{ github.run_number }}",
                  "restore-keys": "k-"}},
        {"run": 'echo "hit=${{ steps.c.outputs.cache-hit }}"; ls built 2>/dev/null || true\n'
                'mkdir -p built; echo "run $GITHUB_RUN_NUMBER" > built/stamp'},
    ]
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps)},
                        "acme/lib": {"lib.txt": "the lib\n"}})
    emu = start_emulator(world)
    first, log1 = run_case(emu, "b")
    assert first.conclusion == "success", (log1, messages(first))
    assert f"py={sys.executable}" in log1
    # update-environment puts its directory first: `python` there (the venv may name the
    # running interpreter python3, so compare the directory)
    assert f"on-path {os.path.dirname(sys.executable)}{os.sep}python" in log1
    assert "the lib" in log1
    assert "hit=false" in log1 and "Cache saved with key: k-1" in log1
    second, log2 = run_case(emu, "b")
    assert second.conclusion == "success", (log2, messages(second))
    # k-2 misses, restore-keys finds k-1: restored, cache-hit false, saved as k-2
    assert "Cache restored from key: k-1" in log2 and "hit=false" in log2
    assert "stamp" in log2 and "Cache saved with key: k-2" in log2
    assert (world / ".tako-cache" / "acme/app").is_dir()


def test_cache_saves_nothing_after_a_failure(make_world, start_emulator) -> None:
    steps = [{"uses": "actions/cache@v4", "with": {"path": "x", "key": "never"}},
             {"run": "touch x; exit 1"}]
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps)}})
    emu = start_emulator(world)
    run, log = run_case(emu, "b")
    assert run.conclusion == "failure"
    assert "Post actions/cache (key never): skipped" in log
    assert not (world / ".tako-cache" / "acme/app").exists()


def test_tako_uses_without_the_repository_in_the_world_runs_the_entry(
        make_world, start_emulator, tmp_path: Path) -> None:
    """Documented fallback: no OWNER/tako-gha in the world, the installed entry runs."""
    steps = [{"uses": "acme/tako-gha@v1", "with": {"event_type": "x", "dry_run": "true",
                                                   "repos": "acme/app"}}]
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps),
                                     "tako.yml": "version: 1\n"}})
    emu = start_emulator(world)
    run, log = run_case(emu, "b")
    assert "the world has no such repository; running the installed tako-gha action " \
           "entry directly" in log
    assert run.conclusion == "success", (log, messages(run))
    assert "dry run" in log


def test_built_in_inputs_and_their_failures(make_world, start_emulator) -> None:
    """One job, each problem in a continue-on-error step: what every built-in says."""
    def soft(step: dict) -> dict:
        return {**step, "continue-on-error": True}

    steps = [
        {"uses": "actions/setup-python@v5", "with": {"update-environment": "false"}},
        {"run": 'echo "location=${pythonLocation:-unset}"'},
        soft({"uses": "actions/checkout@v4", "with": {"repository": "acme/ghost"}}),
        soft({"uses": "actions/checkout@v4", "with": {"path": "../outside"}}),
        soft({"uses": "actions/checkout@v4", "with": {"ref": "no-such-ref"}}),
        {"id": "co", "uses": "actions/checkout@v4"},
        {"run": 'echo "checked ${{ steps.co.outputs.commit }} $(cat app.txt)"; '
                'echo data > file.bin'},
        soft({"uses": "actions/cache@v4", "with": {"path": "x"}}),
        {"uses": "actions/cache@v4", "with": {"path": "*.txt\nfile.bin", "key": "globbed"}},
        {"uses": "actions/cache/save@v4", "with": {"path": "file.bin", "key": "saved"}},
        {"uses": "actions/cache/save@v4", "with": {"path": "file.bin", "key": "saved"}},
        {"uses": "actions/cache/save@v4", "with": {"path": "absent", "key": "nothing"}},
        {"run": "rm file.bin"},
        {"id": "look", "uses": "actions/cache@v4",
         "with": {"path": "file.bin", "key": "saved", "lookup-only": "true"}},
        {"run": 'echo "lookup ${{ steps.look.outputs.cache-hit }} $(ls file.bin 2>&1)"'},
        {"id": "back", "uses": "actions/cache/restore@v4",
         "with": {"path": "file.bin", "key": "saved"}},
        {"run": 'echo "restored ${{ steps.back.outputs.cache-hit }} $(cat file.bin)"'},
        soft({"uses": "actions/cache@v4", "with": {"path": "y", "key": "missing",
                                                   "fail-on-cache-miss": "true"}}),
    ]
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps),
                                     "app.txt": "app file"}})
    emu = start_emulator(world)
    run, log = run_case(emu, "b")
    notes = messages(run)
    assert run.conclusion == "success", (log, notes)
    assert "location=unset" in log
    for expected in ("actions/checkout: repository acme/ghost not found",
                     "actions/checkout: path '../outside' is outside the workspace",
                     "actions/checkout: acme/app has no branch, tag or commit 'no-such-ref'",
                     "Input required and not supplied: key",
                     "glob patterns in 'path' are not supported",
                     "Failed to restore cache entry. Exiting as fail-on-cache-miss is set."):
        assert any(expected in n for n in notes), (expected, notes)
    assert f"checked {run.head_sha} app file" in log
    assert "Cache saved with key: saved" in log
    assert "Cache already exists for key: saved; not saved again" in log
    assert "Path Validation Error" in log
    assert "lookup true ls: cannot access" in log  # lookup-only restores nothing
    assert "restored true data" in log


def test_checkout_reads_only_what_its_token_may_read(make_world, start_emulator) -> None:
    """The run's GITHUB_TOKEN reads its own repository and public ones; a private one
    needs a `token:` that sees it, and an unknown token reads nothing."""
    def soft(step_id: str, **with_: str) -> dict:
        return {"id": step_id, "uses": "actions/checkout@v4", "continue-on-error": True,
                "with": {"path": step_id, **with_}}

    steps = [
        soft("own"), soft("pub", repository="acme/pub"),
        soft("hidden", repository="acme/hidden"),
        soft("pat", repository="acme/hidden", token="${{ secrets.PAT }}"),
        soft("bogus", repository="acme/pub", token="not-a-token"),
        {"run": "echo outcomes ${{ steps.own.outcome }} ${{ steps.pub.outcome }} "
                "${{ steps.hidden.outcome }} ${{ steps.pat.outcome }} "
                "${{ steps.bogus.outcome }}; cat pat/h.txt"},
    ]
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps)},
                        "acme/pub": {"p.txt": "public\n"},
                        "acme/hidden": {"h.txt": "hidden file\n"}},
                       {"tokens": {"t-admin": {"repos": ["*"]}, "t-pat": {"repos": ["acme/*"]}},
                        "secrets": {"PAT": "t-pat"},
                        "repos": {"acme/hidden": {"private": True}}})
    emu = start_emulator(world)
    run, log = run_case(emu, "b")
    assert run.conclusion == "success", (log, messages(run))
    assert "outcomes success success failure success failure" in log
    assert "hidden file" in log
    refusals = [n for n in messages(run) if "the token cannot read it" in n]
    assert [n.split(":")[1].strip().split(" ")[1] for n in refusals] == ["acme/hidden",
                                                                          "acme/pub"]


def test_a_private_repositorys_actions_serve_its_own_runs_only(make_world,
                                                              start_emulator) -> None:
    """GitHub's default: another repository's run cannot use a private repository's
    actions, and learns no more than for a missing one; its own runs can, and a public
    repository's actions serve everyone. Before: any world repository was fetched."""
    say = {"runs": {"using": "composite", "steps": [
        {"shell": "bash", "run": "echo private-action-ran"}]}}
    def soft(step_id: str, uses: str) -> dict:
        return {"id": step_id, "uses": uses, "continue-on-error": True}

    steps = [soft("other", "acme/hidden/say@main"), soft("pub", "acme/pub/say@main"),
             {"run": "echo outcomes ${{ steps.other.outcome }} ${{ steps.pub.outcome }}"}]
    own = [soft("own", "acme/hidden/say@main"), {"run": "echo own ${{ steps.own.outcome }}"}]
    action = {"say/action.yml": yaml.safe_dump(say)}
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps)},
                        "acme/pub": action,
                        "acme/hidden": {**action,
                                        ".github/workflows/b.yml": workflow("b", own)}},
                       {"tokens": {"t-admin": {"repos": ["*"]}},
                        "repos": {"acme/hidden": {"private": True}}})
    emu = start_emulator(world)
    run, log = run_case(emu, "b")
    assert "outcomes failure success" in log, log
    assert log.splitlines().count("private-action-ran") == 1  # the public copy's
    assert any("Unable to resolve action `acme/hidden/say@main`, repository not found" in m
               for m in messages(run)), messages(run)
    (own_run,) = emu.runner.dispatch("acme/hidden", "b", {}, "tester")
    assert emu.wait_idle(60)
    own_log = emu.runner.job_log(own_run.jobs[0].id)
    assert "own success" in own_log and "private-action-ran" in own_log.splitlines()


def test_checkout_empties_a_directory_deeper_than_the_recursion_limit(
        make_world, start_emulator) -> None:
    """Before: emptying the checkout's path recursed once per level: a tree a step left
    there 1,200 levels deep made the job an 'emulator runner error'."""
    deep = ("import os\nos.chdir('p')\nfor _ in range(1200):\n    os.mkdir('d')\n"
            "    os.chdir('d')\n")
    steps = [{"run": "mkdir p"}, {"shell": "python", "run": deep},
             {"uses": "actions/checkout@v4", "with": {"path": "p"}},
             {"run": "ls p; test ! -e p/d && echo emptied"}]
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps),
                                     "f.txt": "x\n"}})
    emu = start_emulator(world)
    run, log = run_case(emu, "b")
    assert run.conclusion == "success", (log, messages(run))
    assert "emptied" in log.splitlines() and "f.txt" in log.splitlines()


def test_a_cache_save_that_cannot_copy_warns_and_keeps_no_entry(make_world,
                                                               start_emulator) -> None:
    """As actions/cache: a failed save is a warning. Before: a directory 1,200 levels
    deep made the post step an 'emulator runner error' (copytree recursed per level)
    and left a partial entry in the cache store; then whether it failed depended on the
    process's recursion limit (celpy raises it), so the depth is now counted."""
    deep = ("import os\nos.makedirs('c')\nos.chdir('c')\nfor _ in range(1200):\n"
            "    os.mkdir('d')\n    os.chdir('d')\n")
    steps = [{"uses": "actions/cache@v4", "with": {"path": "c", "key": "deep"}},
             {"shell": "python", "run": deep}]
    world = make_world({"acme/app": {".github/workflows/b.yml": workflow("b", steps)}})
    emu = start_emulator(world)
    try:
        for _ in range(2):  # the second run finds no entry, whole or partial
            run, log = run_case(emu, "b")
            assert run.conclusion == "success", (log, messages(run))
            assert "Cache not found for input keys: deep" in log
            assert "##[warning]Failed to save: a directory is nested too deep to copy" in log
    finally:  # what a failure leaves would break pytest's own (recursive) clean-up
        subprocess.run(["rm", "-rf", str(world / ".tako-cache")], check=False)
