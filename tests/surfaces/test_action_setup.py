"""The action's install decisions (tako_gha/surfaces/action_setup.py) and action.yml's
venv and install steps, run in bash as the runner runs them.

The venvs here are made without pip: a step that tried to install anything would
fail, so a green "already usable" case proves nothing was installed or fetched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

from tako_gha.surfaces import action_setup as setup

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tako_gha" / "surfaces" / "action_setup.py"


def _bare_venv(where: Path, *, sees: Path | None = None) -> Path:
    """A venv without pip; with ``sees``, a .pth file puts that folder on its sys.path."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = setup.venv_python(where)
    if sees is not None:
        purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                                  "print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        Path(purelib, "tako-test.pth").write_text(f"{sees}\n")
    return python


def _fake_action(tmp_path: Path, version: str) -> Path:
    action = tmp_path / "action"
    (action / "tako_gha").mkdir(parents=True)
    (action / "requirements").mkdir()
    (action / "pyproject.toml").write_text(f'[project]\nname = "tako-gha"\nversion = "{version}"\n')
    (action / "requirements" / "action.txt").write_text("# lock\n")
    (action / "tako_gha" / "__init__.py").write_text('__version__ = "x"\n')
    return action


def test_version_comes_from_the_checkouts_pyproject(tmp_path: Path) -> None:
    assert setup.project_version() == "0.1.0"
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(SystemExit, match=r"pyproject\.toml: no version"):
        setup.project_version(tmp_path)


