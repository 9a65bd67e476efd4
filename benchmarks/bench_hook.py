"""How fast is the pre-push hook? (run: python benchmarks/bench_hook.py)

Builds a repository with a bare remote and a realistic tako.yml (5 subscriptions with
ranges, CEL filters and input templates), then measures, over N runs each:

- in-process lint of the pushed blob (warm: imports done, CEL compiled once);
- the hook as git runs it (`python -m tako_gha.surfaces.hook pre-push`), a fresh
  process per push, for a push that changes tako.yml and one that does not;
- the same through the CLI (`tako-gha hook pre-push`), which imports every command.

Reports wall time and CPU (user+sys) per run; CPU is the steadier figure on a busy
machine.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tako_gha.surfaces.hook import PushedRef, check_push

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
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


def summary(label: str, samples: list[tuple[float, float]]) -> str:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return (f"{label:<44} wall median {statistics.median(walls) * 1000:6.0f} ms "
            f"(max {max(walls) * 1000:5.0f})   cpu median {statistics.median(cpus) * 1000:6.0f} ms")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tako-bench-hook-"))
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
    unrelated = git(work, "rev-parse", "HEAD")

    new_branch = f"refs/heads/main {changed} refs/heads/main {'0' * 40}\n"
    untouched = f"refs/heads/main {unrelated} refs/heads/main {changed}\n"
    ref = PushedRef("refs/heads/main", changed, "refs/heads/main", base)
    check_push([ref], git_dir=str(work))  # warm up
    warm = []
    for _ in range(RUNS):
        result = check_push([ref], git_dir=str(work))
        warm.append((result.seconds, result.seconds))
    module = [sys.executable, "-m", "tako_gha.surfaces.hook", "pre-push", "origin", "x"]
    cli = [str(Path(sys.executable).parent / "tako-gha"), "hook", "pre-push", "origin", "x"]
    print(f"pre-push hook, {RUNS} runs each, tako.yml with 5 subscriptions "
          f"(10 CEL filters, 5 ranges, 5 templates)")
    print(summary("lint in process (warm)", warm))
    print(summary("hook process, push changes tako.yml", [timed(module, new_branch, work)
                                                          for _ in range(RUNS)]))
    print(summary("hook process, push leaves tako.yml alone", [timed(module, untouched, work)
                                                               for _ in range(RUNS)]))
    print(summary("CLI `tako-gha hook pre-push`, changes tako.yml", [
        timed(cli, new_branch, work) for _ in range(RUNS)]))
    print(summary("python -c pass (interpreter start-up)", [
        timed([sys.executable, "-c", "pass"], "", work) for _ in range(RUNS)]))


if __name__ == "__main__":
    main()
