"""The pre-push hook, through real ``git push`` into a bare remote (no network)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tako_gha.surfaces import hook
from tako_gha.surfaces.hook import (
    PushedRef,
    check_push,
    parse_push_lines,
    repo_from_remote,
    run_pre_push,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = """version: 1
events:
  produces:
    - type: library_built
      schema_version: 1.2.0
  subscriptions:
    - artifact: acme/core-lib
      events: [library_built]
      schema_version: "^1.0.0"
"""
BAD = """version: 1
events:
  subscriptions:
    - artifact: not a repo
      events: [library_built]
"""
WARN_ONLY = """version: 1
events:
  subscriptions:
    - artifact: acme/core-lib
      events: [library_built]
    - artifact: acme/core-lib
      events: [library_built]
"""


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=check, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clone of an empty bare remote, with the plain git hook installed."""
    remote, work = tmp_path / "remote.git", tmp_path / "work"
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    _git(tmp_path, "clone", "-q", str(remote), str(work))
    for key, value in (("user.name", "t"), ("user.email", "t@example.com"),
                       ("commit.gpgsign", "false")):
        _git(work, "config", key, value)
    hooks = work / ".git" / "hooks"
    shutil.copy(ROOT / "hooks" / "pre-push", hooks / "pre-push")
    (hooks / "pre-push").chmod(0o755)
    return work


def _hook_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GITHUB_TOKEN", "GH_TOKEN", "PRE_COMMIT")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _commit(work: Path, text: str, message: str = "change") -> str:
    (work / "tako.yml").write_text(text)
    _git(work, "add", "tako.yml")
    _git(work, "commit", "-q", "-m", message)
    return _git(work, "rev-parse", "HEAD").stdout.strip()


def _push(work: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _git(work, "push", "origin", *(args or ("main",)), env=_hook_env(**env),
                check=False)


def test_bad_tako_yml_blocks_the_push_with_file_line(repo: Path) -> None:
    sha = _commit(repo, BAD)
    result = _push(repo)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{sha[:7]} (main): tako.yml:4:17: error:" in output
    assert "push blocked" in output
    remote_heads = _git(repo, "ls-remote", "origin").stdout
    assert sha not in remote_heads


def test_good_tako_yml_passes(repo: Path) -> None:
    sha = _commit(repo, GOOD)
    result = _push(repo)
    assert result.returncode == 0, result.stderr
    assert sha in _git(repo, "ls-remote", "origin").stdout


def test_warnings_do_not_block(repo: Path) -> None:
    _commit(repo, WARN_ONLY)
    result = _push(repo)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr


def test_the_pushed_commit_is_linted_not_the_work_tree(repo: Path) -> None:
    _commit(repo, GOOD)
    (repo / "tako.yml").write_text(BAD)  # uncommitted: not part of the push
    assert _push(repo).returncode == 0
    _git(repo, "commit", "-q", "-am", "break it")
    (repo / "tako.yml").write_text(GOOD)  # the work tree is fine, the commit is not
    assert _push(repo).returncode != 0


def test_no_tako_yml_and_deletions_pass(repo: Path) -> None:
    (repo / "README").write_text("hi")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "readme")
    assert _push(repo).returncode == 0
    _git(repo, "checkout", "-q", "-b", "topic")
    assert _push(repo, "topic").returncode == 0
    assert _push(repo, ":topic").returncode == 0  # deletion: nothing to lint


def test_a_token_without_network_never_blocks(repo: Path) -> None:
    _commit(repo, GOOD)
    started = time.monotonic()
    result = _push(repo, GITHUB_TOKEN="t-offline", GITHUB_API_URL="http://127.0.0.1:9",
                   TAKO_REPOSITORY="acme/svc")
    assert result.returncode == 0, result.stderr
    assert "note: could not print the cascade plan" in result.stderr
    assert time.monotonic() - started < 30


def test_a_token_but_no_owner_repo_is_a_note(repo: Path) -> None:
    _commit(repo, GOOD)
    result = _push(repo, GITHUB_TOKEN="t-offline")
    assert result.returncode == 0
    assert "cannot tell owner/repo from the remote URL" in result.stderr


