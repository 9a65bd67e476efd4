"""The emulator's own workspace and logs against hostile worlds (cases and answers in
``emulator_workspace_corpus``): trees never write outside the workspace and a bad one
fails its job or its checkout step, never the run; ``.git`` pointers out of the world
are not served; each line of a multi-line secret is masked wherever it could show."""

from __future__ import annotations

import html
import io
import json
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from emulator_hostile_world import snapshot
from emulator_workspace_corpus import (
    GITDIR_CASES,
    SECRET_CASES,
    TREE_CASES,
    GitDirCase,
    write_tree_commit,
)

from tako_gha.emulator import Emulator
from tako_gha.emulator.state import RunRecord
from tako_gha.emulator.testing import call
from tako_gha.emulator.world import make_git_repo
from tako_gha.emulator.worldgen import write_world

pytestmark = pytest.mark.timeout(120)
TOKEN = "t-admin"
MARKER = "MARKER-outside-7c1e"
CONTROL = next(c for c in TREE_CASES if c.refused is None)


def _flow(event: str, steps: list[dict]) -> str:
    return yaml.safe_dump({"name": event, "on": {"repository_dispatch": {"types": [event]}},
                           "jobs": {"j": {"steps": steps}}})


# -- trees ----------------------------------------------------------------------------------

def _checkout_steps() -> list[dict]:
    """One actions/checkout of each hostile repo into the workspace root (each empties
    it first; the control last, so its tree is what the final step sees)."""
    ordered = [c for c in TREE_CASES if c is not CONTROL] + [CONTROL]
    steps: list[dict] = [{"id": f"c{i}", "uses": "actions/checkout@v4",
                          "continue-on-error": True,
                          "with": {"repository": f"acme/{case.id}"}}
                         for i, case in enumerate(ordered)]
    report = " ".join(f"{case.id}=${{{{ steps.c{i}.outcome }}}}"
                      for i, case in enumerate(ordered))
    steps.append({"run": f'echo "outcomes {report}"\n'
                         "test -L readme && cat docs/up && test -x run.sh"})
    return steps


@pytest.fixture(scope="module")
def tree_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Path]]:
    parent = tmp_path_factory.mktemp("workspace")
    outside, runs_tmp = parent / "outside", parent / "tmp"
    outside.mkdir()
    runs_tmp.mkdir()
    (outside / "marker.txt").write_text(MARKER)
    world = write_world(parent / "world", {
        "acme/app": {".github/workflows/w.yml": _flow("checkout", _checkout_steps())},
        **{f"acme/{case.id}": {"README.md": "placeholder\n"} for case in TREE_CASES},
    }, {"tokens": {TOKEN: {"repos": ["*"]}}})
    hostile = _flow("hostile", [{"run": "echo started"}]).encode()
    for case in TREE_CASES:
        write_tree_commit(world / "acme" / case.id, case.entries, outside, hostile)
    saved = tempfile.tempdir
    tempfile.tempdir = str(runs_tmp)  # run directories (and what escapes them) land here
    try:
        with Emulator(world, port=0, runner_capacity=4) as emu:
            yield emu, parent
    finally:
        tempfile.tempdir = saved


def _assert_nothing_escaped(parent: Path) -> None:
    assert snapshot(parent / "tmp") == {}  # run directories removed, nothing beside them
    assert set(snapshot(parent / "outside")) == {"marker.txt"}
    leaked = [p for p in snapshot(parent) if not p.startswith("world/")
              and Path(p).name in ("escape", "abs-escape", "planted", "x")]
    assert leaked == []


def test_the_job_checkout_refuses_hostile_trees_and_fails_only_that_job(
        tree_world: tuple[Emulator, Path]) -> None:
    emu, parent = tree_world
    runs: dict[str, RunRecord] = {}
    for case in TREE_CASES:
        (runs[case.id],) = emu.runner.dispatch(f"acme/{case.id}", "hostile", {}, "tester")
    assert emu.wait_idle(60)
    for case in TREE_CASES:
        run = runs[case.id]
        notes = [a.message for a in run.jobs[0].annotations]
        log = emu.runner.job_log(run.jobs[0].id)
        if case.refused is None:
            assert run.conclusion == "success" and "started" in log, (case.id, notes)
            continue
        assert run.conclusion == "failure", case.id
        assert any(f"checkout of acme/{case.id} failed" in m and case.refused in m
                   for m in notes), (case.id, notes)
        assert "started" not in log, case.id  # no step ran in a bad workspace
    _assert_nothing_escaped(parent)


