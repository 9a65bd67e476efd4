"""Worst-case cost of a CEL filter, computed from its syntax tree and the sizes of data.

Used twice (both pure, no evaluation):

- before an evaluation, with the sizes of the actual event: a filter whose worst case
  is far over its step budget is refused at once instead of running until the budget
  stops it (ten thousand subscriptions must not each burn their full budget);
- by ``lint``, with made-up list sizes, to warn about filters whose cost grows faster
  than the payload (nested comprehensions, values rebuilt inside a comprehension).

The estimate mirrors how ``core.cel`` charges an evaluation: about two steps per
syntax node, ``MACRO_ITERATION`` more per element a macro visits, and one step per 64
items an operation reads (the steps for the strings an operation builds, charged at
run time, are left out). Sizes are tracked as ``Shape``s: a list or map's length (a
string's: its characters) and the shapes of its fields and elements, joined over all
elements. It is an estimate: it assumes every element is visited (no short-circuit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import lark

__all__ = ["MACRO_ITERATION", "Estimate", "Shape", "estimate", "estimate_macro", "shape_of"]

# Steps charged per element a macro visits, on top of its body's nodes (rebinding the
# variable and entering the body cost about as much as three node visits).
MACRO_ITERATION = 3
NODE = 1  # steps per syntax node (measured: about one check per node)

_MACROS = frozenset({"map", "filter", "all", "exists", "exists_one"})
# Functions whose result is a string about as long as their receiver.
_STRING_RESULTS = frozenset(
    {"trim", "lower", "upper", "lowerAscii", "upperAscii", "substring", "charAt", "string"}
)


@dataclass
class Shape:
    """Upper bounds on a value: length (``card``), and its fields' and elements' shapes."""

    card: int = 0
    fields: dict[str, Shape] | None = None  # map keys -> shapes (None: unknown keys)
    elem: Shape | None = None  # list elements / map values, joined
    top: bool = False  # unknown: any field or element is the same unknown shape
    text: int = 0  # for an unknown shape: the length assumed when it is a string

    def field(self, name: str) -> Shape:
        if self.top:
            return self
        if self.fields is not None:  # a known map: a missing field fails at once
            return self.fields.get(name, SCALAR)
        return self.elem or SCALAR

    def element(self) -> Shape:
        if self.top:
            return self
        return self.elem or SCALAR


SCALAR = Shape()


def _reads(shape: Shape, shift: int = 2) -> int:
    """Steps an operation reading this value is charged (see core.cel.budget._metered)."""
    if shape.top:
        return shape.text // 64
    if shape.fields is not None or shape.elem is not None:  # a list or map
        return _weight(shape) >> shift
    return shape.card // 64


def _weight(shape: Shape) -> int:
    """Items and characters of a value of this shape, nested ones included."""
    total, stack = 0, [(shape, 1)]
    while stack:
        current, times = stack.pop()
        total += times * max(current.card, 1)
        if current.elem is not None and current.elem is not current and current.card:
            stack.append((current.elem, times * current.card))
        if total > 1 << 40:
            break
    return total


def _text(shape: Shape) -> int:
    """The length of a value used as a string (an unknown one: its assumed text size)."""
    return shape.text if shape.top else shape.card


def _join(a: Shape | None, b: Shape | None) -> Shape | None:
    if a is None or a is SCALAR:
        return b
    if b is None or b is SCALAR or a is b:
        return a
    if a.top or b.top:
        return a if a.top and a.card >= b.card else b if b.top else a
    fields: dict[str, Shape] | None = None
    if a.fields is not None or b.fields is not None:
        fields = dict(a.fields or {})
        for name, shape in (b.fields or {}).items():
            fields[name] = _join(fields.get(name), shape) or SCALAR
    return Shape(max(a.card, b.card), fields, _join(a.elem, b.elem))


def shape_of(value: Any, memo: dict[int, Shape]) -> Shape:
    """The shape of a concrete (CEL or JSON) value; containers memoised by id."""
    if isinstance(value, (str, bytes)):
        return Shape(len(value))
    if not isinstance(value, (list, dict)):
        return SCALAR
    known = memo.get(id(value))
    if known is not None:
        return known
    # Iterative post-order: payloads may nest deeper than Python's stack.
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in memo:
            continue
        children = list(node.values()) if isinstance(node, dict) else list(node)
        if not ready:
            stack.append((node, True))
            stack.extend(
                (c, False) for c in children if isinstance(c, (list, dict)) and id(c) not in memo
            )
            continue
        memo[id(node)] = _shape_now(node, memo)
    return memo[id(value)]


def _shape_now(node: Any, memo: dict[int, Shape]) -> Shape:
    def child(value: Any) -> Shape:
        if isinstance(value, (list, dict)):
            return memo[id(value)]
        return Shape(len(value)) if isinstance(value, (str, bytes)) else SCALAR

    if isinstance(node, dict):
        fields = {str(k): child(v) for k, v in node.items()}
        elem: Shape | None = None
        for shape in fields.values():
            elem = _join(elem, shape)
        longest_key = max((len(str(k)) for k in node), default=0)
        return Shape(len(node), fields, _join(elem, Shape(longest_key)))
    joined: Shape | None = None
    for item in node:
        joined = _join(joined, child(item))
    return Shape(len(node), None, joined)


@dataclass
class Estimate:
    """The worst case of a filter: steps, and the heaviest value it may build."""

    steps: int
    built: int  # items/characters of the largest value built (0: builds nothing big)
    built_at: lark.Tree | None = None  # the node building it
    costs: dict[int, int] = field(default_factory=dict)  # id(node) -> steps of its subtree


class _Estimator:
    def __init__(
        self, root: Shape, unknown: Shape, lookup: Callable[[str], Shape | None] | None = None
    ) -> None:
        self.root = root
        self.lookup = lookup
        self.unknown = unknown  # the shape of anything the estimate cannot follow
        self.costs: dict[int, int] = {}
        self.built = 0
        self.built_at: lark.Tree | None = None

    def _grow(self, size: int, node: lark.Tree) -> None:
        if size > self.built:
            self.built, self.built_at = size, node

    def run(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        steps, shape = self._node(node, scope)
        self.costs[id(node)] = steps
        return steps, shape

    def _kids(self, node: lark.Tree) -> list[lark.Tree]:
        return [c for c in node.children if isinstance(c, lark.Tree)]

    def _all(self, nodes: list[lark.Tree], scope: dict[str, Shape]) -> tuple[int, list[Shape]]:
        total, shapes = 0, []
        for child in nodes:
            steps, shape = self.run(child, scope)
            total += steps
            shapes.append(shape)
        return total, shapes

    def _node(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        handler = getattr(self, "_" + node.data, None)
        if handler is not None:
            return handler(node, scope)  # type: ignore[no-any-return]
        steps, shapes = self._all(self._kids(node), scope)
        return NODE + steps, shapes[-1] if shapes else SCALAR

    def _ident(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        name = str(node.children[0])
        if name in scope:
            return NODE, scope[name]
        found = self.lookup(name) if self.lookup is not None else None
        if found is not None:
            return NODE, found
        if name == "event":
            return NODE, self.root
        return NODE, Shape(256) if name == "subscriber" else SCALAR

    def _literal(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        return NODE, Shape(len(str(node.children[0])))

    def _member_dot(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        steps, shape = self.run(node.children[0], scope)
        return NODE + steps, shape.field(str(node.children[1]))

    def _member_index(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        steps, (shape, _index) = self._all(self._kids(node), scope)
        return NODE + steps, shape.element()

    def _expr(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        kids = self._kids(node)
        if len(kids) != 3:
            steps, shapes = self._all(kids, scope)
            return NODE + steps, shapes[-1] if shapes else SCALAR
        cond, _ = self.run(kids[0], scope)
        then, a = self.run(kids[1], scope)
        other, b = self.run(kids[2], scope)
        return NODE + cond + max(then, other), _join(a, b) or SCALAR

    def _binary(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        """relation / addition / multiplication: [op_tree(left), right]."""
        op_tree, right = node.children
        left_steps, left = self.run(op_tree.children[0], scope)
        right_steps, shape = self.run(right, scope)
        shift = 6 if op_tree.data == "addition_add" else 2
        right_reads = _reads(shape, shift)
        if op_tree.data == "relation_in" and shape.top:  # searched: a list or map
            right_reads = shape.card >> shift
        steps = NODE * 2 + left_steps + right_steps + _reads(left, shift) + right_reads
        if op_tree.data == "addition_add" and (_text(left) or _text(shape)):
            card = _text(left) + _text(shape)
            self._grow(card, node)
            return steps, Shape(card, None, _join(left.elem, shape.elem))
        return steps, SCALAR

    _relation = _binary
    _addition = _binary
    _multiplication = _binary

    def _list_lit(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        items = self._kids(node)[0].children if self._kids(node) else []
        steps, shapes = self._all([i for i in items if isinstance(i, lark.Tree)], scope)
        elem: Shape | None = None
        weight = 0
        for shape in shapes:
            elem = _join(elem, shape)
            weight += 1 + shape.card
        if len(shapes) > 1:
            self._grow(weight, node)
        return NODE * 2 + steps, Shape(len(shapes), None, elem)

    def _map_lit(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        inits = self._kids(node)[0].children if self._kids(node) else []
        steps, shapes = self._all([i for i in inits if isinstance(i, lark.Tree)], scope)
        elem: Shape | None = None
        for shape in shapes:
            elem = _join(elem, shape)
        return NODE * 2 + steps, Shape(len(shapes) // 2, None, elem)

    def _ident_arg(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        name = str(node.children[0])
        args = self._kids(node)[0].children if self._kids(node) else []
        return self._call(node, name, [a for a in args if isinstance(a, lark.Tree)], scope)

    def _member_dot_arg(self, node: lark.Tree, scope: dict[str, Shape]) -> tuple[int, Shape]:
        name = str(node.children[1])
        args = node.children[2].children if len(node.children) > 2 else []
        if name in _MACROS and len(args) == 2:
            return self._macro(node, name, args, scope)
        trees = [node.children[0], *(a for a in args if isinstance(a, lark.Tree))]
        return self._call(node, name, trees, scope)

    def _call(
        self, node: lark.Tree, name: str, args: list[lark.Tree], scope: dict[str, Shape]
    ) -> tuple[int, Shape]:
        steps, shapes = self._all(args, scope)
        read = sum(_text(s) for s in shapes)
        if name not in ("size", "type", "dyn", "has"):
            steps += sum(_reads(s) for s in shapes)
        steps += NODE * 2
        receiver = shapes[0] if shapes else SCALAR
        if name == "split":
            return steps, Shape(_text(receiver) + 1, None, Shape(_text(receiver)))
        if name in ("replace", "join"):
            grown = max(_text(receiver), 1) * max((_text(s) for s in shapes[1:]), default=1)
            if name == "join":
                grown = receiver.card * _text(receiver.element()) + grown
            self._grow(grown, node)
            return steps, Shape(grown)
        if name in _STRING_RESULTS:
            return steps, Shape(max(_text(receiver), read))
        if name == "dyn":
            return steps, receiver
        return steps, SCALAR

    def _macro(
        self, node: lark.Tree, name: str, args: list[Any], scope: dict[str, Shape]
    ) -> tuple[int, Shape]:
        receiver_steps, receiver = self.run(node.children[0], scope)
        variable = _variable_name(args[0])
        inner = dict(scope)
        inner[variable] = receiver.element()
        body_steps, body = self.run(args[1], inner)
        count = receiver.card
        steps = NODE * 2 + receiver_steps + count * (MACRO_ITERATION + body_steps)
        if name == "map":
            self._grow(count * (1 + body.card), node)
            return steps, Shape(count, None, body)
        if name == "filter":
            return steps, Shape(count, None, receiver.element())
        return steps, SCALAR


def _variable_name(tree: Any) -> str:
    for node in walk(tree):
        if node.data == "ident":
            return str(node.children[0])
    return ""


def walk(node: lark.Tree) -> Iterator[lark.Tree]:
    """Every subtree of ``node``, depth first, without recursion (filters nest deep)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in reversed(current.children) if isinstance(c, lark.Tree))


