"""Fault injection: one compact mapping, the same in ``emulator.yml`` (``faults:``),
``POST /_emulator/faults`` and ``Emulator.set_faults``. docs/emulator.md has the
format; in short::

    seed: 7                                   # decisions are reproducible
    latency: {"*": 5ms, dispatch: "100ms..300ms"}
    errors:                                   # first matching rule wins
      - {kind: runs_list, status: 502, rate: 0.2}
      - {kind: dispatch, status: 500, next: 2}
    dispatch:
      drop: {rate: 0.5}                       # 204, but no run is created
      fail_after_create: {status: 502, next: 1}   # run created, then a 5xx
    run_delay: "1s..3s"                       # runs appear in listings late
    secondary: {kind: "*", rate: 0.1, status: 429, retry_after: 2}
    clock_skew: -90s                          # Date and timestamps shifted
    budgets: {core: 100, graphql: 50}         # hourly budgets per token

A rule fires on ``next: N`` (the next N matching requests) or with probability
``rate`` from a generator seeded with ``seed``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from tako_gha.core.durations import DurationError, parse_duration
from tako_gha.core.links import doc_url

KINDS = (
    "org", "repos_list", "repo", "contents", "dispatch", "workflows", "runs_list", "run",
    "jobs", "cancel", "rerun", "annotations", "logs", "rate_limit", "graphql",
)
_TOP = {"seed", "latency", "errors", "dispatch", "run_delay", "secondary", "clock_skew", "budgets"}


class FaultError(ValueError):
    """A fault specification is malformed; the message names the key."""


@dataclass
class _Rule:
    kind: str
    status: int
    rate: float
    remaining: int | None  # "next N": fires this many more times, then never
    retry_after: int | None = None

    def matches(self, kind: str) -> bool:
        return self.kind in ("*", kind)


@dataclass(frozen=True)
class _Span:
    low: float
    high: float


class Faults:
    """Parsed faults; every decision is taken under one lock with one seeded RNG."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        if spec is not None and not isinstance(spec, dict):
            raise FaultError(f"faults: expected a mapping (see {doc_url('emulator.md')})")
        spec = dict(spec or {})
        unknown = sorted(set(spec) - _TOP)
        if unknown:
            known = ", ".join(sorted(_TOP))
            raise FaultError(f"faults: unknown key {unknown[0]!r} (known: {known})")
        self.spec = spec
        seed = spec.get("seed", 0)
        if not isinstance(seed, int):
            raise FaultError("faults.seed: expected an integer")
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._latency = _parse_latency(spec.get("latency"))
        self._errors = [
            _rule(r, f"faults.errors[{i}]") for i, r in enumerate(_list(spec, "errors"))
        ]
        dispatch = spec.get("dispatch") or {}
        if not isinstance(dispatch, dict) or set(dispatch) - {"drop", "fail_after_create"}:
            raise FaultError("faults.dispatch: expected a mapping with drop / fail_after_create")
        self._drop = _rule({"status": 204, **dispatch["drop"]}, "faults.dispatch.drop") \
            if dispatch.get("drop") else None
        self._fail_after = _rule(
            {"status": 502, **dispatch["fail_after_create"]}, "faults.dispatch.fail_after_create"
        ) if dispatch.get("fail_after_create") else None
        self._run_delay = _span(spec.get("run_delay"), "faults.run_delay") \
            if spec.get("run_delay") is not None else None
        secondary = spec.get("secondary")
        self._secondary = _rule(
            {"status": 429, "retry_after": 60, **secondary}, "faults.secondary"
        ) if secondary else None
        self.clock_skew = _signed_duration(spec.get("clock_skew", 0), "faults.clock_skew")
        self.budgets = _parse_budgets(spec.get("budgets"))

    # -- decisions ------------------------------------------------------------------
    def latency(self, kind: str) -> float:
        span = self._latency.get(kind) or self._latency.get("*")
        return self._pick(span) if span else 0.0

    def error(self, kind: str) -> _Rule | None:
        for rule in self._errors:
            if rule.matches(kind) and self._fires(rule):
                return rule
        return None

    def secondary(self, kind: str) -> _Rule | None:
        rule = self._secondary
        if rule is not None and rule.matches(kind) and self._fires(rule):
            return rule
        return None

    def drop_dispatch(self) -> bool:
        return self._drop is not None and self._fires(self._drop)

    def fail_after_create(self) -> int | None:
        rule = self._fail_after
        return rule.status if rule is not None and self._fires(rule) else None

    def run_delay(self) -> float:
        return self._pick(self._run_delay) if self._run_delay else 0.0

    def _fires(self, rule: _Rule) -> bool:
        with self._lock:
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    return False
                rule.remaining -= 1
                return True
            return self._rng.random() < rule.rate

    def _pick(self, span: _Span) -> float:
        if span.low == span.high:
            return span.low
        with self._lock:
            return self._rng.uniform(span.low, span.high)