def test_source_hash_follows_the_package_and_ignores_caches(tmp_path: Path) -> None:
    action = _fake_action(tmp_path, "1.0.0")
    first = setup.source_hash(action)
    (action / "tako_gha" / "__pycache__").mkdir()
    (action / "tako_gha" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (action / "tako_gha" / "cache.pyc").write_bytes(b"\0")
    assert setup.source_hash(action) == first
    (action / "tako_gha" / "core.py").write_text("X = 1\n")
    second = setup.source_hash(action)
    assert second != first
    (action / "requirements" / "action.txt").write_text("# another lock\n")
    assert setup.source_hash(action) not in (first, second)


def test_cache_key_names_os_python_lock_and_source(tmp_path: Path) -> None:
    action = _fake_action(tmp_path, "1.0.0")
    key, restore = setup.cache_key(action)
    assert key.startswith(restore) and restore.endswith("-")
    assert sys.platform in restore
    assert f"{sys.implementation.name}{sys.version_info.major}.{sys.version_info.minor}." \
        in restore
    assert setup.lock_hash(action)[:24] in restore
    assert key.endswith(setup.source_hash(action)[:24])
    (action / "tako_gha" / "core.py").write_text("X = 2\n")
    key2, restore2 = setup.cache_key(action)
    assert (key2 != key, restore2) == (True, restore)  # a new source, the same deps


def test_this_interpreter_serves_this_checkout_but_not_another_version(tmp_path: Path) -> None:
    assert setup.serves(sys.executable)  # the test venv imports this very checkout
    assert setup.serves(sys.executable, _fake_action(tmp_path / "same", "0.1.0"))
    assert not setup.serves(sys.executable, _fake_action(tmp_path / "other", "9.9.9"))
    assert not setup.serves(tmp_path / "no-such-python", ROOT)


def _without_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe's subprocess inherits this environment: a caller's PYTHONPATH (e.g. a
    worktree's) would let a bare venv import tako_gha and so look like an install."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


def test_a_bare_interpreter_does_not_serve(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _without_pythonpath(monkeypatch)
    python = _bare_venv(tmp_path / "bare")
    assert not setup.serves(python)


def test_a_checkout_in_the_working_directory_is_not_an_install(tmp_path: Path) -> None:
    # the job's workspace may be a tako-gha checkout: `python -c` there would import it
    python = _bare_venv(tmp_path / "bare")
    proc = subprocess.run([str(python), str(SCRIPT), "plan"], cwd=ROOT, capture_output=True,
                          text=True, env={**_clean_env(), "RUNNER_TEMP": str(tmp_path)},
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "ready=\n" in proc.stdout + "\n"


def test_venv_state_walks_empty_package_ready(tmp_path: Path) -> None:
    where = tmp_path / "tako-gha-venv"
    assert setup.venv_state(where) == "empty"
    _bare_venv(where, sees=ROOT)
    assert setup.venv_state(where) == "empty"  # no lock stamp: dependencies unknown
    setup.write_stamp(where, "lock")
    assert setup.venv_state(where) == "package"
    setup.write_stamp(where, "source")
    assert setup.venv_state(where) == "ready"
    (where / setup.LOCK_STAMP).write_text("0" * 64 + "\n")
    assert setup.venv_state(where) == "empty"  # another lock: build it again
    with pytest.raises(SystemExit, match="expected lock or source"):
        setup.write_stamp(where, "both")


def test_stamps_alone_do_not_make_a_venv_ready(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _without_pythonpath(monkeypatch)
    where = tmp_path / "tako-gha-venv"
    _bare_venv(where)  # cannot import tako_gha (e.g. a half-restored cache)
    setup.write_stamp(where, "lock")
    setup.write_stamp(where, "source")
    assert setup.venv_state(where) == "package"


def test_plan_prefers_an_interpreter_that_already_serves(tmp_path: Path) -> None:
    out = setup.plan({"RUNNER_TEMP": str(tmp_path)})
    assert out["ready"] == sys.executable
    assert out["venv"] == str(tmp_path / "tako-gha-venv")
    assert out["python"] == str(setup.venv_python(tmp_path / "tako-gha-venv"))
    assert out["key"].startswith(out["restore-key"])
    with pytest.raises(SystemExit, match="RUNNER_TEMP is not set"):
        setup.plan({})


def test_main_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert setup.main([]) == 2
    assert setup.main(["stamp"]) == 2
    assert "usage: action_setup.py" in capsys.readouterr().err


def test_no_module_beside_the_script_shadows_the_standard_library() -> None:
    # run by path, the script's folder is first on sys.path
    names = {p.stem for p in SCRIPT.parent.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert names & set(sys.stdlib_module_names) == set()


# ---------------------------------------------------------------- action.yml's steps


def _clean_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "SYSTEMROOT", "TMPDIR", "LANG")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _steps() -> dict[str, dict[str, Any]]:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return {s["id"]: s for s in action["runs"]["steps"]}


def _run_step(step: dict[str, Any], outputs: dict[str, dict[str, str]], temp: Path,
              **extra: str) -> dict[str, str]:
    """One bash step as the runner runs it: its env with steps.*.outputs expanded."""
    out = temp / f"output-{step['id']}"
    out.write_text("")
    env = {**_clean_env(), "RUNNER_TEMP": str(temp), "GITHUB_ACTION_PATH": str(ROOT),
           "GITHUB_OUTPUT": str(out), **extra}
    for name, value in step.get("env", {}).items():
        env[name] = re.sub(r"\$\{\{ steps\.(\w+)\.outputs\.([\w-]+) \}\}",
                           lambda m: outputs[m.group(1)].get(m.group(2), ""), value)
    proc = subprocess.run([shutil.which("bash") or "bash", "-e", "-c", step["run"]], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from tako_gha.surfaces.workflow_commands import parse_output_file

    return parse_output_file(out.read_text())


def _plan_and_install(base: Path, temp: Path) -> dict[str, dict[str, str]]:
    steps = _steps()
    outputs: dict[str, dict[str, str]] = {"python": {"python-path": str(base)}}
    outputs["venv"] = _run_step(steps["venv"], outputs, temp)
    outputs["install"] = _run_step(steps["install"], outputs, temp)
    return outputs


def test_steps_use_setup_pythons_interpreter_when_it_runs_this_tako(tmp_path: Path) -> None:
    outputs = _plan_and_install(Path(sys.executable), tmp_path)
    assert outputs["venv"]["ready"] == sys.executable
    assert outputs["install"] == {"python": sys.executable}
    assert not (tmp_path / "tako-gha-venv").exists()  # nothing made, nothing fetched


def test_steps_use_a_restored_venv_without_installing(tmp_path: Path) -> None:
    # a restored cache: a venv that imports this checkout, both stamps matching; it
    # has no pip, so any install would fail the step
    where = tmp_path / "tako-gha-venv"
    python = _bare_venv(where, sees=ROOT)
    setup.write_stamp(where, "lock")
    setup.write_stamp(where, "source")
    base = _bare_venv(tmp_path / "base")  # setup-python's: no tako-gha
    outputs = _plan_and_install(base, tmp_path)
    assert outputs["venv"]["ready"] == str(python)
    assert outputs["install"] == {"python": str(python)}


def test_install_step_rebuilds_a_venv_of_another_lock(tmp_path: Path) -> None:
    # "empty" state: the step makes a new venv and installs the lock into it. Shown up
    # to pip's refusal offline: point pip at nothing so it fails fast and locally.
    where = tmp_path / "tako-gha-venv"
    _bare_venv(where, sees=ROOT)
    (where / setup.LOCK_STAMP).write_text("0" * 64 + "\n")
    base = _bare_venv(tmp_path / "base")
    steps = _steps()
    outputs: dict[str, dict[str, str]] = {"python": {"python-path": str(base)}}
    outputs["venv"] = _run_step(steps["venv"], outputs, tmp_path)
    assert outputs["venv"]["ready"] == ""
    with pytest.raises(AssertionError, match="No matching distribution found for attrs=="):
        _run_step(steps["install"], outputs, tmp_path, PIP_CONFIG_FILE=os.devnull,
                  PIP_NO_INDEX="1")
    assert not (where / setup.LOCK_STAMP).exists()  # --clear: the old venv is gone


@pytest.mark.skipif(sysconfig.get_platform().startswith("win"), reason="bash paths")
def test_script_runs_by_path_before_tako_is_installed(tmp_path: Path) -> None:
    base = _bare_venv(tmp_path / "base")
    env = {**_clean_env(), "RUNNER_TEMP": str(tmp_path)}
    proc = subprocess.run([str(base), str(SCRIPT), "venv-state"], env=env, capture_output=True,
                          text=True, check=False)
    assert (proc.returncode, proc.stdout) == (0, "empty\n"), proc.stderr
    proc = subprocess.run([str(base), str(SCRIPT), "plan"], env={**_clean_env()},
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "RUNNER_TEMP is not set" in proc.stderr
