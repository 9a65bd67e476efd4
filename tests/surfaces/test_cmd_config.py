"""CLI: lint, discover, graph, plan (docs/cli.md) — outputs and exact exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from tako_gha.forge.base import Discovery, RepoSelection
from tako_gha.forge.workspace import WorkspaceForge
from tako_gha.surfaces.cli import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces"
CASCADE = str(FIXTURES / "cascade")
PAYLOAD = '{"version": "2.1.0", "build_status": "success", "services": "api, User-Service ,web"}'

VALID = """\
version: 1
events:
  subscriptions:
    - artifact: my-org/core-lib
      events: [library_built]
      schema_version: "^1.0.0"
"""
INVALID_TWO = """\
version: 1
events:
  subscriptions:
    - artifact: my-org/core-lib
      events: [library_built]
      schema_version: "^1.x.y"
      colour: red
"""
INVALID_TEMPLATE = """\
version: 1
events:
  subscriptions:
    - artifact: my-org/core-lib
      events: [library_built]
      inputs:
        v: "{{ .evnt.payload }}"
"""
INVALID_YAML = "version: 1\nevents: [\n"


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# ================================================================ lint
def test_lint_directory_prints_one_diagnostic_per_problem_with_lines(tmp_path: Path) -> None:
    write(tmp_path, {"good/tako.yml": VALID, "two/tako.yml": INVALID_TWO,
                     "tmpl/tako.yml": INVALID_TEMPLATE, "yaml/tako.yml": INVALID_YAML})
    code, out, _ = run("lint", str(tmp_path))
    assert code == 1
    errors = [line for line in out.splitlines() if ": error: " in line]
    # file:line of each problem (columns are the loader's business, checked there)
    located = sorted(":".join(line.split(": error: ")[0].replace(str(tmp_path) + "/", "")
                              .split(":")[:2]) for line in errors)
    assert located == ["tmpl/tako.yml:7", "two/tako.yml:6", "two/tako.yml:7", "yaml/tako.yml:3"]
    assert any(line.endswith("two/tako.yml:7:7: error: unknown key 'colour' in subscriptions[0]")
               for line in errors)
    # every diagnostic is followed by its hint
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if ": error: " in line:
            assert lines[i + 1].startswith("  hint: ")
    assert out.splitlines()[-1] == "checked 4 files: 4 errors, 0 warnings"


def test_lint_valid_files_and_checkouts_exit_zero(tmp_path: Path) -> None:
    write(tmp_path, {"a/tako.yml": VALID, "b.yml": VALID})
    code, out, _ = run("lint", str(tmp_path / "a"), str(tmp_path / "b.yml"))
    assert (code, out.strip()) == (0, "checked 2 files: no problems")


def test_lint_defaults_to_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"tako.yml": INVALID_TWO})
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("lint")
    assert code == 1 and re.match(r"tako\.yml:6:\d+: error: ", out)
    code, out, _ = run("lint", ".", "tako.yml")  # named twice, linted once
    assert code == 1 and out.splitlines()[-1] == "checked 1 file: 2 errors, 0 warnings"


def test_lint_a_directory_of_freely_named_files(tmp_path: Path) -> None:
    write(tmp_path, {"ok.yml": VALID, "bad.yaml": INVALID_TWO})
    code, out, _ = run("lint", str(tmp_path))
    assert code == 1
    assert "bad.yaml:7:7: error: unknown key 'colour'" in out
    assert out.splitlines()[-1] == "checked 2 files: 2 errors, 0 warnings"


def test_lint_json_format(tmp_path: Path) -> None:
    write(tmp_path, {"tako.yml": INVALID_TWO})
    code, out, _ = run("lint", str(tmp_path), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["errors"] == 2 and data["warnings"] == 0
    assert [(d["line"], d["severity"], d["code"]) for d in data["diagnostics"]] == [
        (6, "error", "bad-range"), (7, "error", "unknown-key")]
    assert data["diagnostics"][1]["col"] == 7
    assert data["files"] == [str(tmp_path / "tako.yml")]


WORKFLOW_NO_RUN_NAME = """\
name: rebuild
on:
  push: {}
  repository_dispatch:
    types: [library_built]
