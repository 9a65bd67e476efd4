"""YAML to plain data, keeping where every value was written.

``_Converter`` turns the composed node tree into JSON-like data and records, per JSON
path, the mark of the value and of its key (and the raw text and quoting style of
scalars), so every later check can point at ``file:line:col``. ``_Reporter`` collects
the diagnostics of one file, in file order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from tako_gha.core.config.model import (
    _KEY_RE,
    _PRODUCES,
    _SUBS,
    MAX_DEPTH,
    MAX_MESSAGE,
    MAX_NODES,
    JsonPath,
)
from tako_gha.core.diagnostics import Diagnostic, Severity

# --------------------------------------------------------------------------- YAML -> data


@dataclass
class _Issue:
    path: JsonPath
    diagnostic: Diagnostic


class _TooLarge(Exception):
    pass


@dataclass
class _Doc:
    """Plain data plus, per JSON path, the mark of the value, of its key, and raw text."""

    data: Any = None
    marks: dict[JsonPath, yaml.Mark] = field(default_factory=dict)
    key_marks: dict[JsonPath, yaml.Mark] = field(default_factory=dict)
    raw: dict[JsonPath, str] = field(default_factory=dict)
    styles: dict[JsonPath, str | None] = field(default_factory=dict)  # scalar quoting style


class _Converter:
    """Node tree -> JSON-like data, recording marks; problems go to ``report``."""

    _KINDS = (str, int, float, bool, type(None))

    def __init__(self, report: _Reporter) -> None:
        self.report = report
        self.doc = _Doc()
        self.constructor = yaml.constructor.SafeConstructor()
        self.count = 0

    def run(self, node: yaml.Node) -> _Doc:
        self.doc.data = self.convert(node, (), frozenset())
        return self.doc

    def convert(self, node: yaml.Node, path: JsonPath, active: frozenset[int]) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(path) > MAX_DEPTH:
            raise _TooLarge
        self.doc.marks[path] = node.start_mark
        if id(node) in active:
            self.report.error(path, node.start_mark, "recursive-alias",
                              f"{_where(path)} is an alias that contains itself",
                              "replace the recursive alias with the value it should have")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if node.tag not in _COLLECTION_TAGS:
            self.unknown_tag(node, path)
        active = active | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i), active) for i, item in enumerate(node.value)]
        return self.mapping(node, path, active)

    def scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        self.doc.raw[path] = node.value
        self.doc.styles[path] = node.style
        try:
            value = self.constructor.construct_object(node)
        except yaml.YAMLError:
            self.unknown_tag(node, path)
            return node.value
        except (ValueError, TypeError, OverflowError):
            return node.value  # e.g. an impossible timestamp: keep what was written
        # A number too big for 64 bits (``0x`` + 5,000 digits) is kept as written: no
        # field takes one, and printing it would need Python's big-int conversion.
        if isinstance(value, int) and not isinstance(value, bool) and \
                value.bit_length() > 64:
            return node.value
        # Timestamps, binary and the like are not JSON: keep the text as written.
        return value if isinstance(value, self._KINDS) else node.value

    def unknown_tag(self, node: yaml.Node, path: JsonPath) -> None:
        self.report.error(path, node.start_mark, "unknown-tag",
                          f"{_where(path)} has an unsupported YAML tag {node.tag}",
                          "remove the tag; tako.yml uses plain YAML values")

    def mapping(self, node: yaml.MappingNode, path: JsonPath, active: frozenset[int]) -> Any:
        own = {id(k) for k, _ in node.value if k.tag != _MERGE_TAG}
        if self.merges_itself(node):
            self.report.error(path, node.start_mark, "recursive-alias",
                              f"{_where(path)} merges itself ('<<' of its own anchor)",
                              "merge another mapping, not the one being defined")
            node.value = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        try:
            self.constructor.flatten_mapping(node)  # apply `<<: *anchor` merges
        except yaml.YAMLError as exc:
            self.report.error(path, _mark_of(exc) or node.start_mark, "bad-merge",
                              f"bad '<<' merge in {_where(path)}",
                              "'<<' merges only mappings (or a list of mappings)")
            # Keep the mapping's own keys; only the broken merge is ignored.
            node.value = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        out: dict[str, Any] = {}
        written: set[str] = set()  # keys written in this mapping itself, not merged in
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            child = (*path, key)
            # Merged keys come first; a later one (own, or from a later merge) overrides.
            if key in out and key in written and id(key_node) in own:
                first = self.doc.key_marks[child].line + 1
                self.report.error(child, key_node.start_mark, "duplicate-key",
                                  f"duplicate key '{key}' in {_where(path)}",
                                  f"each key may appear once; the first is on line {first}")
                continue
            if id(key_node) in own:
                written.add(key)
            self.doc.key_marks[child] = key_node.start_mark
            out[key] = self.convert(value_node, child, active)
        return out

    @staticmethod
    def merges_itself(node: yaml.MappingNode) -> bool:
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                items = value.value if isinstance(value, yaml.SequenceNode) else [value]
                if any(item is node for item in items):
                    return True
        return False

    def key(self, node: yaml.Node, path: JsonPath) -> str | None:
        value: Any = node.value
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError):
                value = node.value
            if isinstance(value, str):
                return value
            shown = node.value
        else:
            shown = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        self.report.error(path, node.start_mark, "key-not-string",
                          f"key {shown!r} in {_where(path)} is not a string",
                          f"quote the key so YAML reads it as text, e.g. \"{node.value}\":"
                          if isinstance(node, yaml.ScalarNode) else "keys must be plain strings")
        return None


_MERGE_TAG = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_START = yaml.Mark("", 0, 0, 0, None, None)  # line 1, column 1


def _mark_of(exc: BaseException) -> yaml.Mark | None:
    return getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)


# --------------------------------------------------------------------------- reporting


def _where(path: JsonPath) -> str:
    """``("events", "subscriptions", 0, "filters", 1)`` -> ``subscriptions[0].filters[1]``."""
    if not path:
        return "the top level"
    if len(path) > 2 and path[:2] in (_SUBS, _PRODUCES):
        path = path[1:]
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _KEY_RE.fullmatch(seg):
            out += ("." if out else "") + seg
        else:
            out += f"[{seg!r}]"
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _one_line(text: str) -> str:
    """Messages quote user text; keep each diagnostic on one line whatever it holds."""
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], text)


class _Reporter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[_Issue] = []

    def add(self, severity: Severity, path: JsonPath, mark: yaml.Mark | None, code: str,
            message: str, hint: str) -> None:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        if len(message) > MAX_MESSAGE:  # a message quoting a huge value: its start
            message = message[: MAX_MESSAGE - 3] + "..."
        diag = Diagnostic(severity, _one_line(message), file=self.file, line=line, col=col,
                          hint=_one_line(hint), code=code)
        self.issues.append(_Issue(path, diag))

    def error(self, path: JsonPath, mark: yaml.Mark | None, code: str, message: str,
              hint: str) -> None:
        self.add(Severity.ERROR, path, mark, code, message, hint)

    def warning(self, path: JsonPath, mark: yaml.Mark | None, code: str, message: str,
                hint: str) -> None:
        self.add(Severity.WARNING, path, mark, code, message, hint)

    def errors_under(self, prefix: JsonPath) -> bool:
        n = len(prefix)
        return any(i.diagnostic.is_error and i.path[:n] == prefix for i in self.issues)

    def diagnostics(self) -> list[Diagnostic]:
        seen: set[Diagnostic] = set()
        out: list[Diagnostic] = []
        for issue in self.issues:
            if issue.diagnostic not in seen:
                seen.add(issue.diagnostic)
                out.append(issue.diagnostic)
        # Stable sort: file order first; issues found at one spot keep their order.
        return sorted(out, key=lambda d: (d.line, d.col))
