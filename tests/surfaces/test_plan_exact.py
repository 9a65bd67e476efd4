"""`tako-gha plan` checks an exact-mode subscription's rendered inputs against the inputs
the receiving workflow declares, both sides file:line:col — on a workspace (files read
from disk) and on an org (the workflow read through the API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.surfaces.cli import cli

WF = ".github/workflows/release.yml"
WORKFLOW = """name: release
on:
  workflow_dispatch:
    inputs:
      version: {required: true}
      level:
        type: choice
        options: [low, high]
      tako: {description: tako-gha's cascade context}
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""
TAKO = """version: 1
events:
  subscriptions:
    - artifact: acme/a
      events: [built]
      workflow: release.yml
      inputs:
        version: "{{ .event.payload.version }}"
        level: "{{ .event.payload.level }}"
"""
FILES = {"acme/a": {"tako.yml": "version: 1\n"}, "acme/b": {"tako.yml": TAKO, WF: WORKFLOW}}


def plan(*args: str, payload: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, ["plan", *args, "--source", "acme/a", "--event",
                                      "built", "--payload", payload], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_workspace_plan_checks_the_rendered_inputs(tmp_path: Path) -> None:
    for repo, files in FILES.items():
        for rel, text in files.items():
            (tmp_path / repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / repo / rel).write_text(text)
    out = plan("--workspace", str(tmp_path), payload='{"version": "2", "level": "mid"}')
    config, workflow = tmp_path / "acme/b/tako.yml", tmp_path / "acme/b" / WF
    assert (f"{config}:9:16: error: Provided value 'mid' for input 'level' not in the list "
            f"of allowed values (declared at {workflow}:6:7: type choice, options low, high)"
            ) in out
    assert "error" not in plan("--workspace", str(tmp_path),
                               payload='{"version": "2", "level": "low"}')


@pytest.mark.timeout(60)
def test_an_org_plan_reads_the_workflow_through_the_api(tmp_path: Path) -> None:
    world = write_world(tmp_path / "world", FILES,
                        {"tokens": {"t-read": {"repos": ["*"]}}, "admin_token": "t-read"})
    with Emulator(world) as emu:
        env = {"GITHUB_TOKEN": "t-read", "GH_TOKEN": "", "GITHUB_API_URL": ""}
        out = plan("--org", "acme", "--api-url", emu.base_url,
                   payload='{"version": "2", "level": "mid"}', env=env)
        assert ("tako.yml:9:16: error: Provided value 'mid' for input 'level' not in the "
                f"list of allowed values (declared at acme/b/{WF}:6:7: type choice, "
                "options low, high)") in out
        assert all(not e["path"].endswith("/dispatches") for e in emu.requests())


@pytest.mark.timeout(60)
def test_an_org_plan_reads_the_workflow_on_the_subscriptions_ref(tmp_path: Path) -> None:
    """`ref:` is where the dispatch would run: the plan reads the workflow there (main
    has none here, branch dev has it), and a ref that does not exist is an error at
    the subscription's ref: line (the fan-out would dispatch nothing)."""
    import subprocess

    on_ref = TAKO.replace("      workflow: release.yml\n",
                          "      workflow: release.yml\n      ref: dev\n")
    files = {"acme/a": {"tako.yml": "version: 1\n"}, "acme/b": {"tako.yml": on_ref}}
    world = write_world(tmp_path / "world", files,
                        {"tokens": {"t-read": {"repos": ["*"]}}, "admin_token": "t-read"})
    with Emulator(world) as emu:
        repo = world / "acme" / "b"
        (repo / WF).parent.mkdir(parents=True)
        (repo / WF).write_text(WORKFLOW)
        git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
        for args in (["checkout", "-q", "-b", "dev"], ["add", "-A"],
                     ["commit", "-q", "-m", "workflow on dev"], ["checkout", "-q", "main"]):
            subprocess.run([*git, *args], check=True)
        env = {"GITHUB_TOKEN": "t-read", "GH_TOKEN": "", "GITHUB_API_URL": ""}
        args = ("--org", "acme", "--api-url", emu.base_url)
        out = plan(*args, payload='{"version": "2", "level": "mid"}', env=env)
        assert ("tako.yml:10:16: error: Provided value 'mid' for input 'level' not in the "
                f"list of allowed values (declared at acme/b/{WF}:6:7") in out
        (repo / "tako.yml").write_text(on_ref.replace("ref: dev", "ref: nosuch"))
        subprocess.run([*git, "commit", "-q", "-am", "ref nosuch"], check=True)
        out = plan(*args, payload='{"version": "2", "level": "low"}', env=env)
        assert (f"tako.yml:7:12: error: acme/b/{WF} is not on ref 'nosuch' of acme/b (no "
                "such branch or tag, or no such file on it): the fan-out would make this "
                "target an error and dispatch nothing") in out


def test_rendered_values_are_judged_as_the_strings_github_gets(tmp_path: Path) -> None:
    """Values travel as strings: a payload's JSON true is sent as "true" (a boolean
    input takes it), a number as its text; the string "True" is not a boolean, and
    the plan says so at the subscription's input, file:line:col."""
    typed = WORKFLOW.replace("      tako:", "      dry: {type: boolean}\n"
                             "      count: {type: number}\n      tako:")
    tako = TAKO + ('        dry: "{{ .event.payload.dry }}"\n'
                   '        count: "{{ .event.payload.count }}"\n')
    for rel, text in (("acme/a/tako.yml", "version: 1\n"), ("acme/b/tako.yml", tako),
                      (f"acme/b/{WF}", typed)):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    good = plan("--workspace", str(tmp_path),
                payload='{"version": 2, "level": "low", "dry": true, "count": 3.5}')
    assert "dry = true" in good and "count = 3.5" in good and "error" not in good
    bad = plan("--workspace", str(tmp_path),
               payload='{"version": 2, "level": "low", "dry": "True", "count": "x"}')
    config = tmp_path / "acme/b/tako.yml"
    assert f"{config}:10:14: error: Provided value 'True' for input 'dry' is not a boolean" \
        in bad
    assert f"{config}:11:16: error: Provided value 'x' for input 'count' is not a number" \
        in bad


def _workspace(root: Path, tako: str, workflow: str = WORKFLOW) -> Path:
    for rel, text in (("acme/a/tako.yml", "version: 1\n"), ("acme/b/tako.yml", tako),
                      (f"acme/b/{WF}", workflow)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_workspace_plan_checks_every_input_rule(tmp_path: Path) -> None:
    """Unknown, missing required, more than 25 with tako's own, tako reserved: the plan
    says each at the subscription (file:line:col) and names the declaration."""
    payload = '{"version": "2", "level": "low"}'
    unknown = _workspace(tmp_path / "u", TAKO + '        flavour: "x"\n')
    out = plan("--workspace", str(unknown), payload=payload)
    assert (f"{unknown}/acme/b/tako.yml:10:18: error: input 'flavour' is not declared by "
            f"release.yml ({unknown}/acme/b/{WF}:3:3 declares: version, level)") in out
    missing = _workspace(tmp_path / "m", TAKO.replace(
        '        version: "{{ .event.payload.version }}"\n', ""))
    out = plan("--workspace", str(missing), payload=payload)
    assert (f"{missing}/acme/b/tako.yml:6:17: error: release.yml requires input 'version' "
            f"({missing}/acme/b/{WF}:5:7)") in out
    many = WORKFLOW.replace("      tako:", "".join(f"      i{n}: {{}}\n" for n in range(24))
                            + "      tako:")
    extra = "".join(f'        i{n}: "x"\n' for n in range(24))
    crowded = _workspace(tmp_path / "c", TAKO + extra, many)
    out = plan("--workspace", str(crowded), payload=payload)
    assert (f"{crowded}/acme/b/tako.yml:6:17: error: subscriptions[0] (acme/a:default) sends "
            "27 inputs to release.yml (with tako's own); GitHub allows 25") in out
    reserved = _workspace(tmp_path / "r", TAKO + '        tako: "{}"\n')
    out = plan("--workspace", str(reserved), payload=payload)
    assert (f"{reserved}/acme/b/tako.yml:10:15: error: input 'tako' is tako's own (the "
            "cascade context)") in out
