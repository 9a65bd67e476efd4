"""The inputs a workflow declares under ``on.workflow_dispatch.inputs``, and the check of
a dispatch's inputs against them (pure: no I/O).

One model for three readers: the emulator refuses what GitHub refuses (with GitHub's
texts), ``tako-gha lint`` and ``plan`` point at both sides (the subscription's input and
the workflow's declaration, file:line:col each), and the engine knows which workflows
can be dispatched in exact mode.

GitHub's rules, as its workflow dispatch endpoint applies them:
- at most ``MAX_INPUTS`` (25) inputs in one dispatch;
- a name the workflow does not declare is refused (``Unexpected inputs provided``);
- a ``required`` input without a value (and without a ``default``) is refused;
- values travel as strings: ``type: boolean`` takes ``"true"``/``"false"``,
  ``type: number`` a number's text, ``type: choice`` one of its ``options``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_INPUTS = 25  # GitHub: inputs of one workflow dispatch (api.github.com)
EVENT = "workflow_dispatch"
TAKO_INPUT = "tako"  # the one input that carries the cascade context (a JSON string)
TYPES = ("string", "boolean", "number", "choice", "environment")


@dataclass(frozen=True)
class Where:
    """A place in a file, 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class DeclaredInput:
    name: str
    type: str = "string"
    required: bool = False
    default: str | None = None  # as text, the way GitHub fills it in
    options: tuple[str, ...] = ()
    where: Where | None = None


@dataclass
class WorkflowInputs:
    """What one workflow file says about ``workflow_dispatch``."""

    path: str
    listens: bool = False  # ``on`` names workflow_dispatch
    inputs: dict[str, DeclaredInput] = field(default_factory=dict)
    where: Where | None = None  # of ``workflow_dispatch`` itself
    problem: str | None = None  # the file could not be read as a workflow
    missing: bool = False  # not there: no such file on that ref, or no such ref

    @property
    def names(self) -> list[str]:
        return list(self.inputs)


@dataclass(frozen=True)
class InputProblem:
    """One input GitHub would refuse. ``code``: too-many, unexpected, missing, bad-value."""

    code: str
    name: str
    message: str  # GitHub's text where it has one
    declared: DeclaredInput | None = None


def as_text(value: Any) -> str:
    """A rendered value the way GitHub receives an input: a string (booleans lower-case,
    other non-strings as JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse(text: str | bytes, path: str) -> WorkflowInputs:
    """The ``workflow_dispatch`` declaration of a workflow file (never raises)."""
    found = WorkflowInputs(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        found.problem = f"not valid YAML ({str(exc).splitlines()[0]})"
        return found
    if not isinstance(root, yaml.MappingNode):
        found.problem = "not a mapping"
        return found
    on = _get(root, "on")
    if on is None:
        return found
    if isinstance(on, yaml.ScalarNode):
        found.listens = on.value == EVENT
        found.where = _where(path, on) if found.listens else None
        return found
    if isinstance(on, yaml.SequenceNode):
        hit = next((n for n in on.value if isinstance(n, yaml.ScalarNode) and n.value == EVENT),
                   None)
        found.listens = hit is not None
        found.where = _where(path, hit) if hit is not None else None
        return found
    if not isinstance(on, yaml.MappingNode):
        return found
    key, spec = _item(on, EVENT)
    if key is None:
        return found
    found.listens, found.where = True, _where(path, key)
    inputs = _get(spec, "inputs") if isinstance(spec, yaml.MappingNode) else None
    if isinstance(inputs, yaml.MappingNode):
        for name_node, body in inputs.value:
            if isinstance(name_node, yaml.ScalarNode):
                found.inputs[name_node.value] = _declared(name_node, body, path)
    return found


def _declared(name: yaml.ScalarNode, body: yaml.Node, path: str) -> DeclaredInput:
    spec = body if isinstance(body, yaml.MappingNode) else None
    kind = _scalar(spec, "type") or "string"
    required = (_scalar(spec, "required") or "false").lower() == "true"
    default = _scalar(spec, "default")
    options_node = _get(spec, "options") if spec is not None else None
    options: tuple[str, ...] = ()
    if isinstance(options_node, yaml.SequenceNode):
        options = tuple(str(n.value) for n in options_node.value
                        if isinstance(n, yaml.ScalarNode))
    return DeclaredInput(name=name.value, type=kind, required=required, default=default,
                         options=options, where=_where(path, name))


def check(declared: WorkflowInputs, given: dict[str, Any]) -> list[InputProblem]:
    """What GitHub would refuse in a dispatch of ``given`` to this workflow, in the order
    it checks (count, unexpected names, missing required ones, values)."""
    problems: list[InputProblem] = []
    if len(given) > MAX_INPUTS:
        problems.append(InputProblem(
            "too-many", "", f"No more than {MAX_INPUTS} properties are allowed; "
                            f"{len(given)} were supplied."))
    unexpected = [name for name in given if name not in declared.inputs]
    if unexpected:
        shown = json.dumps(unexpected)
        problems.extend(InputProblem("unexpected", name, f"Unexpected inputs provided: {shown}")
                        for name in unexpected)
    for spec in declared.inputs.values():
        if spec.required and spec.name not in given and spec.default is None:
            problems.append(InputProblem("missing", spec.name,
                                         f"Required input '{spec.name}' not provided", spec))
    for name, value in given.items():
        spec = declared.inputs.get(name)
        if spec is not None:
            problem = value_problem(spec, value)
            if problem is not None:
                problems.append(InputProblem("bad-value", name, problem, spec))
    return problems


def value_problem(spec: DeclaredInput, value: Any) -> str | None:
    """Why GitHub would refuse ``value`` for this input, or None."""
    if not isinstance(value, str):
        return (f"Provided value for input '{spec.name}' must be a string, "
                f"not {type(value).__name__}")
    if spec.type == "boolean" and value not in ("true", "false"):
        return f"Provided value '{value}' for input '{spec.name}' is not a boolean"
    if spec.type == "number" and not _is_number(value):
        return f"Provided value '{value}' for input '{spec.name}' is not a number"
    if spec.type == "choice" and value not in spec.options:
        return f"Provided value '{value}' for input '{spec.name}' not in the list of allowed values"
    return None


def context(declared: WorkflowInputs | None, given: dict[str, str]) -> dict[str, Any]:
    """The ``inputs`` context of a run: given values with declared defaults filled in,
    booleans and numbers typed as the workflow declares them (``github.event.inputs``
    keeps the strings)."""
    values: dict[str, Any] = dict(given)
    if declared is not None:
        for spec in declared.inputs.values():
            if spec.name not in values and spec.default is not None:
                values[spec.name] = spec.default
            raw = values.get(spec.name)
            if isinstance(raw, str) and spec.type == "boolean":
                values[spec.name] = raw == "true"
            elif isinstance(raw, str) and spec.type == "number" and _is_number(raw):
                number = float(raw)
                values[spec.name] = int(number) if number.is_integer() else number
    return values


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _item(node: yaml.MappingNode, key: str) -> tuple[yaml.Node | None, yaml.Node | None]:
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None, None


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return _item(node, key)[1]


def _scalar(node: yaml.Node | None, key: str) -> str | None:
    found = _get(node, key) if node is not None else None
    if isinstance(found, yaml.ScalarNode) and found.tag != "tag:yaml.org,2002:null":
        return str(found.value)
    return None


def _where(path: str, node: yaml.Node) -> Where:
    mark = node.start_mark
    return Where(path, mark.line + 1, mark.column + 1)
