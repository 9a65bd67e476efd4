"""How long does the action take to start? (run: python benchmarks/bench_action_install.py)

Runs action.yml's own step scripts in bash, as the runner does after setup-python
(the `venv` plan, the `install` step, then the `tako` entry), with a bare interpreter
as setup-python's (no tako-gha in it), and times from the start of the first step to
the first request the entry sends to a loopback API server:

- cold: no venv (a runner without a cache hit): the venv is made, the lock installed
  with --require-hashes, then tako-gha itself; once with pip's cache empty (every
  wheel downloaded, as on a fresh runner) and once with it filled (no download: the
  floor a fast index would approach);
- package: a venv restored under the cache's restore key (same lock, another tako-gha
  source): only tako-gha itself is installed again;
- warm: the venv restored from the cache as it was saved: nothing installed.

The cache's own download and extraction happen in actions/cache before these steps
and are not measured here (the archive's size is reported). Also reports the venv's
size and its number of installed distributions.

    python benchmarks/bench_action_install.py [--runs 5] [--write]
    python benchmarks/bench_action_install.py --quick

`--quick` (the test suite's smoke; `--smoke` is the same) runs only the warm path, on a
venv that sees this checkout through a .pth file: no network, a few seconds. The full
run downloads the lock's wheels from the package index (cold path). `--write` replaces
the "Action install" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
sys.path.insert(0, str(ROOT / "benchmarks"))

import results  # noqa: E402

from tako_gha.core.action_contract import INPUT_DEFAULTS, env_name  # noqa: E402
from tako_gha.surfaces import action_setup  # noqa: E402
from tako_gha.surfaces.workflow_commands import parse_output_file  # noqa: E402

STEP = re.compile(r"\$\{\{ steps\.(\w+)\.outputs\.([\w-]+) \}\}")


class _FirstCall(http.server.BaseHTTPRequestHandler):
    """Records when the first request arrives; answers 401 so the entry stops."""

    first: float | None = None

    def _answer(self) -> None:
        if _FirstCall.first is None:
            _FirstCall.first = time.perf_counter()
        body = b'{"message": "Bad credentials"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def api_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FirstCall)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def action_steps() -> dict[str, dict[str, Any]]:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    return {s["id"]: s for s in action["runs"]["steps"]}


def bare_python(where: Path) -> Path:
    """setup-python's interpreter as the action sees it: no tako-gha importable."""
    venv.EnvBuilder(with_pip=False).create(where)
    return action_setup.venv_python(where)


def run_step(step: dict[str, Any], outputs: dict[str, dict[str, str]], env: dict[str, str],
             temp: Path) -> dict[str, str]:
    out = temp / f"output-{step['id']}"
    out.write_text("")
    step_env = {**env, "GITHUB_OUTPUT": str(out)}
    for name, value in step.get("env", {}).items():
        if name.startswith("TAKO_INPUT_"):
            continue  # the inputs are given in env already
        step_env[name] = STEP.sub(lambda m: outputs[m.group(1)].get(m.group(2), ""), value)
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=step_env,
                          capture_output=True, text=True, timeout=900, check=False)
    if step["id"] != "tako" and proc.returncode != 0:
        raise SystemExit(f"step {step['id']} failed:\n{proc.stdout}{proc.stderr}")
    return parse_output_file(out.read_text())


def start_to_first_call(base: Path, temp: Path, pip_cache: Path | None = None
                        ) -> tuple[float, str]:
    """(seconds from the first step's start to the entry's first request, venv state).
    The CPU time of the steps' processes is added to CPU_SECONDS."""
    steps = action_steps()
    state = action_setup.venv_state(temp / action_setup.VENV_NAME)
    with api_server() as url:
        inputs = {**INPUT_DEFAULTS, "event_type": "library_built", "token": "t-bench",
                  "api_url": url, "org": "octo"}
        env = {"PATH": os.environ["PATH"], "HOME": str(temp), "RUNNER_TEMP": str(temp),
               "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_REPOSITORY": "octo/app",
               "GITHUB_REPOSITORY_OWNER": "octo", "GITHUB_API_URL": url,
               "GITHUB_STEP_SUMMARY": str(temp / "summary.md"),
               "PIP_CACHE_DIR": str(pip_cache or temp / "pip-cache"),
               **{env_name(k): v for k, v in inputs.items()}}
        outputs: dict[str, dict[str, str]] = {"python": {"python-path": str(base)}}
        _FirstCall.first = None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        outputs["venv"] = run_step(steps["venv"], outputs, env, temp)
        outputs["install"] = run_step(steps["install"], outputs, env, temp)
        run_step(steps["tako"], outputs, env, temp)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if _FirstCall.first is None:
            raise SystemExit("the entry sent no request")
        CPU_SECONDS.append((after.ru_utime - before.ru_utime)
                           + (after.ru_stime - before.ru_stime))
        return _FirstCall.first - start, state


CPU_SECONDS: list[float] = []  # per measurement: user + sys of the steps' processes


def venv_figures(where: Path) -> tuple[float, int]:
    size = sum(p.stat().st_size for p in where.rglob("*") if p.is_file() and not p.is_symlink())
    dists = len(list(where.glob("lib/python*/site-packages/*.dist-info")))
    dists += len(list(where.glob("Lib/site-packages/*.dist-info")))  # Windows layout
    return size / 1e6, dists


def archive_size(where: Path, temp: Path) -> float:
    """The venv as actions/cache would store it (tar, compressed; gzip here)."""
    target = temp / "venv.tgz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(where, arcname=where.name)
    size = target.stat().st_size / 1e6
    target.unlink()
    return size