def _outcomes(log: str) -> dict[str, str]:
    line = next(x for x in log.splitlines() if x.startswith("outcomes "))
    return dict(pair.split("=", 1) for pair in line.split()[1:])


def test_a_hostile_tree_fails_its_checkout_step_not_the_run(
        tree_world: tuple[Emulator, Path]) -> None:
    emu, parent = tree_world
    (run,) = emu.runner.dispatch("acme/app", "checkout", {}, "tester")
    assert emu.wait_idle(60)
    log = emu.runner.job_log(run.jobs[0].id)
    assert run.conclusion == "success", log  # continue-on-error holds for every case
    outcomes = _outcomes(log)
    assert outcomes == {c.id: "success" if c.refused is None else "failure"
                        for c in TREE_CASES}
    notes = [a.message for a in run.jobs[0].annotations]
    for case in TREE_CASES:
        if case.refused is not None:
            assert any(f"cannot check out acme/{case.id}@" in m and case.refused in m
                       for m in notes), (case.id, notes)
    assert "hi" in log.splitlines()  # the control's link inside the workspace works
    _assert_nothing_escaped(parent)


# -- .git pointers --------------------------------------------------------------------------

def _pointer_repo(world: Path, parent: Path, case: GitDirCase) -> None:
    target_repo = world / ".store" / case.id if case.inside else parent / f"real-{case.id}"
    target_repo.mkdir(parents=True)
    (target_repo / "tako.yml").write_text(f"# {MARKER}\n")
    make_git_repo(target_repo)
    git_dir = target_repo / ".git"
    repo = world / "acme" / case.id
    repo.mkdir(parents=True)
    if case.kind == "gitfile-abs":
        (repo / ".git").write_text(f"gitdir: {git_dir}\n")
    elif case.kind == "gitfile-rel":
        (repo / ".git").write_text(f"gitdir: {os.path.relpath(git_dir, repo)}\n")
    elif case.kind == "gitlink":
        os.symlink(git_dir, repo / ".git")
    elif case.kind == "alternates":  # bare: HEAD, the branch, objects from elsewhere
        (repo / "objects" / "info").mkdir(parents=True)
        (repo / "refs" / "heads").mkdir(parents=True)
        (repo / "HEAD").write_text("ref: refs/heads/main\n")
        (repo / "objects" / "info" / "alternates").write_text(f"{git_dir / 'objects'}\n")
        head = subprocess.run(["git", "-C", str(target_repo), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout
        (repo / "refs" / "heads" / "main").write_text(head)
    else:  # a linked worktree's git dir inside, its common dir (refs, objects) outside
        (repo / ".git" / "objects").mkdir(parents=True)
        (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (repo / ".git" / "commondir").write_text(f"{git_dir}\n")


def test_git_pointers_out_of_the_world_are_not_served(tmp_path: Path) -> None:
    parent = tmp_path
    world = write_world(parent / "world", {"acme/plain": {"README.md": "x\n"}},
                        {"tokens": {TOKEN: {"repos": ["*"]}}})
    for case in GITDIR_CASES:
        _pointer_repo(world, parent, case)
    before = snapshot(parent)
    with Emulator(world, port=0) as emu:
        for case in GITDIR_CASES:
            for path in (f"/repos/acme/{case.id}", f"/repos/acme/{case.id}/contents/tako.yml"):
                reply = call(emu.base_url, "GET", path, TOKEN)
                assert reply.status == case.status, (case.id, path, reply.status)
                if not case.inside:
                    assert MARKER.encode() not in reply.body
        listed = {r["name"] for r in call(emu.base_url, "GET", "/orgs/acme/repos?per_page=100",
                                          TOKEN).json()}
    assert listed == {"plain"} | {c.id for c in GITDIR_CASES if c.inside}
    outside = {p: v for p, v in before.items() if not p.startswith("world/")}
    assert {p: v for p, v in snapshot(parent).items() if not p.startswith("world/")} == outside


# -- multi-line secrets and annotations -----------------------------------------------------

_ANNOTATE = (
    "import os\n"
    "def esc(s, prop=False):\n"
    "    s = s.replace('%', '%25').replace('\\r', '%0D').replace('\\n', '%0A')\n"
    "    return s.replace(':', '%3A').replace(',', '%2C') if prop else s\n"
    "ls = [x.strip() for x in os.environ['S'].replace('\\r', '\\n').split('\\n') if x.strip()]\n"
    "print(f'::error file={esc(ls[0], True)},title={esc(ls[-1], True)}::'\n"
    "      f'{esc(ls[0])} and {esc(ls[-1])}')\n"
)


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, RunRecord]]:
    steps = [{"name": f"secret {case.id}", "env": {"S": f"${{{{ secrets.S_{i} }}}}"},
              "shell": "bash", "run": 'printf "%s\\n" "$S"\n'
                                      f"python3 - <<'EOF'\n{_ANNOTATE}EOF\n"
                                      'printf "%s\\n" "$S" >> "$GITHUB_STEP_SUMMARY"'}
             for i, case in enumerate(SECRET_CASES)]
    world = write_world(tmp_path_factory.mktemp("secrets") / "world",
                        {"acme/app": {".github/workflows/w.yml": _flow("go", steps)}},
                        {"tokens": {TOKEN: {"repos": ["*"]}},
                         "secrets": {f"S_{i}": c.value for i, c in enumerate(SECRET_CASES)}})
    with Emulator(world, port=0) as emu:
        (run,) = emu.runner.dispatch("acme/app", "go", {}, "tester")
        assert emu.wait_idle(60)
        yield emu, run


def _seen(emu: Emulator, run: RunRecord) -> dict[str, str]:
    """Everything a user can read about the run, by where."""
    job = run.jobs[0]
    base = "/repos/acme/app/actions"
    archive = zipfile.ZipFile(io.BytesIO(call(emu.base_url, "GET", f"{base}/runs/{run.id}/logs",
                                              TOKEN).body))
    notes = call(emu.base_url, "GET", f"/repos/acme/app/check-runs/{job.id}/annotations",
                 TOKEN).json()
    return {
        "log download": call(emu.base_url, "GET", f"{base}/jobs/{job.id}/logs",
                             TOKEN).body.decode(),
        "logs zip": "\n".join(archive.read(n).decode() for n in archive.namelist()),
        "run page": html.unescape(call(emu.base_url, "GET",
                                       f"/acme/app/actions/runs/{run.id}").body.decode()),
        "annotations": json.dumps([[n["path"], n["title"], n["message"]] for n in notes],
                                  ensure_ascii=False),
        "summary": emu.runner.job_summary(job.id),
    }


@pytest.mark.parametrize("case", SECRET_CASES, ids=[c.id for c in SECRET_CASES])
def test_each_line_of_a_multi_line_secret_is_masked_everywhere(
        secret_run: tuple[Emulator, RunRecord], case: object) -> None:
    emu, run = secret_run
    seen = _seen(emu, run)
    for where, text in seen.items():
        for line in case.lines:  # type: ignore[attr-defined]
            assert json.dumps(line)[1:-1] not in text and line not in text, (where, line)
    assert run.conclusion == "success"


def test_annotation_file_title_and_message_are_masked(
        secret_run: tuple[Emulator, RunRecord]) -> None:
    emu, run = secret_run
    notes = call(emu.base_url, "GET", f"/repos/acme/app/check-runs/{run.jobs[0].id}/annotations",
                 TOKEN).json()
    assert [(n["path"], n["title"], n["message"]) for n in notes] == [
        ("***", "***", "*** and ***")] * len(SECRET_CASES)
    assert all(n["blob_href"].endswith("/***") for n in notes)