def _list(spec: dict[str, Any], key: str) -> list[Any]:
    value = spec.get(key) or []
    if not isinstance(value, list):
        raise FaultError(f"faults.{key}: expected a list of rules")
    return value


def _rule(raw: Any, where: str) -> _Rule:
    if not isinstance(raw, dict):
        raise FaultError(f"{where}: expected a mapping {{kind, status, rate | next}}")
    extra = sorted(set(raw) - {"kind", "status", "rate", "next", "retry_after"})
    if extra:
        raise FaultError(f"{where}: unknown key {extra[0]!r}")
    kind = raw.get("kind", "*")
    if kind != "*" and kind not in KINDS:
        raise FaultError(f"{where}.kind: {kind!r} is not an endpoint kind ({', '.join(KINDS)}, *)")
    status = raw.get("status", 500)
    if not isinstance(status, int) or not 200 <= status <= 599:
        raise FaultError(f"{where}.status: expected an HTTP status code")
    has_rate, has_next = "rate" in raw, "next" in raw
    if has_rate == has_next:
        raise FaultError(f"{where}: give exactly one of rate (0..1) or next (N requests)")
    rate = raw.get("rate", 0.0)
    if has_rate and (not isinstance(rate, (int, float)) or not 0 <= rate <= 1):
        raise FaultError(f"{where}.rate: expected a number between 0 and 1")
    nxt = raw.get("next")
    if has_next and (not isinstance(nxt, int) or nxt < 0):
        raise FaultError(f"{where}.next: expected a non-negative integer")
    retry = raw.get("retry_after")
    if retry is not None and (not isinstance(retry, int) or retry < 0):
        raise FaultError(f"{where}.retry_after: expected whole seconds")
    return _Rule(kind, status, float(rate), nxt, retry)


def _span(raw: Any, where: str) -> _Span:
    text = str(raw)
    low, sep, high = text.partition("..")
    try:
        a = parse_duration(low)
        b = parse_duration(high) if sep else a
    except DurationError as exc:
        raise FaultError(f"{where}: {exc}") from None
    if b < a:
        raise FaultError(f"{where}: range {text!r} runs backwards")
    return _Span(a, b)


def _parse_latency(raw: Any) -> dict[str, _Span]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return {"*": _span(raw, "faults.latency")}
    out: dict[str, _Span] = {}
    for kind, value in raw.items():
        if kind != "*" and kind not in KINDS:
            raise FaultError(f"faults.latency: {kind!r} is not an endpoint kind")
        out[kind] = _span(value, f"faults.latency.{kind}")
    return out


def _signed_duration(raw: Any, where: str) -> float:
    text = str(raw).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    try:
        return sign * parse_duration(text.lstrip("+-"))
    except DurationError as exc:
        raise FaultError(f"{where}: {exc}") from None


def _parse_budgets(raw: Any) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FaultError("faults.budgets: expected a mapping {core: N, graphql: N}")
    out: dict[str, int] = {}
    for resource, value in raw.items():
        if resource not in ("core", "graphql", "search"):
            raise FaultError(
                f"faults.budgets: unknown resource {resource!r} (core, graphql, search)"
            )
        if not isinstance(value, int) or value < 0:
            raise FaultError(f"faults.budgets.{resource}: expected a non-negative integer")
        out[resource] = value
    return out