def fabricated_venv(where: Path) -> None:
    """A venv that imports this checkout (its dependencies from this interpreter), with
    both stamps: a restored cache, offline."""
    python = bare_python(where)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    import sysconfig  # the dependencies: this interpreter's own site-packages

    Path(purelib, "tako-checkout.pth").write_text(
        f"{ROOT}\n{sysconfig.get_paths()['purelib']}\n")
    action_setup.write_stamp(where, "lock")
    action_setup.write_stamp(where, "source")


def smoke() -> float:
    with tempfile.TemporaryDirectory(prefix="tako-bench-install-") as tmp:
        temp = Path(tmp)
        base = bare_python(temp / "base")
        fabricated_venv(temp / action_setup.VENV_NAME)
        seconds, state = start_to_first_call(base, temp)
        assert state == "ready", state
        print(f"warm (smoke: a fabricated venv), step start to first API call: {seconds:.2f} s"
              f" (cpu {CPU_SECONDS[-1]:.2f} s)")
        return seconds


GOAL_SECONDS = 3.0  # warm path: step start to the first API call


def full(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tako-bench-install-") as tmp:
        temp = Path(tmp)
        base = bare_python(temp / "base")
        where = temp / action_setup.VENV_NAME
        CPU_SECONDS.clear()
        cold, state = start_to_first_call(base, temp, temp / "pip-cache")
        assert state == "empty", state
        shutil.rmtree(where)
        cold_cached, state = start_to_first_call(base, temp, temp / "pip-cache")
        assert state == "empty", state
        cold_cpu = CPU_SECONDS[-2:]
        size, dists = venv_figures(where)
        archived = archive_size(where, temp)
        saved = temp / "saved"
        shutil.copytree(where, saved, symlinks=True)
        warm, package = [], []
        CPU_SECONDS.clear()
        for _ in range(runs):
            shutil.rmtree(where)
            shutil.copytree(saved, where, symlinks=True)  # the cache restored
            seconds, state = start_to_first_call(base, temp)
            assert state == "ready", state
            warm.append(seconds)
        warm_cpu = list(CPU_SECONDS)
        CPU_SECONDS.clear()
        for _ in range(max(1, runs // 2)):
            (where / action_setup.SOURCE_STAMP).write_text("another source\n")
            seconds, state = start_to_first_call(base, temp)
            assert state == "package", state
            package.append(seconds)
        package_cpu = list(CPU_SECONDS)
    return {"cold": (cold, cold_cpu[0]), "cold_cached": (cold_cached, cold_cpu[1]),
            "package": package, "package_cpu": package_cpu, "warm": warm,
            "warm_cpu": warm_cpu, "size": size, "dists": dists, "archived": archived}


def _spread(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f} s median, max {max(values):.2f} "
            f"({len(values)} runs)")


def report(f: dict[str, Any]) -> str:
    warm = statistics.median(f["warm"])
    met = "met" if warm <= GOAL_SECONDS else "NOT met"
    return "\n".join([
        "| install | step start → first API call (wall) | CPU of the steps |",
        "|---|---:|---:|",
        f"| cold, pip cache empty: venv + lock (`--require-hashes`) + tako-gha | "
        f"{f['cold'][0]:.1f} s | {f['cold'][1]:.1f} s |",
        f"| cold, pip cache filled (no download) | {f['cold_cached'][0]:.1f} s | "
        f"{f['cold_cached'][1]:.1f} s |",
        f"| restore-key hit (same lock, another tako-gha source): tako-gha only | "
        f"{_spread(f['package'])} | {statistics.median(f['package_cpu']):.2f} s |",
        f"| warm: venv restored from the cache, nothing installed | {_spread(f['warm'])} | "
        f"{statistics.median(f['warm_cpu']):.2f} s |",
        "",
        "| venv | value |",
        "|---|---|",
        f"| size | {f['size']:.0f} MB |",
        f"| installed distributions | {f['dists']} |",
        f"| as a tar.gz (roughly what the cache stores) | {f['archived']:.0f} MB |",
        "",
        f"Reading (computed from the tables): the warm path took {warm:.2f} s (median) from "
        f"the first step's start to the first API call: the goal (≤ {GOAL_SECONDS:g} s) is "
        f"{met}. A cold install took {f['cold'][0]:.1f} s with downloads and "
        f"{f['cold_cached'][0]:.1f} s from a filled pip cache; a new tako-gha with the same "
        f"lock paid {statistics.median(f['package']):.1f} s. Cold wall times move with the "
        "machine's load and the network; the CPU column is the steadier figure.",
    ])


def main(argv: list[str] | None = None) -> None:
    run = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", "--smoke", action="store_true",
                        help="warm path only, offline")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    results.add_arguments(parser)
    args = parser.parse_args(argv)
    results.check_quick(args)
    if args.quick:
        seconds = smoke()
        if args.write:
            met = "met" if seconds <= GOAL_SECONDS else "NOT met"
            run.write("Action install", f"Warm path only, on a fabricated venv (`--quick`): "
                      f"{seconds:.2f} s from step start to the first API call.\n\n"
                      f"Reading: the warm-path goal (≤ {GOAL_SECONDS:g} s) is {met}.",
                      args.results)
        return
    figures = full(args.runs)
    text = report(figures)
    print(text)
    if args.write:
        intro = ("action.yml's own `venv`, `install` and `tako` step scripts run in bash as "
                 "the runner runs them after setup-python, with a bare interpreter as "
                 "setup-python's (no tako-gha in it); the clock runs from the start of the "
                 "first step to the first request the entry sends to a loopback API server. "
                 f"actions/cache's own download and extraction (before these steps) are not "
                 f"included. Lock: `{action_setup.LOCK}`.")
        run.write("Action install", f"{intro}\n\n{text}", args.results)


if __name__ == "__main__":
    main()