def test_pre_commit_refs_from_the_environment(repo: Path) -> None:
    sha = _commit(repo, BAD)
    out = io.StringIO()
    env = {"PRE_COMMIT": "1", "PRE_COMMIT_TO_REF": sha, "PRE_COMMIT_FROM_REF": "0" * 40,
           "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main", "PRE_COMMIT_LOCAL_BRANCH": "main",
           "PRE_COMMIT_REMOTE_URL": "git@github.com:acme/svc.git"}
    code = run_pre_push("", [], env, out, git_dir=str(repo))
    assert code == 1
    assert f"{sha[:7]} (main): tako.yml:4:17: error:" in out.getvalue()


def test_lint_is_fast(repo: Path) -> None:
    sha = _commit(repo, GOOD)
    check_push([PushedRef("refs/heads/main", sha, "refs/heads/main", "0" * 40)],
               git_dir=str(repo))  # warm: imports and the first CEL compile
    result = check_push([PushedRef("refs/heads/main", sha, "refs/heads/main", "0" * 40)],
                        git_dir=str(repo))
    assert result.checked and result.checked[0].result is not None
    assert result.seconds < 0.5


def test_unknown_commit_is_a_note_not_a_block(repo: Path) -> None:
    out = io.StringIO()
    line = f"refs/heads/main {'ab' * 20} refs/heads/main {'0' * 40}\n"
    assert run_pre_push(line, ["origin", "x"], {}, out, git_dir=str(repo)) == 0
    assert "is not a commit of this repository" in out.getvalue()


def test_plan_printer_failures_are_notes(repo: Path) -> None:
    sha = _commit(repo, GOOD)
    refs = [PushedRef("refs/heads/main", sha, "refs/heads/main", "0" * 40)]
    result = check_push(refs, git_dir=str(repo), repo="acme/svc")
    out = io.StringIO()

    def boom(repo_name: str, config: object, stream: io.StringIO) -> None:
        raise ConnectionError("network unreachable")

    hook.maybe_plan(result, "acme/svc", {"GH_TOKEN": "t"}, out, printer=boom)
    assert "ConnectionError: network unreachable); the push goes on" in out.getvalue()
    printed: list[str] = []
    hook.maybe_plan(result, "acme/svc", {"GH_TOKEN": "t"}, out,
                    printer=lambda r, c, s: printed.append(r))
    assert printed == ["acme/svc"]


def test_parse_push_lines_and_remote_urls() -> None:
    text = f"refs/heads/main {'1' * 40} refs/heads/main {'2' * 40}\n(delete) {'0' * 40} " \
           f"refs/heads/old {'3' * 40}\ngarbage\n"
    refs = parse_push_lines(text)
    assert [r.remote_ref for r in refs] == ["refs/heads/main", "refs/heads/old"]
    assert [r.is_deletion for r in refs] == [False, True]
    assert repo_from_remote("git@github.com:acme/svc.git") == "acme/svc"
    assert repo_from_remote("https://github.com/acme/svc") == "acme/svc"
    assert repo_from_remote("ssh://git@ghe.example/acme/svc.git/") == "acme/svc"
    assert repo_from_remote("/tmp/remote.git") is None
    assert repo_from_remote("") is None


def test_pre_commit_hooks_file_declares_lint_and_plan() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"tako-lint", "tako-plan"}
    assert hooks["tako-lint"]["entry"] == "tako-gha lint"
    assert hooks["tako-plan"]["stages"] == ["pre-push"]
    assert hooks["tako-plan"]["entry"] == "tako-gha hook pre-push"
    assert hooks["tako-plan"]["pass_filenames"] is False


def test_a_config_the_remote_already_has_is_not_linted_again(repo: Path) -> None:
    first = _commit(repo, BAD)
    assert _push(repo, "--no-verify").returncode == 0  # someone skipped the hook once
    (repo / "README").write_text("unrelated")
    _git(repo, "add", "README")
    _git(repo, "commit", "-q", "-m", "unrelated")
    head = _git(repo, "rev-parse", "HEAD").stdout.strip()
    refs = [PushedRef("refs/heads/main", head, "refs/heads/main", first)]
    result = check_push(refs, git_dir=str(repo))
    assert result.checked[0].unchanged and not result.blocked
    assert _push(repo).returncode == 0  # a push that does not touch tako.yml goes through
    _commit(repo, BAD + "# still bad\n")
    assert _push(repo).returncode != 0  # touching it again lints it again