def estimate(ast: lark.Tree, event: Shape, unknown: Shape | None = None) -> Estimate:
    """The worst case of ``ast`` when ``event`` has the given shape."""
    worker = _Estimator(event, unknown or event)
    steps, _shape = worker.run(ast, {})
    return Estimate(steps, worker.built, worker.built_at, worker.costs)


def uniform_event(size: int, text: int = 32) -> Shape:
    """An event whose every list and map has ``size`` items, every string ``text``
    characters (for lint: payload lists vary a lot, strings much less)."""
    return Shape(size, None, None, top=True, text=text)


def growth(ast: lark.Tree, small: int = 100, large: int = 1000) -> Callable[[lark.Tree], float]:
    """How a subtree's cost grows with the payload: the exponent k in cost ~ size**k."""
    import math

    low = estimate(ast, uniform_event(small)).costs
    high = estimate(ast, uniform_event(large)).costs
    ratio = math.log(large / small)

    def exponent(node: lark.Tree) -> float:
        a, b = low.get(id(node), 0), high.get(id(node), 0)
        return math.log(b / a) / ratio if a > 0 and b > 0 else 0.0

    return exponent


def estimate_macro(
    body: lark.Tree,
    variable: str,
    receiver: Shape,
    lookup: Callable[[str], Shape | None],
) -> int:
    """Worst-case steps of a macro over a list of shape ``receiver`` (at run time).

    ``lookup`` gives the shape of any other name the body uses (``event``, outer macro
    variables), from their actual values."""
    worker = _Estimator(SCALAR, SCALAR, lookup)
    body_steps, _shape = worker.run(body, {variable: receiver.element()})
    return receiver.card * (MACRO_ITERATION + body_steps)
