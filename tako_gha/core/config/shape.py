"""The JSON Schema (``tako_gha/core/tako.schema.json``, shipped for editors) applied
to the data, each schema error rewritten into a human message at the mark of the
offending node, with a hint (and a did-you-mean for unknown keys)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from tako_gha.core.config.model import JsonPath
from tako_gha.core.config.yamldoc import _Doc, _Reporter, _where
from tako_gha.core.links import doc_url


def schema_text() -> str:
    """The JSON Schema of ``tako.yml`` as shipped in the package (for editors)."""
    return resources.files("tako_gha.core").joinpath("tako.schema.json").read_text("utf-8")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    # The schema is not recursive, so its "$ref"s can be inlined once; resolving them on
    # every validation was most of the cost of loading a file.
    data = schema()
    cls = jsonschema.validators.validator_for(data)
    return cls(_inline_refs(data, data["$defs"]))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _inline_refs(v, defs) for k, v in node.items() if k not in ("$ref", "$defs")}
    if "$ref" in node:
        target = _inline_refs(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        out = {**target, **out}  # keywords beside the $ref win, as annotations do
    return out


_TYPE_WORDS = {
    "object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
    "integer": "an integer", "boolean": "true or false", "null": "empty",
}
_TYPE_HINTS = {
    "object": "write `key: value` lines indented under it",
    "array": "write a YAML list: `- item` lines or [a, b]",
    "string": "quote the value so YAML reads it as text",
}


def _kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping"


def _type_ok(types: Any, value: Any) -> bool:
    names = [types] if isinstance(types, str) else list(types or [])
    checker = _validator().TYPE_CHECKER
    return any(checker.is_type(value, name) for name in names)


def _resolve(sub: dict[str, Any]) -> dict[str, Any]:
    while isinstance(sub, dict) and "$ref" in sub:
        sub = schema()["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
    return sub


class _SchemaMapper:
    """Rewrites jsonschema errors into human diagnostics at the offending node."""

    def __init__(self, doc: _Doc, report: _Reporter) -> None:
        self.doc = doc
        self.report = report
        self.suggested: set[tuple[JsonPath, str]] = set()  # (mapping path, key suggested there)

    def run(self) -> None:
        # "required" is checked before "additionalProperties" within one mapping; explain
        # the unknown keys first so a misspelt required key is reported once.
        for err in _unknown_keys_first(_validator().iter_errors(self.doc.data)):
            self.explain(err)

    def mark(self, path: JsonPath) -> yaml.Mark | None:
        while path not in self.doc.marks and path:
            path = path[:-1]
        return self.doc.marks.get(path)

    def explain(self, err: jsonschema.ValidationError) -> None:
        path: JsonPath = tuple(err.absolute_path)
        sub: dict[str, Any] = err.schema if isinstance(err.schema, dict) else {}
        kw = err.validator
        where = _where(path)
        if kw in ("anyOf", "oneOf"):
            self.explain_alternatives(err, path, sub, where)
            return
        if kw == "pattern" and sub.get("x-check"):
            return  # checked in Python with a more precise message (see _Builder)
        if "propertyNames" in err.absolute_schema_path:
            self.bad_key(path, str(err.instance), sub)
            return
        handler = getattr(self, f"on_{kw}", None)
        if handler is not None:
            handler(err, path, sub, where)
            return
        self.report.error(path, self.mark(path), sub.get("x-code", "invalid"),
                          f"{where}: {err.message}", sub.get("x-hint", _GENERIC_HINT))

    def explain_alternatives(self, err: jsonschema.ValidationError, path: JsonPath,
                             sub: dict[str, Any], where: str) -> None:
        # When exactly one alternative has the instance's type, its errors say more
        # ("unknown key 'typ'") than "not valid under any of the given schemas".
        fitting = [i for i, alt in enumerate(err.validator_value)
                   if _type_ok(_resolve(alt).get("type"), err.instance)]
        if len(fitting) == 1:
            inner = [e for e in err.context or [] if e.relative_schema_path[0] == fitting[0]]
            if inner:
                for e in _unknown_keys_first(inner):
                    self.explain(e)
                return
        message = sub.get("x-message", "has a value of the wrong shape")
        self.report.error(path, self.mark(path), sub.get("x-code", "wrong-type"),
                          f"{where}: {message}, got {_kind(err.instance)}",
                          sub.get("x-hint", _GENERIC_HINT))

    def on_type(self, err: jsonschema.ValidationError, path: JsonPath, sub: dict[str, Any],
                where: str) -> None:
        types = [err.validator_value] if isinstance(err.validator_value, str) \
            else list(err.validator_value)
        wanted = " or ".join(_TYPE_WORDS.get(t, t) for t in types if t != "null")
        hint = sub.get("x-hint") or _TYPE_HINTS.get(types[0], _GENERIC_HINT)
        self.report.error(path, self.mark(path), "wrong-type",
                          f"{where} must be {wanted}, got {_kind(err.instance)}", hint)

    def on_const(self, err: jsonschema.ValidationError, path: JsonPath, sub: dict[str, Any],
                 where: str) -> None:
        shown = json.dumps(err.instance, default=str)
        self.report.error(path, self.mark(path), sub.get("x-code", "invalid"),
                          f"{where} must be {json.dumps(err.validator_value)}, got {shown}",
                          sub.get("x-hint", _GENERIC_HINT))

    def on_required(self, err: jsonschema.ValidationError, path: JsonPath, sub: dict[str, Any],
                    where: str) -> None:
        missing = [k for k in err.validator_value if k not in err.instance]
        if path == () and missing == ["version"]:
            self.report.error(path, self.mark(path), "missing-version",
                              "version is missing", "write `version: 1` at the top of tako.yml")
            return
        if all((path, k) in self.suggested for k in missing):
            return  # the unknown key reported here is this one misspelt: one problem
        names = ", ".join(f"'{k}'" for k in missing)
        plural = "s" if len(missing) > 1 else ""
        self.report.error(path, self.mark(path), "missing-key",
                          f"{where} is missing the required key{plural} {names}",
                          sub.get("x-hint", f"add {names}"))

    def on_additionalProperties(self, err: jsonschema.ValidationError, path: JsonPath,
                                sub: dict[str, Any], where: str) -> None:
        allowed = list(sub.get("properties", {}))
        for key in err.instance:
            if key in allowed:
                continue
            close = _suggest(key, allowed)
            hint = "allowed keys here: " + ", ".join(allowed)
            place = "at the top level" if not path else f"in {where}"
            parent = _parent_of(key, sub)
            if close:
                message = f"unknown key '{key}' {place}; did you mean '{close[0]}'?"
            elif parent:
                message = f"unknown key '{key}' {place}; it belongs under '{parent}:'"
                hint = f"indent '{key}:' under '{parent}:'"
            else:
                message = f"unknown key '{key}' {place}"
            key_path = (*path, key)
            self.report.error(key_path, self.doc.key_marks.get(key_path) or self.mark(path),
                              "unknown-key", message, hint)
            if close:
                self.suggested.add((path, close[0]))

    def on_minItems(self, err: jsonschema.ValidationError, path: JsonPath, sub: dict[str, Any],
                    where: str) -> None:
        self.report.error(path, self.mark(path), sub.get("x-code", "invalid"),
                          f"{where} must not be empty", sub.get("x-hint", _GENERIC_HINT))

    def on_minLength(self, err: jsonschema.ValidationError, path: JsonPath, sub: dict[str, Any],
                     where: str) -> None:
        self.on_minItems(err, path, sub, where)

    def on_maxLength(self, err: jsonschema.ValidationError, path: JsonPath, sub: dict[str, Any],
                     where: str) -> None:
        self.report.error(path, self.mark(path), sub.get("x-code", "invalid"),
                          f"{where} is {len(err.instance)} characters long, more than "
                          f"{err.validator_value}", sub.get("x-hint", _GENERIC_HINT))

    def bad_key(self, path: JsonPath, key: str, sub: dict[str, Any]) -> None:
        if sub.get("x-check"):
            return  # artifact names: checked in Python
        key_path = (*path, key)
        self.report.error(key_path, self.doc.key_marks.get(key_path) or self.mark(path),
                          "invalid", f"key '{key}' in {_where(path)} is not allowed",
                          sub.get("x-hint", "keys here must be non-empty"))


def _parent_of(key: str, sub: dict[str, Any]) -> str | None:
    """The property of ``sub`` whose own mapping has ``key`` (``subscriptions`` -> events)."""
    for name, child in sub.get("properties", {}).items():
        if key in _resolve(child).get("properties", {}):
            return name
    return None


def _suggest(key: str, allowed: list[str]) -> list[str]:
    """The allowed key ``key`` most likely misspells: same letters, a prefix, or close."""
    lowered = {a.lower(): a for a in allowed}
    k = key.lower().replace("-", "_")
    if k in lowered:
        return [lowered[k]]
    prefixed = [a for a in allowed if len(k) >= 3 and (a.startswith(k) or k.startswith(a))]
    if len(prefixed) == 1:
        return prefixed
    return difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)


def _unknown_keys_first(
    errors: Iterable[jsonschema.ValidationError],
) -> list[jsonschema.ValidationError]:
    return sorted(errors, key=lambda e: e.validator != "additionalProperties")


_GENERIC_HINT = f"see {doc_url('tako-yml.md')} (or point your editor at tako.schema.json)"
