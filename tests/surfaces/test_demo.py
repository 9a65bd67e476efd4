"""``tako-gha demo``: a real cascade on the bundled world, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tako_gha.surfaces.cli import cli, main
from tako_gha.surfaces.commands.demo import copy_demo_world, demo_repos


def _children(node: dict) -> dict[str, dict]:
    return {c["repo"]: c for c in node["children"]}


def test_demo_runs_the_whole_tree_and_keeps_the_world(tmp_path: Path) -> None:
    world = tmp_path / "kept"
    result = CliRunner().invoke(cli, ["demo", "--format", "json", "--keep-world", str(world)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "success"
    tree = data["tree"]
    assert tree["repo"] == "acme/core-lib"
    level1 = _children(tree)
    assert set(level1) == {"acme/api-gateway", "acme/auth", "acme/billing"}
    assert all(n["state"] == "success" and n["run_id"] for n in level1.values())
    # both kinds in one tree: api-gateway in exact mode, the others by repository_dispatch
    assert {r: n["correlation"] for r, n in level1.items()} == {
        "acme/api-gateway": "exact", "acme/auth": "strict", "acme/billing": "strict"}
    # the two-level chain: auth and billing fanned out from inside their runs
    assert set(_children(level1["acme/billing"])) == {"acme/frontend", "acme/notifications"}
    assert set(_children(level1["acme/auth"])) == {"acme/notifications"}
    # the diamond: notifications ran twice, once per path, as two nodes
    bottoms = [level1[p]["children"] for p in ("acme/auth", "acme/billing")]
    runs = {c["run_id"] for kids in bottoms for c in kids if c["repo"] == "acme/notifications"}
    assert len(runs) == 2
    assert all(c["correlation"] == "strict" for kids in bottoms for c in kids)
    # the kept world is a workspace/world with the hidden workflow dirs restored
    assert (world / "acme" / "auth" / ".github" / "workflows" / "on-tako.yml").is_file()
    assert not (world / "README.md").exists()
    assert "acme/legacy-app" in demo_repos(world)
    assert "the world is kept in" in result.stderr
    # Not a terminal: whole plain lines, never a sentence wrapped at 80 columns.
    lines = result.stderr.splitlines()
    assert lines[0].startswith("tako-gha demo: emulator at http://127.0.0.1:")
    assert lines[0].endswith("serving org acme (10 repositories)")
    assert lines[1] == ("fanning out library_built 2.1.0 from acme/core-lib and waiting on "
                        "the whole tree…")


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


def test_demo_refuses_a_non_empty_world_dir(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x").write_text("mine")
    code, err = _main(["demo", "--keep-world", str(tmp_path)], capsys)
    assert code == 2
    assert f"error: {tmp_path} is not empty" in err
    assert "hint: give --keep-world a new or empty directory" in err


def test_demo_rejects_a_bad_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _main(["demo", "--timeout", "whenever"], capsys)
    assert code == 2
    assert "error: --timeout: cannot read duration 'whenever'" in err


def test_bundled_world_copies_with_dot_dirs(tmp_path: Path) -> None:
    world = copy_demo_world(tmp_path / "w")
    assert (world / "emulator.yml").is_file()
    assert not list(world.rglob("dot-github"))
    assert len(list(world.glob("acme/*/.github/workflows/*.yml"))) == 7
