"""The JSON readers on their hostile corpora: time and peak memory.

Measures whatever ``tako_gha`` is importable, and says which (its path). To measure an
older commit, put a checkout of it ahead with ``--code DIR``:

    mkdir /tmp/tako-base && git archive 18d3bec tako_gha | tar -x -C /tmp/tako-base
    python benchmarks/bench_json.py --code /tmp/tako-base --label "commit 18d3bec"
    python benchmarks/bench_json.py --label "HEAD"

Two readers, two corpora:

- tako's payload reader (``core.strictjson.read_json_object``: ``--payload``, the
  action's ``payload`` input) on tests/surfaces/payload_corpus.py (every text and file
  case) plus large ordinary payloads in the shapes tests/core/test_hostile.py evaluates
  filters on (100,000 numbers, 2,000 keys, long strings);
- the emulator's body reader (``emulator.confine.parse_json``) on the request bodies of
  tests/emulator/emulator_hostile_corpus.py plus the same texts as bytes.

For each: the time of one pass over the corpus (best of ``--repeat``), the slowest
single case, and the highest tracemalloc peak of one case (measured in a separate pass,
since tracing slows Python down). ``--quick`` runs one pass (the test suite smoke-runs
it). ``--write`` replaces the "JSON readers" section of benchmarks/RESULTS.md (a quick
run only with ``--results FILE``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import results

ROOT = Path(__file__).resolve().parent.parent


def _ordinary_payloads() -> list[tuple[str, str]]:
    shapes: dict[str, Any] = {
        "list100k": {"l": list(range(100_000))},
        "bigmap": {"keys": {f"k{i}": i for i in range(2000)}},
        "strings": {"s": "a" * 50_000, "t": "ab" * 1000, "parts": ["p"] * 2000},
        "nested": {"n": [[i] * 10 for i in range(100)]},
        "numbers": {"big": 2**63 - 1, "f": 1e308, "floats": [i / 7 for i in range(5000)]},
        "escapes": {"e": ["caf\u00e9 \u2603 \U0001f600 \"q\" \\ \n"] * 3000},
    }
    return [(f"ordinary-{name}", json.dumps(value, ensure_ascii=name == "escapes"))
            for name, value in shapes.items()]


def payload_corpus() -> list[tuple[str, str]]:
    corpus = results.suite_module("tests/surfaces/payload_corpus.py")
    cases = [(case.id, case.text) for case in corpus.CASES]
    for case_id, _how, raw, *_ in corpus.FILE_CASES:
        try:
            cases.append((case_id, raw.decode("utf-8")))
        except UnicodeDecodeError:
            continue  # refused by the file reader before the JSON reader sees it
    return cases + _ordinary_payloads()


def body_corpus() -> list[tuple[str, bytes]]:
    corpus = results.suite_module("tests/emulator/emulator_hostile_corpus.py")
    bodies = [(case.id, case.raw) for case in corpus.BODY_CASES]
    return bodies + [(name, text.encode("utf-8", "surrogatepass"))
                     for name, text in payload_corpus()]


def _one(reader: Callable[[Any], Any], data: Any) -> float:
    started = time.perf_counter()
    with contextlib.suppress(ValueError):  # every refusal of both readers is one
        reader(data)
    return time.perf_counter() - started


def measure(reader: Callable[[Any], Any], cases: list[tuple[str, Any]],
            repeat: int) -> dict[str, Any]:
    best, slowest, slowest_id = float("inf"), 0.0, ""
    for _ in range(repeat):
        total = 0.0
        for case_id, data in cases:
            spent = _one(reader, data)
            total += spent
            if spent > slowest:
                slowest, slowest_id = spent, case_id
        best = min(best, total)
    peak, peak_id = 0, ""
    for case_id, data in cases:
        tracemalloc.start()
        _one(reader, data)
        _, case_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if case_peak > peak:
            peak, peak_id = case_peak, case_id
    return {"cases": len(cases), "pass_s": best, "slowest_s": slowest,
            "slowest_case": slowest_id, "peak_mb": peak / 1e6, "peak_case": peak_id}


def reading(found: list[tuple[str, dict[str, Any]]]) -> str:
    """What the table says, computed from it."""
    parts = [f"{name} read its {got['cases']} cases in {got['pass_s'] * 1000:.1f} ms, the "
             f"slowest case ({got['slowest_case']}) in {got['slowest_s'] * 1000:.1f} ms, "
             f"peaking at {got['peak_mb']:.1f} MB ({got['peak_case']})"
             for name, got in found]
    return "Reading (computed from the table): " + "; ".join(parts) + "."


def main(argv: list[str] | None = None) -> int:
    run = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    results.add_code_arguments(parser, "one pass (smoke test)")
    args = parser.parse_args(argv)
    measured = results.use_code(args)
    import tako_gha
    from tako_gha.core import strictjson
    from tako_gha.emulator import confine

    repeat = 1 if args.quick else args.repeat
    rows = [("payload reader (strictjson)", strictjson.read_json_object, payload_corpus()),
            ("emulator body reader (confine)", confine.parse_json, body_corpus())]
    code = f"{Path(tako_gha.__file__).parent} {args.label}".rstrip()
    lines = ["| reader | cases | one pass | slowest case | peak memory (case) |",
             "|---|---:|---:|---:|---:|"]
    found = []
    for name, reader, cases in rows:
        got = measure(reader, cases, repeat)
        found.append((name, got))
        lines.append(f"| {name} | {got['cases']} | {got['pass_s'] * 1000:.1f} ms | "
                     f"{got['slowest_s'] * 1000:.1f} ms ({got['slowest_case']}) | "
                     f"{got['peak_mb']:.1f} MB ({got['peak_case']}) |")
    table = "\n".join(lines)
    print(f"code: {code}")
    print(table)
    print(reading(found))
    if args.write:
        intro = ("tako's payload reader (`core.strictjson.read_json_object`: `--payload`, "
                 "the action's `payload` input) on the payload corpus of the test suite plus "
                 "large ordinary payloads, and the emulator's body reader "
                 "(`emulator.confine.parse_json`) on the emulator's hostile request bodies "
                 f"plus the same texts as bytes. One pass is the best of {repeat}; the peak "
                 "is tracemalloc's, per case, in a separate pass. Code measured: "
                 + measured + ".")
        run.write("JSON readers", f"{intro}\n\n{table}\n\n{reading(found)}", args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