def test_module_entry_usage_and_exit_codes(repo: Path) -> None:
    sha = _commit(repo, BAD)
    line = f"refs/heads/main {sha} refs/heads/main {'0' * 40}\n"
    proc = subprocess.run([sys.executable, "-m", "tako_gha.surfaces.hook", "pre-push", "origin",
                           "x"], input=line, cwd=repo, capture_output=True, text=True,
                          timeout=60, env=_hook_env(), check=False)
    assert proc.returncode == 1
    assert "tako.yml:4:17: error:" in proc.stderr
    assert hook.main(["pre-pull"]) == 2


def test_with_a_token_the_plan_of_the_push_is_printed(repo: Path, tmp_path: Path) -> None:
    from tako_gha.emulator import Emulator
    from tako_gha.emulator.worldgen import write_world

    sub = "version: 1\nevents:\n  subscriptions:\n    - artifact: acme/core-lib\n" \
          "      events: [library_built]\n      schema_version: '{rng}'\n"
    world = write_world(tmp_path / "world", {
        "acme/core-lib": {"tako.yml": GOOD},
        "acme/svc-new": {"tako.yml": sub.format(rng="^1.0.0")},
        "acme/svc-old": {"tako.yml": sub.format(rng="^0.9.0")},
        "acme/docs": {"README.md": "no tako.yml"},
    }, {"tokens": {"t-hook": {"repos": ["*"], "dispatch": False}}})
    sha = _commit(repo, GOOD)
    line = f"refs/heads/main {sha} refs/heads/main {'0' * 40}\n"
    with Emulator(world, port=0) as emu:
        out = io.StringIO()
        code = run_pre_push(line, ["origin", "git@github.com:acme/core-lib.git"],
                            {"GITHUB_TOKEN": "t-hook", "GITHUB_API_URL": emu.base_url}, out,
                            git_dir=str(repo))
        dispatches = [r for r in emu.requests() if r["path"].endswith("/dispatches")]
    text = out.getvalue()
    assert code == 0, text
    assert "library_built from acme/core-lib would start: acme/svc-new" in text
    assert "skipped acme/svc-old: schema_version 1.2.0 is outside '^0.9.0'" in text
    assert dispatches == []  # a plan, nothing sent


def test_the_plan_uses_the_payload_of_tako_hook_payload(repo: Path, tmp_path: Path) -> None:
    """Read by the same strict reader as --payload and the action's input; a bad one
    is a note naming where, and the push goes on."""
    from tako_gha.emulator import Emulator
    from tako_gha.emulator.worldgen import write_world

    sub = ("version: 1\nevents:\n  subscriptions:\n    - artifact: acme/core-lib\n"
           "      events: [library_built]\n      filters:\n"
           "        - event.payload.channel == 'stable'\n")
    world = write_world(tmp_path / "world", {
        "acme/core-lib": {"tako.yml": GOOD}, "acme/svc": {"tako.yml": sub},
    }, {"tokens": {"t-hook": {"repos": ["*"], "dispatch": False}}})
    sha = _commit(repo, GOOD)
    line = f"refs/heads/main {sha} refs/heads/main {'0' * 40}\n"
    payload_file = tmp_path / "payload.json"
    payload_file.write_text('{"channel": "stable"}')
    with Emulator(world, port=0) as emu:
        env = {"GITHUB_TOKEN": "t-hook", "GITHUB_API_URL": emu.base_url}
        texts = []
        for value in ('{"channel": "stable"}', f"@{payload_file}", '{"channel": NaN}', ""):
            out = io.StringIO()
            code = run_pre_push(line, ["origin", "git@github.com:acme/core-lib.git"],
                                {**env, "TAKO_HOOK_PAYLOAD": value}, out, git_dir=str(repo))
            assert code == 0
            texts.append(out.getvalue())
    assert "library_built from acme/core-lib would start: acme/svc" in texts[0]
    assert "library_built from acme/core-lib would start: acme/svc" in texts[1]
    assert texts[2].endswith("tako-gha: note: TAKO_HOOK_PAYLOAD: line 1 column 13 ($.channel): "
                        "NaN is not JSON (GitHub's JSON has no NaN or Infinity); send a string "
                             "or null instead; no cascade plan printed\n")
    assert "would start" not in texts[2]
    # unset: the filter reads the payload, so acme/svc is neither started nor skipped
    assert texts[3].endswith(
        "tako-gha: library_built from acme/core-lib would start: no repository for certain\n"
        "  depends on the payload acme/svc: filters[0] `event.payload.channel == 'stable'`\n"
        "  0 would start, 1 depend on the payload, 0 skipped "
        "(set TAKO_HOOK_PAYLOAD, or an example_payload under produces in tako.yml, "
        "to decide them)\n")
    assert "  1 would start, 0 depend on the payload, 0 skipped\n" in texts[0]


