"""How fast is the pre-push hook? (run: python benchmarks/bench_hook.py)

Builds a repository with a bare remote and a realistic tako.yml (5 subscriptions with
ranges, CEL filters and input templates), then measures, over N runs each:

- in-process lint of the pushed blob (warm: imports done, CEL compiled once);
- the hook as git runs it (`python -m tako_gha.surfaces.hook pre-push`), a fresh
  process per push, for a push that changes tako.yml and one that does not;
- the same through the CLI (`tako-gha hook pre-push`), which imports every command.

Reports wall time and CPU (user+sys) per run; CPU is the steadier figure on a busy
machine.

    python benchmarks/bench_hook.py [--runs 10] [--write]
    python benchmarks/bench_hook.py --quick      # 2 runs each: seconds

``--write`` replaces the "Hook" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import results

from tako_gha.surfaces.hook import PushedRef, check_push

SUBS = "\n".join(f"""    - artifact: my-org/lib-{i}
      events: [library_built]
      schema_version: "^{i + 1}.0.0"
      filters:
        - event.payload.build_status == "success"
        - semver.major(event.payload.version) >= {i + 1}
      inputs:
        version: "{{{{ .event.payload.version }}}}\"""" for i in range(5))
TAKO = f"version: 1\nevents:\n  subscriptions:\n{SUBS}\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def timed(cmd: list[str], stdin: str, cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, cwd=cwd, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


Samples = list[tuple[float, float]]  # (wall, cpu) per run


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def cell(samples: Samples) -> tuple[str, str]:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return f"{_ms(walls)} ({max(walls) * 1000:.0f})", _ms(cpus)


def build_repo(tmp: Path) -> tuple[Path, str, str, str]:
    """A clone with a bare remote: (work tree, base, a commit changing tako.yml, a
    commit leaving it alone)."""
    remote, work = tmp / "remote.git", tmp / "work"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp, "clone", "-q", str(remote), str(work))
    git(work, "config", "user.email", "b@example.com")
    git(work, "config", "user.name", "bench")
    (work / "tako.yml").write_text(TAKO)
    git(work, "add", "tako.yml")
    git(work, "commit", "-q", "-m", "base")
    base = git(work, "rev-parse", "HEAD")
    (work / "tako.yml").write_text(TAKO + "# changed\n")
    git(work, "commit", "-q", "-am", "change tako.yml")
    changed = git(work, "rev-parse", "HEAD")
    (work / "README").write_text("x")
    git(work, "add", "README")
    git(work, "commit", "-q", "-m", "unrelated")
    return work, base, changed, git(work, "rev-parse", "HEAD")


def measure(runs: int) -> dict[str, Samples]:
    tmp = Path(tempfile.mkdtemp(prefix="tako-bench-hook-"))
    work, base, changed, unrelated = build_repo(tmp)
    new_branch = f"refs/heads/main {changed} refs/heads/main {'0' * 40}\n"
    untouched = f"refs/heads/main {unrelated} refs/heads/main {changed}\n"
    ref = PushedRef("refs/heads/main", changed, "refs/heads/main", base)
    check_push([ref], git_dir=str(work))  # warm up
    warm = []
    for _ in range(runs):
        result = check_push([ref], git_dir=str(work))
        warm.append((result.seconds, result.seconds))
    module = [sys.executable, "-m", "tako_gha.surfaces.hook", "pre-push", "origin", "x"]
    cli = [str(Path(sys.executable).parent / "tako-gha"), "hook", "pre-push", "origin", "x"]
    return {
        "lint of the pushed blob, in process (warm)": warm,
        "hook process, push changes tako.yml": [timed(module, new_branch, work)
                                                for _ in range(runs)],
        "hook process, push leaves tako.yml alone": [timed(module, untouched, work)
                                                     for _ in range(runs)],
        "CLI `tako-gha hook pre-push`, changes tako.yml": [timed(cli, new_branch, work)
                                                           for _ in range(runs)],
        "`python -c pass` (interpreter start-up)": [
            timed([sys.executable, "-c", "pass"], "", work) for _ in range(runs)],
    }


def reading(figures: dict[str, Samples]) -> str:
    med = {k: statistics.median(w for w, _ in v) * 1000 for k, v in figures.items()}
    lint, changes, alone, cli, start = med.values()
    return (f"Reading: the lint itself took {lint:.0f} ms; a hook process took {changes:.0f} ms "
            f"when the push changes tako.yml and {alone:.0f} ms when it does not (that push "
            f"skips the config stack), of which {start:.0f} ms is the interpreter starting; the "
            f"rest, {max(changes - start - lint, 0):.0f} ms, is imports and git. Through the "
            f"CLI, which imports every command, the same check took {cli:.0f} ms.")


def main(argv: list[str] | None = None) -> dict[str, Samples]:
    run = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "10")))
    parser.add_argument("--quick", action="store_true", help="2 runs each: seconds")
    results.add_arguments(parser)
    args = parser.parse_args(argv)
    results.check_quick(args)
    if args.quick:
        args.runs = 2
    figures = measure(args.runs)
    table = "\n".join([
        "| measure | wall median (max) | CPU median |", "|---|---:|---:|",
        *(f"| {name} | {wall} | {cpu} |" for name, (wall, cpu) in
          ((k, cell(v)) for k, v in figures.items()))])
    print(table + "\n\n" + reading(figures))
    if args.write:
        intro = (f"The pre-push hook on a repository with a bare remote and a tako.yml of 5 "
                 f"subscriptions (10 CEL filters, 5 ranges, 5 templates), {args.runs} runs "
                 "each; no token, so no plan is printed. CPU is user + system time of the "
                 "process (the steadier figure on a shared machine).")
        run.write("Hook", f"{intro}\n\n{table}\n\n{reading(figures)}", args.results)
    return figures


if __name__ == "__main__":
    main()
