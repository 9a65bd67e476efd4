"""The one writer of benchmarks/RESULTS.md, shared by every benchmark script.

RESULTS.md holds only what the scripts print: each ``## Section`` is replaced whole by
the script that owns it (``SECTIONS``), headed by the exact command that wrote it, the
commit it ran at (marked when the work tree had uncommitted changes, so a reader knows
the figures may not belong to that commit) and the machine as read from the machine
(cores, CPU model, memory, load average at the start and at the end: the machine is
shared, and wall times move with its load). Nothing in a section is typed by hand;
a script that wants to say what its figures mean computes the sentence from them.

Every script takes ``--write`` (replace its section) and ``--results FILE`` (write
that file instead: the test suite's smoke runs write a temporary copy). A ``--quick``
run measures toy sizes: it may only write to another file than RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
TITLE = "# Benchmark results\n"

# Section name -> the script that writes it, in the order they appear in the file.
SECTIONS: dict[str, str] = {
    "Matching": "bench_matching.py",
    "Discovery": "bench_discovery.py",
    "Fan-out": "bench_fanout.py",
    "Emulator": "bench_emulator.py",
    "Hook": "bench_hook.py",
    "Crash matrix": "crash_matrix.py",
    "Action install": "bench_action_install.py",
    "Hostile filters": "bench_hostile.py",
    "JSON readers": "bench_json.py",
    "GraphQL front half": "bench_graphql.py",
    "Waiting at scale": "bench_wait.py",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--write`` and ``--results``, the same in every script."""
    parser.add_argument("--write", action="store_true",
                        help="replace this script's section of benchmarks/RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS, metavar="FILE",
                        help="the results file --write replaces the section in "
                             "(default: benchmarks/RESULTS.md)")


def suite_module(relative: str) -> ModuleType:
    """A module of the test suite by its path from the repository root (tests/ is not
    a package): the corpora benchmarks measure are the ones the tests assert."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def add_code_arguments(parser: argparse.ArgumentParser, quick_help: str) -> None:
    """``--code DIR``/``--label`` (measure another checkout's tako_gha, e.g. a base
    commit, under a name), ``--repeat`` and ``--quick``: the same in every script that
    compares code before and after a change; and ``--write``/``--results``."""
    parser.add_argument("--code", type=Path, help="a directory whose tako_gha is measured")
    parser.add_argument("--label", default="", help="what the code is (a commit)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    add_arguments(parser)


def use_code(args: argparse.Namespace) -> str:
    """Put ``--code``'s tako_gha ahead of the installed one (call before importing it);
    returns how the write-up names the code measured. Checks ``--quick`` first."""
    check_quick(args)
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
        return f"{args.label or args.code}"
    return "this checkout"


def check_quick(args: argparse.Namespace) -> None:
    """A ``--quick`` run's toy figures never land in RESULTS.md itself."""
    if getattr(args, "quick", False) and args.write and _same(args.results, RESULTS):
        raise SystemExit("--quick figures are not results: with --quick, --write needs "
                         "--results FILE (another file than benchmarks/RESULTS.md)")


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _git(*args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def commit() -> str:
    """``git rev-parse --short HEAD``, and ``+dirty`` when a tracked file other than
    RESULTS.md differs from it (RESULTS.md itself changes as sections are written)."""
    head = _git("rev-parse", "--short", "HEAD") or "unknown commit"
    changed = _git("diff", "--name-only", "HEAD").splitlines()  # staged or not
    dirty = [p for p in changed if p.strip() and p != "benchmarks/RESULTS.md"]
    return head + ("+dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU model unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB RAM"
    except (OSError, ValueError):
        pass
    return "RAM unknown"


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # not on every platform
        return float("nan")


@dataclass
class Run:
    """One run of a benchmark script: what was run, when, on what."""

    script: str  # file name under benchmarks/
    argv: list[str]
    started: float = field(default_factory=time.time)
    load_at_start: float = field(default_factory=load_average)

    @classmethod
    def begin(cls, script: str, argv: list[str] | None = None) -> Run:
        return cls(Path(script).name, list(sys.argv[1:] if argv is None else argv))

    def command(self) -> str:
        return shlex.join(["python", f"benchmarks/{self.script}", *self.argv])

    def machine(self) -> str:
        return (f"{platform.python_implementation()} {platform.python_version()} on "
                f"{platform.machine()}, {os.cpu_count()} cores ({_cpu_model()}), "
                f"{_memory()}; 1-minute load average {self.load_at_start:.1f} at the start, "
                f"{load_average():.1f} at the end")

    def header(self) -> str:
        began = datetime.fromtimestamp(self.started, timezone.utc)
        ended = datetime.now(timezone.utc)
        if f"{began:%Y-%m-%d %H:%M}" == f"{ended:%Y-%m-%d %H:%M}":
            span = f"{began:%Y-%m-%d %H:%M} UTC"
        elif began.date() == ended.date():
            span = f"{began:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC"
        else:
            span = f"{began:%Y-%m-%d %H:%M} – {ended:%Y-%m-%d %H:%M} UTC"
        return (f"Written by `{self.command()}` at commit {commit()}, {span}.\n"
                f"Machine: {self.machine()}.")

    def write(self, section: str, body: str, path: Path = RESULTS) -> Path:
        """Replace ``## section`` of ``path`` (headed by this run) with ``body``."""
        if section not in SECTIONS:
            raise ValueError(f"unknown RESULTS.md section {section!r}")
        text = f"## {section}\n\n{self.header()}\n\n{body.strip()}\n"
        replace_section(path, section, text)
        print(f"wrote the {section!r} section of {path}", file=sys.stderr)
        return path


def replace_section(path: Path, section: str, text: str) -> None:
    """Swap ``## section`` (up to the next ``## `` heading) for ``text``; a section the
    file lacks goes where ``SECTIONS`` orders it. Other sections stay byte for byte."""
    old = path.read_text(encoding="utf-8") if path.exists() else TITLE
    parts = _split(old)
    parts[section] = text.rstrip("\n") + "\n"
    order = list(SECTIONS)
    names = [n for n in parts if n]
    if section not in _split(old):  # place a new section by the canonical order
        names.remove(section)
        later = [n for n in names if n in order and order.index(n) > order.index(section)]
        names.insert(names.index(later[0]) if later else len(names), section)
    chunks = [parts.get("", TITLE).rstrip("\n") + "\n"] + [parts[n] for n in names]
    path.write_text("\n".join(chunks), encoding="utf-8")


def _split(text: str) -> dict[str, str]:
    """``{"": preamble, name: "## name ... "}`` in file order."""
    parts: dict[str, str] = {}
    pieces = re.split(r"(?m)^(?=## )", text)
    parts[""] = pieces[0]
    for piece in pieces[1:]:
        name = piece.split("\n", 1)[0][3:].strip()
        parts[name] = piece.rstrip("\n") + "\n"
    return parts


def sections(path: Path = RESULTS) -> dict[str, str]:
    """The file's sections by name (for tests and for checking headers)."""
    return {k: v for k, v in _split(path.read_text(encoding="utf-8")).items() if k}