def test_the_cli_command_reads_stdin_and_exits_1_on_errors(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tako_gha.surfaces.cli import cli

    sha = _commit(repo, BAD)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    line = f"refs/heads/main {sha} refs/heads/main {'0' * 40}\n"
    result = CliRunner().invoke(cli, ["hook", "pre-push", "origin", "x"], input=line)
    assert result.exit_code == 1
    assert "tako.yml:4:17: error:" in result.stderr
    result = CliRunner().invoke(cli, ["hook", "pre-push", "--no-plan"], input="")
    assert result.exit_code == 0


def test_outside_a_repository_is_a_note(tmp_path: Path) -> None:
    out = io.StringIO()
    line = f"refs/heads/main {'ab' * 20} refs/heads/main {'0' * 40}\n"
    assert run_pre_push(line, [], {}, out, git_dir=str(tmp_path)) == 0
    assert "is not inside a git repository; tako.yml not checked" in out.getvalue()


def test_pre_commit_with_head_and_no_branch_has_no_head_head_prefix(repo: Path) -> None:
    _commit(repo, BAD)
    out = io.StringIO()
    env = {"PRE_COMMIT": "1", "PRE_COMMIT_TO_REF": "HEAD",
           "PRE_COMMIT_REMOTE_URL": "git@github.com:acme/svc.git"}
    assert run_pre_push("", [], env, out, git_dir=str(repo)) == 1
    text = out.getvalue()
    assert "HEAD (HEAD)" not in text and "(HEAD)" not in text
    assert text.startswith("tako.yml:4:17: error:"), text


def test_a_remote_that_cannot_be_read_names_tako_repository(repo: Path) -> None:
    _commit(repo, GOOD)
    result = _push(repo, GITHUB_TOKEN="t-offline")
    assert "set TAKO_REPOSITORY=owner/repo" in result.stderr


def test_hook_notes_name_github_api_url_not_a_flag_it_lacks(repo: Path) -> None:
    _commit(repo, GOOD)
    result = _push(repo, GITHUB_TOKEN="t-offline", GITHUB_API_URL="http://127.0.0.1:9",
                   TAKO_REPOSITORY="acme/svc")
    assert result.returncode == 0, result.stderr
    assert "note: could not print the cascade plan" in result.stderr
    assert "--api-url" not in result.stderr and "GITHUB_API_URL" in result.stderr


def test_a_produced_type_nobody_subscribes_to_gets_a_did_you_mean() -> None:
    from tako_gha.core.config import load_config

    pushed = load_config("version: 1\nevents:\n  produces: [proto_publish]\n",
                         repo="acme/proto")
    gen = load_config("version: 1\nevents:\n  subscriptions:\n    - artifact: acme/proto\n"
                      "      events: [proto_published]\n", repo="acme/gen")
    assert pushed.config is not None
    configs = [gen, pushed]
    plan, _ = hook.plan_event(pushed.config.produces[0], "acme/proto", configs,
                              pushed.config, None)
    note = hook.unsubscribed_note("proto_publish", "acme/proto", configs, plan)
    assert note is not None
    assert "no repository subscribes to proto_publish from acme/proto; did you mean " \
           "'proto_published' (subscribed to by acme/gen)?" in note
    fixed = load_config("version: 1\nevents:\n  produces: [proto_published]\n",
                        repo="acme/proto")
    assert fixed.config is not None
    plan, _ = hook.plan_event(fixed.config.produces[0], "acme/proto", [gen, fixed],
                              fixed.config, None)
    assert hook.unsubscribed_note("proto_published", "acme/proto", [gen, fixed], plan) is None