jobs: {}
"""
WORKFLOW_OTHER_RUN_NAME = """\
name: rebuild
run-name: "Rebuild ${{ github.sha }}"
on: repository_dispatch
jobs: {}
"""


def test_lint_warns_about_receivers_without_the_tako_run_name(tmp_path: Path) -> None:
    write(tmp_path, {"tako.yml": VALID,
                     ".github/workflows/a.yml": WORKFLOW_NO_RUN_NAME,
                     ".github/workflows/b.yaml": WORKFLOW_OTHER_RUN_NAME,
                     ".github/workflows/c.yml": "on: push\njobs: {}\n"})
    code, out, _ = run("lint", str(tmp_path))
    assert code == 0  # warnings do not fail
    wf = tmp_path / ".github" / "workflows"
    assert f"{wf}/a.yml:4:3: warning: workflow listens for repository_dispatch" in out
    assert f"{wf}/b.yaml:2:11: warning: run-name does not use" in out
    assert "c.yml" not in out
    assert "hint: add at the top of the workflow: run-name: ${{ github.event.client_payload" in out
    assert out.splitlines()[-1] == "checked 1 file: 0 errors, 2 warnings"
    strict, _, _ = run("lint", str(tmp_path), "--strict")
    assert strict == 1


def test_lint_warns_when_no_workflow_listens_for_a_subscribed_type(tmp_path: Path) -> None:
    write(tmp_path, {"tako.yml": VALID + "    - artifact: my-org/other\n      events: [x]\n",
                     ".github/workflows/a.yml":
                         "run-name: ${{ github.event.client_payload.tako.title }}\n"
                         "on: {repository_dispatch: {types: [x]}}\njobs: {}\n",
                     ".github/workflows/broken.yml": "on: [\n"})
    code, out, _ = run("lint", str(tmp_path))
    assert code == 0
    assert (f"{tmp_path}/tako.yml:4: warning: no workflow in .github/workflows listens for "
            "repository_dispatch type 'library_built'") in out
    assert "type 'x'" not in out
    assert "broken.yml:2:1: warning: cannot parse this workflow" in out


def test_lint_warns_when_a_named_workflow_is_missing_or_deaf(tmp_path: Path) -> None:
    listener = ("run-name: ${{ github.event.client_payload.tako.title }}\n"
                "on: {repository_dispatch: {types: [library_built]}}\njobs: {}\n")
    write(tmp_path, {
        "tako.yml": VALID + "      workflow: nope.yml\n"
                    "    - artifact: my-org/other\n      events: [library_built]\n"
                    "      workflow: deaf.yml\n"
                    "    - artifact: my-org/third\n      events: [library_built]\n"
                    "      workflow: a.yml\n",
        ".github/workflows/a.yml": listener,
        ".github/workflows/deaf.yml": "on: push\njobs: {}\n"})
    code, out, _ = run("lint", str(tmp_path))
    assert code == 0
    # both point at the subscription's workflow: value (what to fix), line:col
    assert (f"{tmp_path}/tako.yml:7:17: warning: workflow 'nope.yml' is not in "
            ".github/workflows (present: a.yml, deaf.yml)") in out
    # deaf.yml exists but does not listen: runs of other workflows do not count.
    assert (f"{tmp_path}/tako.yml:10:17: warning: workflow 'deaf.yml' does not listen for "
            "repository_dispatch type 'library_built'") in out
    # a named workflow could also listen on workflow_dispatch (exact mode)
    assert ("hint: add `on: repository_dispatch: types: [library_built]` to deaf.yml (or "
            "`on: workflow_dispatch:` with its inputs: exact mode)") in out
    assert "tako.yml:11:" not in out  # a.yml listens: no warning


def test_lint_workspace_reports_cycles(tmp_path: Path) -> None:
    code, out, _ = run("lint", str(FIXTURES / "cycle"))
    assert code == 0
    assert f"{FIXTURES}/cycle/acme/a/tako.yml:5: warning: subscription cycle: " \
           "acme/a → acme/b → acme/a" in out
    code, out, _ = run("lint", str(FIXTURES / "diamond"), "--strict")
    assert (code, out.strip()) == (0, "checked 4 files: no problems")


def test_lint_workspace_reports_unproduced_and_deep_cascades(tmp_path: Path) -> None:
    files = {"o/r0/tako.yml": "version: 1\nevents:\n  produces: [{type: e}]\n"}
    for i in range(1, 9):
        files[f"o/r{i}/tako.yml"] = (f"version: 1\nevents:\n  produces: [{{type: e}}]\n"
                                     f"  subscriptions:\n    - artifact: o/r{i - 1}\n"
                                     f"      events: [e]\n")
    files["o/odd/tako.yml"] = ("version: 1\nevents:\n  subscriptions:\n"
                               "    - artifact: o/r0\n      events: [nope]\n")
    write(tmp_path, files)
    code, out, _ = run("lint", str(tmp_path))
    assert code == 0
    assert "o/odd/tako.yml:4: warning: o/odd subscriptions[0] (o/r0:default) listens for nope" \
        in out
    assert "warning: a cascade from o/r0 can be 8 levels deep" in out
    assert "warning: a cascade from o/r1 can be 7 levels deep" in out
    assert "o/r2 can be" not in out


def test_lint_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = run("lint", str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert err.splitlines()[0] == f"error: {tmp_path / 'nope'}: no such file or directory"
    assert err.splitlines()[1].startswith("  hint: ")


def test_lint_empty_directory_says_there_is_nothing_to_lint(tmp_path: Path) -> None:
    code, out, err = run("lint", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: nothing to lint: {tmp_path}: no tako.yml found\n")
    assert "hint: run it in a checkout that has tako.yml" in err


WORKFLOW = """\
name: build
on:
  push:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
