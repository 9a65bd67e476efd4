"""Exact mode's checks of a subscription against the workflow it names (pure, no I/O).

A subscription naming a ``workflow:`` whose file listens on ``workflow_dispatch`` (and
not ``trigger: repository_dispatch``) is dispatched by workflow dispatch: its rendered
``inputs`` become the workflow's inputs, and GitHub refuses the whole dispatch (422,
nothing started) for a name the workflow does not declare, a ``required`` input left
out, a value its ``type`` does not take, or more than 25 inputs. ``tako-gha lint`` runs
these checks with the values the templates fix (a template without a field is a
literal); ``tako-gha plan`` with the rendered values. Each problem points at both sides:
the subscription's input in tako.yml and the workflow's declaration, file:line:col.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tako_gha.core.config import Subscription
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.core.workflow_inputs import (
    MAX_INPUTS,
    TAKO_INPUT,
    WorkflowInputs,
    as_text,
    value_problem,
)

REPOSITORY_DISPATCH = "repository_dispatch"
TAKO_LINES = (f"{TAKO_INPUT}:", "  description: tako-gha's cascade context (JSON)")


def is_exact(sub: Subscription, declared: WorkflowInputs | None) -> bool:
    """Dispatched by workflow dispatch: a named workflow that listens on it."""
    return (bool(sub.workflow) and sub.trigger != REPOSITORY_DISPATCH
            and declared is not None and declared.listens)


def deaf_to_trigger(config_file: str, sub: Subscription,
                    declared: WorkflowInputs) -> Diagnostic | None:
    """``trigger: workflow_dispatch`` naming a workflow that does not listen on it: the
    fan-out makes that target an error (nothing is sent) rather than quietly sending
    a ``repository_dispatch`` the subscription asked not to use."""
    if sub.trigger != "workflow_dispatch" or not sub.workflow or declared.listens \
            or declared.missing:
        return None
    line, col = sub.workflow_mark or (sub.line, 0)
    return _error(config_file, line, col, "trigger-not-heard",
                  f"{sub.describe()} says trigger: workflow_dispatch, but {sub.workflow} "
                  "does not listen on workflow_dispatch: the fan-out would dispatch nothing "
                  "to this repository",
                  f"add `workflow_dispatch:` under `on:` in {sub.workflow}, or drop "
                  "`trigger:` (then a repository_dispatch is sent)")


def literal(template: Any) -> str | None:
    """The value of a template that names no field (known before any event)."""
    parts = getattr(template, "parts", None)
    if parts is None or not all(isinstance(p, str) for p in parts):
        return None
    return "".join(parts)


def check(config_file: str, sub: Subscription, declared: WorkflowInputs,
          values: Mapping[str, Any] | None = None) -> list[Diagnostic]:
    """What GitHub would refuse in this subscription's dispatches (errors), and a
    receiver that cannot continue the tree (a warning). ``values``: the rendered
    inputs (plan); None: only the literal templates are judged (lint)."""
    out: list[Diagnostic] = []
    names = list(sub.inputs)
    sent = len(names) + (1 if TAKO_INPUT in declared.inputs and TAKO_INPUT not in names
                         else 0)
    sub_line, sub_col = sub.workflow_mark or (sub.line, 0)
    if sent > MAX_INPUTS:
        out.append(_error(config_file, sub_line, sub_col, "too-many-inputs",
                          f"{sub.describe()} sends {sent} inputs to {sub.workflow} "
                          f"(with tako's own); GitHub allows {MAX_INPUTS}",
                          "send fewer inputs: put several values in one (JSON) input"))
    for name in names:
        line, col = sub.input_marks.get(name, (sub.line, 0))
        spec = declared.inputs.get(name)
        if name == TAKO_INPUT:
            out.append(_error(config_file, line, col, "reserved-input",
                              f"input {name!r} is tako's own (the cascade context)",
                              "rename this input"))
        elif spec is None:
            known = ", ".join(n for n in declared.inputs if n != TAKO_INPUT) or "none"
            out.append(_error(config_file, line, col, "unknown-input",
                              f"input {name!r} is not declared by {sub.workflow} "
                              f"({_at(declared)} declares: {known}); GitHub would refuse "
                              "the dispatch", f"declare it under on.workflow_dispatch.inputs "
                              f"in {sub.workflow}, or drop it from the subscription"))
        else:
            value = values.get(name) if values is not None else literal(sub.inputs[name])
            problem = None if value is None else value_problem(spec, as_text(value))
            if problem is not None:
                out.append(_error(config_file, line, col, "bad-input-value",
                                  f"{problem} (declared at {spec.where}: type {spec.type}"
                                  + (f", options {', '.join(spec.options)}" if spec.options
                                     else "") + ")",
                                  "give a value the declared type takes (as a string)"))
    for spec in declared.inputs.values():
        if spec.required and spec.default is None and spec.name not in names \
                and spec.name != TAKO_INPUT:
            out.append(_error(config_file, sub_line, sub_col, "missing-input",
                              f"{sub.workflow} requires input {spec.name!r} ({spec.where}); "
                              f"{sub.describe()} does not give it: GitHub would refuse the "
                              "dispatch", f"add it under the subscription's inputs, e.g. "
                                          f"{spec.name}: \"{{{{ .event.payload.{spec.name} }}}}\""))
    if TAKO_INPUT not in declared.inputs:
        out.append(Diagnostic(
            Severity.WARNING,
            f"{sub.workflow} does not declare the '{TAKO_INPUT}' input: its runs get no "
            "cascade context, so a fan-out inside them starts a new tree instead of "
            "continuing this one", file=declared.where.file if declared.where else "",
            line=declared.where.line if declared.where else 0,
            col=declared.where.column if declared.where else 0, code="tako-input",
            hint=_tako_hint(declared)))
    return out


def _tako_hint(declared: WorkflowInputs) -> str:
    if declared.inputs:
        return ("add these two lines under on.workflow_dispatch.inputs (indented like the "
                "other inputs):\n      " + "\n      ".join(TAKO_LINES))
    # no inputs yet (maybe `on: workflow_dispatch` or a list): the block they go in
    return ("the workflow declares no inputs yet: write workflow_dispatch as a mapping "
            "under on: (keep its other triggers beside it), the last two lines being "
            "tako's:\n  on:\n    workflow_dispatch:\n      inputs:\n        "
            + "\n        ".join(TAKO_LINES))


def _at(declared: WorkflowInputs) -> str:
    return str(declared.where) if declared.where else declared.path


def _error(file: str, line: int, col: int, code: str, message: str, hint: str) -> Diagnostic:
    return Diagnostic(Severity.ERROR, message, file=file, line=line, col=col, hint=hint,
                      code=code)
