"""The emulator's GraphQL front half (parse, limits, validation) on the hostile corpus:
time per query.

Measures whatever ``tako_gha`` is importable, and says which (its path). To measure an
older commit, put a checkout of it ahead with ``--code DIR``:

    mkdir /tmp/tako-base && git archive 2ab66d7 tako_gha | tar -x -C /tmp/tako-base
    python benchmarks/bench_graphql.py --code /tmp/tako-base --label "commit 2ab66d7"
    python benchmarks/bench_graphql.py --label "HEAD"

Every document of tests/emulator/emulator_hostile_corpus.py (GRAPHQL_CASES and the
discovery control) goes through what ``POST /graphql`` does before it executes
anything: parse the document, pick the operation, coerce the variables, check the
limits (depth, fragment cycles, fields times page sizes, node count) and validate
against the emulator's schema. Execution is left out: it does not change here and
would drown the part measured. Each case runs ``--repeat`` times; the table gives the
best time per case (median and worst over the corpus, and the slowest cases by name)
and the sum of the best times. ``--quick`` runs each case once (the test suite
smoke-runs it). ``--write`` replaces the "GraphQL front half" section of
benchmarks/RESULTS.md (a quick run only with ``--results FILE``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import results

ROOT = Path(__file__).resolve().parent.parent


def _corpus() -> ModuleType:
    return results.suite_module("tests/emulator/emulator_hostile_corpus.py")


def front_half(query: str, variables: dict[str, Any]) -> str:
    """What ``POST /graphql`` does before execution; the outcome in a word."""
    from tako_gha.emulator import graphql
    from tako_gha.emulator.gqlparse import GraphQLError, Parser, check_limits

    try:
        doc = Parser(query).document()
        op = graphql._pick_operation(doc, None)
        coerced = graphql._coerce_variables(op, variables)
    except GraphQLError:
        return "refused"
    errors = check_limits(doc, op, coerced) or graphql.validate(doc, op)
    return "refused" if errors else "accepted"


def measure(cases: list[Any], repeat: int) -> list[tuple[str, float, str]]:
    out = []
    for case in cases:
        best, outcome = float("inf"), ""
        for _ in range(repeat):
            started = time.perf_counter()
            outcome = front_half(case.query, case.variables or {})
            best = min(best, time.perf_counter() - started)
        out.append((case.id, best, outcome))
    return out


def reading(rows: list[tuple[str, float, str]]) -> str:
    """What the table says, computed from it."""
    slowest = max(rows, key=lambda row: row[1])
    times = sorted(spent for _, spent, _ in rows)
    under = sum(spent < 0.01 for spent in times)
    return (f"Reading (computed from the table): {under} of {len(rows)} queries take under "
            f"10 ms; the slowest is {slowest[0]} ({slowest[1] * 1000:.0f} ms, "
            f"{slowest[2]}).")


def main(argv: list[str] | None = None) -> int:
    run = results.Run.begin(__file__, argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    results.add_code_arguments(parser, "each case once (smoke test)")
    args = parser.parse_args(argv)
    measured = results.use_code(args)
    import tako_gha

    corpus = _corpus()
    rows = measure([*corpus.GRAPHQL_CASES, corpus.CONTROL_GRAPHQL],
                   1 if args.quick else args.repeat)
    times = [spent for _, spent, _ in rows]
    refused = sum(outcome == "refused" for *_, outcome in rows)
    table = "\n".join([
        "| queries | refused | median per query | worst | sum |", "|---:|---:|---:|---:|---:|",
        f"| {len(rows)} | {refused} | {statistics.median(times) * 1000:.2f} ms | "
        f"{max(times) * 1000:.1f} ms | {sum(times) * 1000:.0f} ms |", "",
        "slowest: " + ", ".join(
            f"{case_id} {spent * 1000:.1f} ms ({outcome})"
            for case_id, spent, outcome in sorted(rows, key=lambda row: -row[1])[:6])])
    print(f"code: {Path(tako_gha.__file__).parent} {args.label}".rstrip())
    print(table)
    print(reading(rows))
    if args.write:
        intro = ("The emulator's GraphQL front half (parse, pick the operation, coerce the "
                 "variables, check the limits, validate; no execution) on every document of "
                 "the hostile GraphQL corpus of the test suite and the discovery control. "
                 f"Best of {1 if args.quick else args.repeat} per query. Code measured: "
                 + measured + ".")
        run.write("GraphQL front half", f"{intro}\n\n{table}\n\n{reading(rows)}",
                  args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
