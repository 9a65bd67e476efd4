"""Discovery from a local DIR/<owner>/<repo>/ workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tako_gha.forge.base import ForgeError, RepoMeta, RepoSelection
from tako_gha.forge.workspace import WorkspaceForge, blob_oid, read_config_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workspaces"

GOOD = """\
version: 1
events:
  subscriptions:
    - artifact: acme/lib
      events: [built]
"""


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_discovers_every_repo_with_its_config(tmp_path: Path) -> None:
    make(tmp_path, {"acme/app/tako.yml": GOOD, "acme/lib/README.md": "x",
                    "other/tool/tako.yml": GOOD, ".git/ignored/tako.yml": GOOD,
                    "emulator.yml": "secrets: {}\n"})
    discovery = WorkspaceForge(tmp_path).discover(RepoSelection(org=""))
    names = [r.full_name for r in discovery.repos]
    assert names == ["acme/app", "acme/lib", "other/tool"]
    app, lib, _ = discovery.repos
    assert app.config is not None and app.config.ok
    assert [s.producer for s in app.config.config.subscriptions] == ["acme/lib"]
    assert app.config_oid == blob_oid(GOOD.encode())
    assert lib.config is not None and lib.config.missing and lib.config_oid is None
    assert [c.repo for c in discovery.configs()] == names


def test_org_repos_and_name_globs_narrow_the_selection(tmp_path: Path) -> None:
    make(tmp_path, {"acme/svc-a/tako.yml": GOOD, "acme/svc-b/tako.yml": GOOD,
                    "acme/web/tako.yml": GOOD, "other/svc-c/tako.yml": GOOD})
    forge = WorkspaceForge(tmp_path)
    by_org = forge.discover(RepoSelection(org="ACME"))
    assert [r.full_name for r in by_org.repos] == ["acme/svc-a", "acme/svc-b", "acme/web"]
    globbed = forge.discover(RepoSelection(org="acme", name_globs=["SVC-*"]))
    assert [r.full_name for r in globbed.repos] == ["acme/svc-a", "acme/svc-b"]
    assert globbed.skipped == [("acme/web", "name does not match SVC-*")]
    explicit = forge.discover(RepoSelection(org="*", repos=["other/svc-c", "acme/gone"]))
    assert [r.full_name for r in explicit.repos] == ["other/svc-c"]
    assert explicit.skipped == [("acme/gone", f"not in workspace {tmp_path}")]


def test_topics_select_nothing_and_say_why(tmp_path: Path) -> None:
    make(tmp_path, {"acme/app/tako.yml": GOOD})
    discovery = WorkspaceForge(tmp_path).discover(RepoSelection(org="acme", topics=["x"]))
    assert discovery.repos == []
    assert discovery.skipped == [("acme/app", "missing topic x (workspace repos have no topics)")]


def test_traits_leave_out_what_github_discovery_would(tmp_path: Path) -> None:
    make(tmp_path, {f"acme/{name}/tako.yml": GOOD for name in ("app", "old", "copy", "tagged")})
    traits = {"acme/old": RepoMeta("acme/old", archived=True),
              "acme/copy": RepoMeta("acme/copy", fork=True),
              "acme/tagged": RepoMeta("acme/tagged", topics=["svc"])}
    forge = WorkspaceForge(tmp_path, lambda name: traits.get(name, RepoMeta(name)))
    default = forge.discover(RepoSelection(org="acme"))
    assert [r.full_name for r in default.repos] == ["acme/app", "acme/tagged"]
    assert default.skipped == [("acme/copy", "fork"), ("acme/old", "archived")]
    assert default.repos[1].topics == ["svc"]
    topical = forge.discover(RepoSelection(org="acme", topics=["svc"]))
    assert [r.full_name for r in topical.repos] == ["acme/tagged"]
    everything = forge.discover(RepoSelection(org="acme", include_archived=True,
                                              include_forks=True))
    assert len(everything.repos) == 4
    assert next(r for r in everything.repos if r.full_name == "acme/old").archived


def test_config_path_is_honoured(tmp_path: Path) -> None:
    make(tmp_path, {"acme/app/.github/tako.yml": GOOD, "acme/app/tako.yml": "garbage: ["})
    selection = RepoSelection(org="acme", config_path=".github/tako.yml")
    (repo,) = WorkspaceForge(tmp_path).discover(selection).repos
    assert repo.config is not None and repo.config.ok
    assert repo.config.path.endswith(".github/tako.yml")


def test_a_broken_file_is_reported_for_that_repo_only(tmp_path: Path) -> None:
    make(tmp_path, {"acme/bad/tako.yml": "version: 1\nevents: [\n", "acme/good/tako.yml": GOOD})
    (tmp_path / "acme/binary").mkdir()
    (tmp_path / "acme/binary/tako.yml").write_bytes(b"\xff\xfe\x00bad")
    bad, binary, good = WorkspaceForge(tmp_path).discover(RepoSelection(org="acme")).repos
    assert bad.config is not None and not bad.config.ok and bad.config.config is None
    assert binary.config is not None and not binary.config.ok
    assert "cannot read the file" in binary.config.diagnostics[0].message
    assert good.config is not None and good.config.ok


def test_not_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ForgeError, match="not a directory") as info:
        WorkspaceForge(tmp_path / "nope")
    assert "DIR/<owner>/<repo>" in info.value.hint


def test_read_config_file_reports_missing() -> None:
    result, oid = read_config_file(Path("/nonexistent/tako.yml"), repo="a/b")
    assert result.missing and result.repo == "a/b" and oid is None


def test_fixture_workspace_is_discoverable() -> None:
    discovery = WorkspaceForge(FIXTURES / "cascade").discover(RepoSelection(org=""))
    assert "my-org/core-lib" in [r.full_name for r in discovery.repos]
    assert "other-org/consumer" in [r.full_name for r in discovery.repos]


def test_bare_repositories_are_read_from_head(tmp_path: Path) -> None:
    """Large emulator worlds are bare repos; --workspace reads their HEAD commit."""
    import shutil

    from tako_gha.emulator.worldgen import build_bare_world

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    build_bare_world(tmp_path, {"acme/app": {"tako.yml": GOOD},
                                "acme/lib": {"README.md": "x"},
                                "acme/bad": {"tako.yml": "version: 1\nevents: [\n"}})
    app, bad, lib = WorkspaceForge(tmp_path).discover(RepoSelection(org="acme")).repos
    assert app.full_name == "acme/app" and app.config is not None and app.config.ok
    assert [s.producer for s in app.config.config.subscriptions] == ["acme/lib"]
    assert app.config_oid == blob_oid(GOOD.encode())
    assert lib.config is not None and lib.config.missing
    assert bad.config is not None and not bad.config.ok
    assert bad.config.diagnostics[0].file == f"{tmp_path / 'acme' / 'bad'}:tako.yml"


def test_an_empty_bare_repository_is_reported(tmp_path: Path) -> None:
    import git

    git.Repo.init(tmp_path / "acme" / "empty", bare=True)
    (repo,) = WorkspaceForge(tmp_path).discover(RepoSelection(org="acme")).repos
    assert repo.config is not None and not repo.config.ok
    assert "cannot read tako.yml from git" in repo.config.diagnostics[0].message


def test_a_bare_repository_named_dot_git_is_named_as_the_emulator_serves_it(
        tmp_path: Path) -> None:
    import git

    from tako_gha.emulator import Emulator
    from tako_gha.emulator.testing import call

    source = git.Repo.init(tmp_path / "src")
    (tmp_path / "src" / "tako.yml").write_text(GOOD)
    source.index.add(["tako.yml"])
    source.index.commit("add tako.yml")
    git.Repo.clone_from(tmp_path / "src", tmp_path / "world" / "acme" / "app.git", bare=True)
    (local,) = WorkspaceForge(tmp_path / "world").discover(RepoSelection(org="acme")).repos
    assert local.full_name == "acme/app" and local.config is not None and local.config.ok
    with Emulator(tmp_path / "world", port=0) as emu:
        listing = call(emu.base_url, "GET", "/orgs/acme/repos", token="any").json()
        assert [r["full_name"] for r in listing] == ["acme/app"]