"""


def test_lint_in_a_folder_without_tako_yml_does_not_lint_workflows(tmp_path: Path,
                                                                    monkeypatch) -> None:
    """Before: the workflows (and any other YAML) were linted as if they were tako.yml,
    each one a list of bogus errors."""
    write(tmp_path, {".github/workflows/ci.yml": WORKFLOW, "compose.yml": "services: {}\n",
                     "mkdocs.yml": "site_name: x\n"})
    monkeypatch.chdir(tmp_path)
    code, out, err = run("lint")
    assert (code, out) == (2, "")
    assert "nothing to lint: .: no tako.yml found (2 other YAML files there are not a " \
           "tako config: not linted)" in err
    code, _, err = run("lint", str(tmp_path / ".github" / "workflows"))
    assert code == 2 and "1 other YAML file there is not a tako config" in err
    # A freely named config next to them is still found, and only it is linted.
    write(tmp_path, {"ok.yml": VALID})
    code, out, _ = run("lint", str(tmp_path))
    assert (code, out.strip()) == (0, "checked 1 file: no problems")


# ================================================================ discover
def test_discover_table_and_json() -> None:
    code, out, _ = run("discover", "--workspace", str(FIXTURES / "diamond"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["REPO", "CONFIG", "SUBSCRIPTIONS", "PRODUCES"]
    assert lines[4].split() == ["acme/d", "ok", "acme/b[built],", "acme/c[built]", "-"]
    assert "4 repositories, 4 with a tako.yml" in out
    code, out, _ = run("discover", "--workspace", CASCADE, "--format", "json", "--org", "my-org")
    data = json.loads(out)
    states = {r["repo"]: r["config"] for r in data["repos"]}
    assert states["my-org/no-config"] == "missing"
    assert states["my-org/broken"] == "invalid"
    assert "other-org/consumer" not in states
    api = next(r for r in data["repos"] if r["repo"] == "my-org/api")
    assert api["subscriptions"][0]["schema_version"] == "^1.0.0"
    assert api["subscriptions"][0]["workflow"] == "rebuild.yml"


def test_discover_needs_a_source(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    code, _, err = run("discover")
    assert code == 2 and err.startswith("error: say where the repositories are")


def test_workspace_that_is_a_checkout_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"tako.yml": VALID})
    code, out, err = run("graph", "--workspace", str(tmp_path))
    assert code == 2 and out == ""
    assert "looks like one repository, not a workspace" in err.splitlines()[0]
    assert "tako-gha lint" in err.splitlines()[1]


def test_discover_bad_repo_and_workspace(tmp_path: Path) -> None:
    code, _, err = run("discover", "--workspace", str(tmp_path / "x"))
    assert code == 2 and "not a directory" in err
    code, _, err = run("discover", "--workspace", str(tmp_path), "--repo", "nope")
    assert code == 2 and "error: --repo 'nope' is not OWNER/REPO" in err


# ================================================================ graph
def test_graph_reports_the_cycle_and_the_acyclic_diamond() -> None:
    code, out, _ = run("graph", "--workspace", str(FIXTURES / "cycle"))
    assert code == 0
    assert "cycles (1):\n  acme/a → acme/b → acme/a" in out
    code, out, _ = run("graph", "--workspace", str(FIXTURES / "diamond"))
    assert code == 0
    assert "cycles: none (acyclic)" in out
    assert "acme/a: 2" in out
    code, out, _ = run("graph", "--workspace", str(FIXTURES / "diamond"), "--format", "json")
    data = json.loads(out)
    assert data["cycles"] == [] and data["longest_cascade"]["acme/a"] == 2


def test_plan_warns_about_a_source_nobody_knows(tmp_path: Path) -> None:
    # A typo in --source used to list every repo as "no subscription", silently.
    write(tmp_path, {
        "my-org/core-lib/tako.yml": "version: 1\n",
        "my-org/app/tako.yml": VALID,
        "my-org/tool/tako.yml": VALID.replace("my-org/core-lib", "ext-org/outside"),
    })
    code, out, _ = run("plan", "--workspace", str(tmp_path), "--source", "my-org/corelib",
                       "--event", "library_built")
    assert code == 0
    assert ("--source: warning: my-org/corelib is not a repository of the workspace "
            f"{tmp_path}, and nothing there subscribes to it") in out
    assert "hint: did you mean --source my-org/core-lib?" in out
    code, out, _ = run("plan", "--workspace", str(tmp_path), "--source", "my-org/corelib",
                       "--event", "library_built", "--format", "json")
    (warning,) = json.loads(out)["diagnostics"]
    assert warning["code"] == "unknown-source" and warning["severity"] == "warning"
    # A producer outside the workspace that someone subscribes to is normal: no warning.
    _, out, _ = run("plan", "--workspace", str(tmp_path), "--source", "ext-org/outside",
                    "--event", "library_built", "--schema-version", "1.0.0", "--format", "json")
    data = json.loads(out)
    assert [t["repo"] for t in data["targets"]] == ["my-org/tool"] and not data["diagnostics"]
    # ... nor for the real source, nor when --repo narrows the selection on purpose.
    for extra in ([], ["--repo", "my-org/app"]):
        _, out, _ = run("plan", "--workspace", str(tmp_path), "--source", "my-org/core-lib",
                        "--event", "library_built", "--format", "json", *extra)
        assert not [d for d in json.loads(out)["diagnostics"] if d["code"] == "unknown-source"]


def test_workspace_directories_github_could_not_hold_are_skipped(tmp_path: Path) -> None:
    # "my.org" cannot be a GitHub owner: it was listed, planned as a target, and then
    # refused as --source/--repo. Now it is skipped with the reason, everywhere.
    sub = VALID.replace('      schema_version: "^1.0.0"\n', "")
    write(tmp_path, {"my-org/core-lib/tako.yml": "version: 1\n",
                     "my-org/app/tako.yml": sub, "my.org/app/tako.yml": sub,
                     "my-org/has space/tako.yml": sub})
    code, out, _ = run("plan", "--workspace", str(tmp_path), "--source", "my-org/core-lib",
                       "--event", "library_built", "--format", "json")
    data = json.loads(out)
    assert code == 0 and [t["repo"] for t in data["targets"]] == ["my-org/app"]
    skipped = {s["repo"]: s for s in data["skipped"] if s["kind"] == "not-selected"}
    assert set(skipped) == {"my.org/app", "my-org/has space"}
    assert "not a GitHub repository name" in skipped["my.org/app"]["reason"]
    _, out, _ = run("discover", "--workspace", str(tmp_path))
    assert "skipped my.org/app: not a GitHub repository name" in out


def test_lint_points_at_the_first_byte_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin1.yml").write_bytes(
        b"version: 1\nevents:\n  subscriptions:\n    - artifact: o/r\n"
        b"      events: [caf\xe9]\n")
    (tmp_path / "binary.yml").write_bytes(b"\x9b\x00\x01binary")
    code, out, _ = run("lint", str(tmp_path / "latin1.yml"), str(tmp_path / "binary.yml"))
    assert code == 1
    assert (f"{tmp_path / 'latin1.yml'}:5:19: error: cannot read the file: it is not UTF-8 "
            "text: byte 0xe9") in out
    assert f"{tmp_path / 'binary.yml'}:1:1: error: cannot read the file" in out


def test_graph_says_which_repos_broken_files_leave_out(tmp_path: Path) -> None:
    # b's broken file hides the edge b -> a that closes the cycle a -> b -> a: the
    # graph cannot show it, but it must not pass the gap off silently as acyclic.
    write(tmp_path, {
        "acme/a/tako.yml": VALID.replace("my-org/core-lib", "acme/b"),
        "acme/b/tako.yml": "version: 1\nevents: [\n",
        "acme/c/tako.yml": INVALID_TWO.replace("my-org/core-lib", "acme/a"),
    })
    for fmt in ("text", "mermaid", "json"):
        code, out, err = run("graph", "--workspace", str(tmp_path), "--format", fmt)
        assert code == 0
        assert "acme/b: tako.yml could not be used, so it is not in the graph: " in err
        assert "acme/b/tako.yml:3:1:" in err
        assert "acme/c: tako.yml has 2 error(s); the subscriptions they drop" in err
        assert "tako-gha lint" in err
        assert "could not be used" not in out  # stdout stays the graph alone
    _, out, _ = run("graph", "--workspace", str(tmp_path), "--format", "json")
    json.loads(out)
    code, _, err = run("graph", "--workspace", str(FIXTURES / "diamond"))
    assert code == 0 and err == ""


def test_graph_mermaid_and_dot() -> None:
    code, out, _ = run("graph", "--workspace", CASCADE, "--format", "mermaid")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart LR"
    assert any('["my-org/core-lib"]' in line for line in lines)
    assert any('-->|"library_built"|' in line for line in lines)
    code, out, _ = run("graph", "--workspace", str(FIXTURES / "cycle"), "--format", "dot")
    assert '"acme/a" -> "acme/b" [label="a_built"];' in out


def test_graph_via_org_uses_open_forge(monkeypatch) -> None:
    seen: list[str | None] = []

    def open_forge(api_url: str | None, **_: object) -> WorkspaceForge:
        seen.append(api_url)
        return WorkspaceForge(FIXTURES / "cycle")

    fake = types.ModuleType("tako_gha.surfaces.connect")
    fake.open_forge = open_forge  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tako_gha.surfaces.connect", fake)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:1")
    code, out, _ = run("graph", "--org", "acme")
    assert code == 0 and "acme/a → acme/b → acme/a" in out
    assert seen == ["http://127.0.0.1:1"]


def test_discover_org_defaults_to_the_origin_remote_owner(tmp_path: Path, monkeypatch) -> None:
    import git

    git.Repo.init(tmp_path).create_remote("origin", "git@github.com:acme/service.git")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    asked: list[str] = []

    class Recorder(WorkspaceForge):
        def discover(self, selection: RepoSelection) -> Discovery:
            asked.append(selection.org)
            return super().discover(selection)

    fake = types.ModuleType("tako_gha.surfaces.connect")
    fake.open_forge = lambda *_, **__: Recorder(FIXTURES / "cycle")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tako_gha.surfaces.connect", fake)
    code, _, err = run("discover")
    assert code == 0 and asked == ["acme"], err


def test_forge_errors_become_clean_messages(monkeypatch) -> None:
    from tako_gha.forge.base import AuthError

    def open_forge(api_url: str | None, **_: object) -> WorkspaceForge:
        raise AuthError("no token", hint="set GITHUB_TOKEN")

    fake = types.ModuleType("tako_gha.surfaces.connect")
    fake.open_forge = open_forge  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tako_gha.surfaces.connect", fake)
    code, _, err = run("discover", "--org", "acme")
    assert (code, err) == (2, "error: no token\n  hint: set GITHUB_TOKEN\n")


# ================================================================ plan
def plan_json(*extra: str) -> dict:
    code, out, err = run("plan", "--workspace", CASCADE, "--source", "my-org/core-lib",
                         "--event", "library_built", "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_plan_json_lists_exactly_the_matching_repos_with_reasons() -> None:
    data = plan_json("--payload", PAYLOAD)
    assert [t["repo"] for t in data["targets"]] == [
        "my-org/api", "my-org/multi", "my-org/user-service", "my-org/v2-only",
        "other-org/consumer"]
    api = data["targets"][0]
    assert api["subscription"] == {"index": 0, "artifact": "my-org/core-lib:default", "line": 6}
    assert api["inputs"] == {"version": "2.1.0", "source": "my-org/core-lib", "schema": "1.2.0"}
    reasons = {s["repo"]: s["reason"] for s in data["skipped"]}
    assert reasons["my-org/legacy"] == "schema_version 1.2.0 is outside '[0.1.0...1.0.0)'"
    assert reasons["my-org/no-config"] == "no tako.yml"
    assert reasons["my-org/frontend"] == "no subscription to my-org/core-lib"
    assert reasons["my-org/billing"].startswith("filters[1]")
    assert len(data["skipped"]) == 10
    assert data["event"]["schema_version"] == "1.2.0"


def test_plan_schema_version_and_payload_file(tmp_path: Path) -> None:
    payload = tmp_path / "event.json"
    payload.write_text('{"version": "1.0.0", "build_status": "success", "services": "x"}')
    data = plan_json("--payload", f"@{payload}", "--schema-version", "1.9.0")
    assert [t["repo"] for t in data["targets"]] == ["my-org/api", "my-org/multi"]
    reasons = {s["repo"]: s["reason"] for s in data["skipped"]}
    assert reasons["other-org/consumer"] == "schema_version 1.9.0 is outside '~1.2'"
    assert reasons["my-org/v2-only"].startswith("filters[0] `semver.major(")


def test_plan_payload_from_stdin() -> None:
    code, out, _ = run("plan", "--workspace", CASCADE, "--source", "my-org/core-lib",
                       "--event", "library_built", "--payload", "@-", "--format", "json",
                       input=PAYLOAD)
    assert code == 0 and len(json.loads(out)["targets"]) == 5


def test_plan_text_output() -> None:
    code, out, _ = run("plan", "--workspace", CASCADE, "--source", "my-org/core-lib",
                       "--event", "library_built", "--payload", PAYLOAD)
    assert code == 0
    assert out.startswith("plan: library_built from my-org/core-lib (schema_version 1.2.0)\n"
                          "targets (5):\n")
    assert "      version = 2.1.0" in out
    assert "(also matched: subscriptions[1]; the first one wins)" in out
    assert "skipped (10):" in out
    assert "error: tako.yml could not be used" in out  # the broken repo, flagged
    assert "broken/tako.yml:6:1: error: invalid YAML" in out


def test_plan_source_defaults_to_github_repository(monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/a")
    code, out, _ = run("plan", "--workspace", str(FIXTURES / "cycle"), "--event", "a_built",
                       "--format", "json")
    assert code == 0 and [t["repo"] for t in json.loads(out)["targets"]] == ["acme/b"]


def test_plan_selection_skips_are_listed(tmp_path: Path) -> None:
    code, out, _ = run("plan", "--workspace", CASCADE, "--source", "my-org/core-lib",
                       "--event", "library_built", "--payload", PAYLOAD, "--name", "api*")
    assert code == 0 and "not selected: my-org/multi: name does not match api*" in out
    data = plan_json("--payload", PAYLOAD, "--name", "api*")
    assert [t["repo"] for t in data["targets"]] == ["my-org/api"]
    assert {"repo": "my-org/multi", "reason": "name does not match api*"}.items() <= next(
        s for s in data["skipped"] if s["repo"] == "my-org/multi").items()


@pytest.mark.parametrize(("args", "message"), [
    (["--payload", "{nope"], "error: --payload: line 1 column 2: not valid JSON: Expecting "
                             "property name"),
    (["--payload", "[1, 2]"], "error: --payload: line 1 column 1: must be a JSON object, "
                              "got an array"),
    (["--payload", "@/nonexistent/event.json"], "error: --payload @/nonexistent/event.json: "
                                                "cannot read the file"),
    (["--source", "core-lib"], "error: --source 'core-lib' is not OWNER/REPO"),
    (["--schema-version", "one"], "error: --schema-version 'one' is not a version"),
    (["--event", "x" * 101], "must be 1 to 100 characters"),
])
def test_plan_bad_input_is_a_clear_usage_error(args: list[str], message: str) -> None:
    base = {"--source": "my-org/core-lib", "--event": "library_built"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["plan", "--workspace", CASCADE]
    for flag, value in base.items():
        argv += [flag, value]
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert message in err.splitlines()[0]
    assert err.splitlines()[1].startswith("  hint: ")


def test_plan_without_source_outside_a_checkout(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run("plan", "--workspace", CASCADE, "--event", "library_built")
    assert code == 2 and "no --source given" in err


def test_plan_source_from_the_origin_remote(tmp_path: Path, monkeypatch) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin",
                    "git@github.com:acme/a.git"], check=True)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("plan", "--workspace", str(FIXTURES / "cycle"), "--event", "a_built")
    assert code == 0 and out.startswith("plan: a_built from acme/a")


def test_help_texts_teach_with_examples() -> None:
    for command in ("lint", "discover", "graph", "plan"):
        code, out, _ = run(command, "--help")
        assert code == 0 and "Examples:" in out and f"tako-gha {command}" in out


# ================================================================ real process
def _tako() -> list[str]:
    exe = shutil.which("tako-gha")
    return [exe] if exe else [sys.executable, "-m", "tako_gha"]


def test_real_process_plan_and_lint_exit_codes(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run([*_tako(), "plan", "--workspace", CASCADE, "--source",
                           "my-org/core-lib", "--event", "library_built", "--payload", PAYLOAD,
                           "--format", "json"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["targets"]) == 5
    write(tmp_path, {"tako.yml": INVALID_TWO})
    lint = subprocess.run([*_tako(), "lint", str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=60)
    assert lint.returncode == 1 and re.search(r"tako\.yml:6:\d+: error: ", lint.stdout)
    bad = subprocess.run([*_tako(), "plan", "--workspace", CASCADE, "--source", "x/y",
                          "--event", "e", "--payload", "{"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --payload: line 1 column 2: not valid JSON")
    assert "Traceback" not in bad.stderr


# ================================================================ --org on the emulator
def test_plan_and_graph_via_org_on_the_emulator_match_the_workspace(tmp_path: Path,
                                                                    monkeypatch) -> None:
    """The same configs served by the GitHub-compatible emulator give the same plan
    through real discovery (open_forge, GraphQL) as the local workspace does."""
    from tako_gha.emulator import Emulator

    world = tmp_path / "world"
    shutil.copytree(FIXTURES / "cascade", world)
    emulator = Emulator(world, port=0).start()
    try:
        monkeypatch.setenv("GITHUB_TOKEN", emulator.admin_token)
        monkeypatch.setenv("TAKO_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.delenv("GH_TOKEN", raising=False)
        common = ["--source", "my-org/core-lib", "--event", "library_built",
                  "--payload", PAYLOAD, "--format", "json"]
        code, out, err = run("plan", "--org", "my-org", "--api-url", emulator.base_url,
                             *common)
        assert code == 0, err
        remote = json.loads(out)
        code, out, _ = run("plan", "--workspace", CASCADE, "--org", "my-org", *common)
        local = json.loads(out)
        assert [t["repo"] for t in remote["targets"]] == [
            "my-org/api", "my-org/multi", "my-org/user-service", "my-org/v2-only"]
        assert remote["targets"] == local["targets"]
        assert [(s["repo"], s["kind"]) for s in remote["skipped"]] == [
            (s["repo"], s["kind"]) for s in local["skipped"]]
        code, out, _ = run("graph", "--org", "my-org", "--api-url", emulator.base_url)
        assert code == 0 and "my-org/core-lib -> my-org/api" in out.replace("  ", " ")
    finally:
        emulator.stop()


def test_lint_checkout_knows_its_name_from_origin(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    write(tmp_path, {"tako.yml": VALID.replace("my-org/core-lib", "acme/self")})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin",
                    "https://github.com/acme/self.git"], check=True)
    code, out, _ = run("lint", str(tmp_path))
    assert code == 0
    assert re.search(r"tako\.yml:4:\d+: warning: .*acme/self to its own events", out), out


def test_graph_from_a_repo_shows_only_what_it_reaches(tmp_path: Path) -> None:
    code, out, _ = run("graph", "--workspace", CASCADE, "--from", "my-org/api",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert [n["repo"] for n in data["nodes"]] == ["my-org/api", "my-org/frontend"]
    assert data["edges"] == [{"from": "my-org/api", "to": "my-org/frontend",
                              "events": ["service_deployed"]}]
    code, _, err = run("graph", "--workspace", CASCADE, "--from", "api")
    assert code == 2 and "--from 'api' is not OWNER/REPO" in err


def test_lint_with_a_config_path_checks_the_checkout_workflows(tmp_path: Path) -> None:
    write(tmp_path, {"acme/app/.github/tako.yml": VALID,
                     "acme/app/.github/workflows/a.yml": WORKFLOW_NO_RUN_NAME})
    code, out, _ = run("lint", str(tmp_path), "--config-path", ".github/tako.yml")
    assert code == 0
    assert "a.yml:4:3: warning: workflow listens for repository_dispatch" in out
    assert out.splitlines()[-1] == "checked 1 file: 0 errors, 1 warning"


def test_lint_mixed_fixture_workspace() -> None:
    """The committed example: five broken files, two valid ones."""
    root = FIXTURES / "lint-mixed"
    code, out, _ = run("lint", str(root))
    assert code == 1
    located = [line.split(": error: ")[0].replace(f"{root}/acme/", "").rsplit(":", 1)[0]
               for line in out.splitlines() if ": error: " in line]
    assert located == ["bad-filter/tako.yml:7", "bad-range/tako.yml:6",
                       "bad-template/tako.yml:7", "unknown-key/tako.yml:5",
                       "yaml-error/tako.yml:5"]
    assert out.splitlines()[-1] == "checked 7 files: 5 errors, 0 warnings"
    code, out, _ = run("lint", str(root / "acme" / "valid-lib"), str(root / "acme" / "valid-app"))
    assert (code, out.strip()) == (0, "checked 2 files: no problems")


def test_plan_on_an_emulator_world_skips_its_archived_repos(tmp_path: Path) -> None:
    # The same world served by the emulator skips acme/old as archived; the offline
    # plan must not list it as a target.
    world = write(tmp_path, {"my-org/old/tako.yml": VALID, "my-org/new/tako.yml": VALID,
                             "emulator.yml": "repos:\n  my-org/old: {archived: true}\n"})
    code, out, _ = run("plan", "--workspace", str(world), "--source", "my-org/core-lib",
                       "--event", "library_built", "--schema-version", "1.2.0",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0 and [t["repo"] for t in data["targets"]] == ["my-org/new"]
    assert {"repo": "my-org/old", "reason": "archived"}.items() <= next(
        s for s in data["skipped"] if s["repo"] == "my-org/old").items()


def test_workspace_with_a_broken_world_file_says_where(tmp_path: Path) -> None:
    world = write(tmp_path, {"my-org/new/tako.yml": VALID, "emulator.yml": "repos: [\n"})
    code, _, err = run("discover", "--workspace", str(world))
    assert code == 2 and "emulator.yml:2:1: invalid YAML" in err and "Traceback" not in err
