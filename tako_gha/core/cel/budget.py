"""The budget of one evaluation, and the metering that charges it.

Owns ``_Budget`` (steps, bytes and the clock backstop of one evaluation, and the tree
size of every value it meets), the per-event facts computed once for all the filters
matched against one event (container weights, shapes), and ``_metered``: the wrapper
every CEL function and operator runs in, charging what it reads before it runs and
weighing what it builds.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from celpy import celtypes

from tako_gha.core.cel.cost import Shape, shape_of
from tako_gha.core.cel.limits import ALLOWANCE, FilterLimits, _Abort


class _Budget:
    """What one evaluation may spend: steps, bytes, and (as a last resort) CPU time.

    Steps are deterministic: one per syntax node evaluated, three per element a macro
    visits, and for an operation that reads its arguments (comparing, searching,
    converting) one per 64 characters of a string and one per 4 items of a list or map;
    a string an operation builds costs one more per 64 characters. The same filter on
    the same payload therefore always stops at the same place, whatever the load on the
    machine. The clock is only a backstop against a bug in this metering: CPU time of
    this thread (``time.thread_time``, which other processes' load does not advance),
    set far above what the step budget can take on a slow machine; a stop by it is a
    fault of tako-gha, reported as such, never a verdict.

    ``weight`` is the *tree size* of a value (items and characters, counting shared
    parts every time they appear). It is what printing, comparing or converting the
    value costs in one uninterruptible step, so no value a filter builds may weigh more
    than max_value_size: ``[l, l, l, ...]`` or ``l.map(x, l)`` share ``l`` cheaply but
    would print as its square. Payload values are weighed once per event.
    """

    __slots__ = (
        "built",
        "cap",
        "deadline",
        "keep",
        "known",
        "limits",
        "local_shapes",
        "memory",
        "shapes",
        "steps",
        "ticks",
    )

    def __init__(
        self, limits: FilterLimits, facts: _EventFacts, allowance: int | None = None
    ) -> None:
        self.limits = limits
        # The steps this evaluation may take: max_eval_steps, or less when the caller
        # has less left of a larger budget (a repository's, the plan's).
        self.cap = limits.max_eval_steps if allowance is None else min(
            limits.max_eval_steps, max(allowance, 0))
        self.shapes = facts.shapes  # id -> Shape (cost) of payload values, per event
        self.local_shapes: dict[int, Shape] = {}  # ... of values built here
        self.deadline = time.thread_time() + limits.max_eval_seconds
        self.steps = 0
        self.ticks = 0  # checks since the clock was last read
        self.memory = 0
        self.known = facts.weights  # id -> weight of the payload's containers (shared, read-only)
        self.built: dict[int, int] = {}  # id -> weight of containers this evaluation built
        self.keep: list[object] = []  # keeps built containers alive: their ids stay unique

    def check(self) -> None:
        self.steps += 1
        if self.steps > self.cap:
            self._over_steps()
        # Reading the clock every node is cheap, but every 16th is cheaper still and a
        # node costs microseconds, so the backstop still holds to well under 1 ms.
        self.ticks += 1
        if self.ticks & 15 == 0 and time.thread_time() > self.deadline:
            raise _Abort(
                "max_eval_seconds",
                "evaluation used more than the max_eval_seconds backstop of "
                f"{self.limits.max_eval_seconds:g} s of CPU time before its step budget "
                "stopped it: a fault of tako-gha's metering, not the filter's verdict",
            )

    def charge(self, steps: int) -> None:
        """Take ``steps`` before the work they pay for; over the cap, stop instead (the
        work is not done, so only the steps up to the cap count as spent)."""
        if steps:
            if self.steps + steps > self.cap:
                self.steps = self.cap + 1
                self._over_steps()
            self.steps += steps

    def read(self, args: tuple[Any, ...] | list[Any], item_shift: int = 2) -> None:
        """Charge an operation, before it runs, for reading its arguments."""
        steps = 0
        for arg in args:
            if isinstance(arg, (str, bytes)):
                steps += len(arg) >> 6  # C speed: 64 characters a step
            elif isinstance(arg, (list, dict)):
                # celpy compares, searches and prints element by element in Python:
                # an item costs about a quarter of a node visit
                steps += self.weight(arg) >> item_shift
        self.charge(steps)

    def built_text(self, name: str, result: object, args: tuple[Any, ...] | list[Any]) -> None:
        """Cap, and charge for, a string or bytes an operation built (not an argument)."""
        if (
            isinstance(result, (str, bytes))
            and len(result) > 64
            and not any(result is arg for arg in args)
        ):
            if len(result) > self.limits.max_value_size:
                raise _Abort(
                    "max_value_size",
                    f"{name}() built a value of {len(result):,} characters, over the "
                    f"max_value_size limit of {self.limits.max_value_size:,}",
                )
            self.allocate(49 + len(result), f"{name}()")
            self.charge(len(result) >> 6)

    def convert(self, name: str, args: list[Any]) -> None:
        """Before a type conversion (``string(x)``, ``bytes(x)``, ``int(x)``, ...): charged
        for what it reads; one that would print a list or map heavier than the value-size
        cap is refused before it prints (its text is at least as long as its weight)."""
        for arg in args:
            if isinstance(arg, (list, dict)):
                weight = self.weight(arg)
                if weight > self.limits.max_value_size:
                    raise _Abort(
                        "max_value_size",
                        f"{name}() of a value of {weight:,} items would build at least as "
                        f"many characters, over the max_value_size limit of "
                        f"{self.limits.max_value_size:,}",
                    )
        self.read(args)

    def over_allowance(self) -> None:
        """Stop, when the caller's allowance is below max_eval_steps: no verdict."""
        if self.cap < self.limits.max_eval_steps:
            raise _Abort(
                ALLOWANCE,
                f"evaluation needed more than the {self.cap:,} steps its caller had left "
                "(stopped for the caller's budget, not the filter's own limit)",
            )

    def _over_steps(self) -> None:
        self.over_allowance()
        raise _Abort(
            "max_eval_steps",
            f"evaluation needed more than the max_eval_steps limit of "
            f"{self.limits.max_eval_steps:,} steps",
        )

    def allocate(self, size: int, what: str) -> None:
        self.memory += size
        if self.memory > self.limits.max_eval_memory:
            raise _Abort(
                "max_eval_memory",
                f"{what} would bring the values built to about {self.memory:,} bytes, over "
                f"the max_eval_memory limit of {self.limits.max_eval_memory:,}",
            )

    def weight(self, value: object) -> int:
        if isinstance(value, (str, bytes)):
            return len(value) + 1
        if isinstance(value, (list, dict)):
            key = id(value)
            known = self.built.get(key)
            if known is None:
                known = self.known.get(key)
            return self.register(value, "a value") if known is None else known
        return 1

    def register(self, value: list[Any] | dict[Any, Any], what: str) -> int:
        """Weigh a container the filter built (first sight), refusing one too heavy."""
        items: Iterator[Any] | list[Any] = (
            value if isinstance(value, list) else _flat_items(value)
        )
        total = 1
        for item in items:
            total += self.weight(item)
        self.built[id(value)] = total
        self.keep.append(value)
        self.charge(len(value) >> 6)
        self.allocate(56 + 8 * len(value) * (3 if isinstance(value, dict) else 1), what)
        if total > self.limits.max_value_size:
            raise _Abort(
                "max_value_size",
                f"{what} would hold {total:,} items counting repeats, over the "
                f"max_value_size limit of {self.limits.max_value_size:,}",
            )
        return total

    def shape(self, value: object) -> Shape:
        """The shape of a value: memoised per event for the payload's containers, per
        evaluation for built ones (freed afterwards, their ids are reused)."""
        if isinstance(value, (list, dict)) and id(value) not in self.known:
            return shape_of(value, self.local_shapes)
        return shape_of(value, self.shapes)

    def seen(self, value: object) -> None:
        """Called on every intermediate value: weigh containers met for the first time.

        Only CEL lists and maps: the evaluator also passes plain Python lists around
        (its own operand tuples), which are no values of the filter's."""
        if isinstance(value, (celtypes.ListType, celtypes.MapType)):
            key = id(value)
            if key not in self.built and key not in self.known:
                self.register(value, "a list or map")


def _flat_items(mapping: dict[Any, Any]) -> Iterator[Any]:
    for key, item in mapping.items():
        yield key
        yield item


def _payload_weights(values: Mapping[Any, Any]) -> dict[int, int]:
    """id -> tree size of every container in an activation, iteratively (payloads nest)."""
    weights: dict[int, int] = {}
    for root in values.values():
        if not isinstance(root, (list, dict)) or id(root) in weights:
            continue
        # post-order without recursion: (container, children pushed?)
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if id(node) in weights:
                continue
            children = list(node) if isinstance(node, list) else list(_flat_items(node))
            if not ready:
                stack.append((node, True))
                stack.extend(
                    (c, False) for c in children
                    if isinstance(c, (list, dict)) and id(c) not in weights
                )
                continue
            total = 1
            for child in children:
                if isinstance(child, (list, dict)):
                    total += weights[id(child)]
                elif isinstance(child, (str, bytes)):
                    total += len(child) + 1
                else:
                    total += 1
            weights[id(node)] = total
    return weights


class _EventFacts:
    """What is known about one event's values: container weights and shapes."""

    __slots__ = ("roots", "shapes", "weights")

    def __init__(self, roots: tuple[object, ...]) -> None:
        self.roots = roots  # kept alive: the ids below stay valid
        self.weights = _payload_weights(dict(enumerate(roots)))
        self.shapes: dict[int, Shape] = {}  # filled lazily by cost.shape_of


_last_facts: tuple[tuple[int, ...], _EventFacts] | None = None


def _facts_for(context: Mapping[str, Any]) -> _EventFacts:
    """Computed once per event (the last one is kept): matching one event against
    10,000 subscriptions weighs its payload once."""
    global _last_facts
    roots = tuple(v for v in context.values() if isinstance(v, (list, dict)))
    key = tuple(map(id, roots))
    cached = _last_facts
    if cached is not None and cached[0] == key:
        return cached[1]
    facts = _EventFacts(roots)
    _last_facts = (key, facts)
    return facts


_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("tako_cel_budget")


# Functions that do not read their arguments' contents (a length, an index, a type).
_CONSTANT_TIME = frozenset({"size", "type", "dyn", "_[_]", "_?_:_", "has"})


def _metered(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Any CEL function or operator, charged for the size of what it reads and builds.

    The charge is taken before the call, so a call that would read a huge value is
    stopped before it runs; results are weighed when the evaluator next sees them.
    """

    reads = name not in _CONSTANT_TIME
    # Concatenation copies references at C speed; the rest compare item by item.
    item_shift = 6 if name == "_+_" else 2

    def call(*args: Any) -> Any:
        budget = _BUDGET.get()
        if reads:
            budget.read(args, item_shift)
        result = function(*args)
        budget.built_text(name, result, args)
        return result

    call.__name__ = getattr(function, "__name__", name)
    return call
