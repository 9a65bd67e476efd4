"""The ``tako.yml`` model and loader (format: docs/tako-yml.md).

INTERFACE (agreed; the loader body is filled by the config work):

    load_config(text, *, path="tako.yml", repo=None) -> ConfigResult

never raises on bad input: every problem becomes a ``Diagnostic`` with
file:line:col taken from PyYAML node marks and a one-line hint. Errors: unknown
keys, wrong types, bad ``owner/repo``, unparsable ranges (``core.versions``), CEL
that does not compile (``core.cel``), templates naming no field
(``core.templates``). Warnings: duplicate subscriptions, subscriptions to the repo
itself. ``config`` is None only when the file cannot be used at all (YAML syntax
error, top level not a mapping, unsupported ``version``); otherwise the valid parts
are kept and the bad subscriptions are dropped with an error each.
The JSON Schema shipped at ``tako_gha/core/tako.schema.json`` describes the same
format for editors and is applied by the loader.

Added (compatible):
    missing_config(repo, path="tako.yml") -> ConfigResult   # missing=True, no diagnostics
    parse_artifact_ref(text) -> (owner/repo, artifact)       # raises ArtifactRefError
                                                             # (.message, .hint)
    schema_text() / schema() -> the JSON Schema (text / dict)
    Diagnostic codes (stable): see ``CODES``.

Decisions the format leaves open:
- An empty file (or only comments) is a warning ``empty-file`` and a config with
  nothing in it; a missing ``version`` is an error but the rest is still used;
  ``version`` other than 1 makes the file unusable (config None).
- Duplicate subscriptions = same producer (case-insensitive) and artifact, same set of
  event types, same range and same set of filters; the later one warns, both are kept.
  A subscription to the repo itself warns and is kept.
- Version-like values are read as written (``schema_version: 1.10`` is 1.10, not the
  float 1.1); YAML anchors and ``<<`` merge keys work; custom tags are errors.
- Errors inside CEL filters and templates point at the column inside the value when
  the value is on one line without escapes before that column.
Editors: ``# yaml-language-server: $schema=<path or URL of tako.schema.json>`` at the top
of a tako.yml gives completion and the same checks as far as JSON Schema can express.

How it works: the text is *composed* (not constructed) with PyYAML's safe loader
(libyaml when present), so every value keeps its node's start mark. The node tree is
turned into plain JSON-like data while recording, for every JSON path, the mark of the
value and of its key. The JSON Schema is applied to that data and each schema error is
rewritten into a human message at the mark of the offending node. Checks the schema
cannot express (owner and repo name rules, ranges, CEL, templates, duplicates) run
afterwards in Python.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from tako_gha.core.cel import FilterError, compile_filter
from tako_gha.core.diagnostics import Diagnostic, Severity, has_errors
from tako_gha.core.templates import TemplateError, parse_template
from tako_gha.core.versions import (
    RangeError,
    VersionError,
    parse_range,
    parse_version,
    quote_short,
)

if TYPE_CHECKING:
    from tako_gha.core.cel import CompiledFilter
    from tako_gha.core.templates import Template
    from tako_gha.core.versions import VersionRange

DEFAULT_CONFIG_PATH = "tako.yml"
DEFAULT_ARTIFACT = "default"

# Stable diagnostic codes (tests and ``--format json`` rely on them).
CODES = {
    "yaml-syntax": "the text is not valid YAML",
    "not-mapping": "the top level is not a mapping",
    "empty-file": "the file holds no configuration (warning)",
    "too-large": "too many YAML nodes (alias expansion) or nesting too deep",
    "missing-version": "no `version:` key",
    "bad-version": "`version` is not 1",
    "unknown-key": "a key the format does not have",
    "missing-key": "a required key is absent",
    "wrong-type": "a value of the wrong type",
    "duplicate-key": "the same key twice in one mapping",
    "key-not-string": "a mapping key that is not a string",
    "unknown-tag": "a YAML tag such as !foo",
    "recursive-alias": "an alias that contains itself",
    "bad-merge": "a `<<` merge of something that is not a mapping",
    "bad-artifact": "`artifact` is not owner/repo[:artifact]",
    "bad-artifact-name": "an artifact name with characters GitHub-style names do not allow",
    "bad-events": "`events` is empty",
    "bad-event": "an event that is neither a string nor {type: ...}",
    "bad-event-type": "an empty or over-long event type",
    "bad-range": "`schema_version` of a subscription is not a range",
    "bad-filter": "a CEL filter that does not compile",
    "filter-limit": "a CEL filter over a cost limit",
    "costly-filter": "a CEL filter whose cost grows faster than the payload (warning)",
    "bad-template": "an input template naming no field",
    "bad-workflow": "`workflow` is not a .yml/.yaml file name",
    "bad-produces": "a `produces` entry without a type",
    "bad-schema-version": "a `produces` schema_version that is not a version",
    "invalid": "any other schema violation",
    "duplicate-subscription": "the same subscription twice (warning)",
    "self-subscription": "a subscription to the repository itself (warning)",
    "duplicate-produces": "the same produced type twice (warning)",
    "internal-error": "a bug in the loader (never expected)",
}

# A pathological file (alias bombs, absurd nesting) must be refused quickly.
MAX_NODES = 100_000
MAX_CHARS = 1_000_000  # GitHub's contents API serves files up to 1 MB inline anyway
MAX_DEPTH = 64
MAX_MESSAGE = 400  # characters of one diagnostic's message

# New GitHub accounts may not use "--" or a trailing "-", but older ones do, and their
# repositories are listed by discovery: only the first character is strict.
_OWNER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_NAME_CHARS_RE = re.compile(r"[A-Za-z0-9._-]+")
_ARTIFACT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

JsonPath = tuple[str | int, ...]
_SUBS: JsonPath = ("events", "subscriptions")
_PRODUCES: JsonPath = ("events", "produces")


@dataclass(frozen=True)
class Produced:
    type: str
    schema_version: str | None = None
    line: int = 0
    # A payload like the ones this event carries: the pre-push hook plans with it when
    # no real payload is given, so payload filters are judged instead of "depends".
    example_payload: dict[str, Any] | None = None


@dataclass
class Subscription:
    """One entry of ``events.subscriptions``."""

    producer: str  # "owner/repo" of the artifact
    artifact: str  # artifact name, "default" when omitted
    events: list[str]
    schema_range: VersionRange | None = None  # None = any version
    filters: list[CompiledFilter] = field(default_factory=list)
    workflow: str | None = None  # only runs of this workflow file count
    inputs: dict[str, Template] = field(default_factory=dict)
    index: int = 0  # position in the subscriptions list
    line: int = 0  # line of the entry in the file

    @property
    def artifact_ref(self) -> str:
        return f"{self.producer}:{self.artifact}"

    def describe(self) -> str:
        """Short human name, e.g. ``subscriptions[2] (my-org/core-lib:default)``."""
        return f"subscriptions[{self.index}] ({self.artifact_ref})"


@dataclass
class RepoConfig:
    repo: str | None  # "owner/repo" when known
    path: str
    version: int = 1
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> description
    produces: list[Produced] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)

    def produced_version(self, event_type: str) -> str | None:
        return next((p.schema_version for p in self.produces if p.type == event_type), None)

    def produces_type(self, event_type: str) -> bool:
        return any(p.type == event_type for p in self.produces)


@dataclass
class ConfigResult:
    """A repo's config (None if missing or unusable) and what was found wrong."""

    repo: str
    path: str
    config: RepoConfig | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    missing: bool = False  # no tako.yml at all: "no subscriptions", not an error

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def missing_config(repo: str, path: str = DEFAULT_CONFIG_PATH) -> ConfigResult:
    """The result for a repository without a ``tako.yml``: no subscriptions, no problem."""
    return ConfigResult(repo=repo, path=path, config=None, missing=True)


# --------------------------------------------------------------------------- schema


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


# --------------------------------------------------------------------------- artifact refs


class ArtifactRefError(ValueError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_artifact_ref(text: str) -> tuple[str, str]:
    """``owner/repo[:artifact]`` -> ``("owner/repo", artifact)``; GitHub's name rules."""
    ref, colon, artifact = text.partition(":")
    if colon and not artifact:
        raise ArtifactRefError(f"'{text}' ends with ':' but names no artifact",
                               f"drop the ':' to mean '{DEFAULT_ARTIFACT}', or write {ref}:NAME")
    owner, slash, repo = ref.partition("/")
    if not slash:
        raise ArtifactRefError(f"'{text}' is not owner/repo",
                               "write owner/repo or owner/repo:artifact, e.g. my-org/core-lib")
    _check_owner(text, owner)
    _check_repo(text, repo)
    if colon and not _ARTIFACT_NAME_RE.fullmatch(artifact):
        raise ArtifactRefError(f"'{text}' has a bad artifact name '{artifact}'", _ARTIFACT_HINT)
    return f"{owner}/{repo}", artifact or DEFAULT_ARTIFACT


_ARTIFACT_HINT = (
    "artifact names are letters, digits, '.', '_' and '-' (at most 100), "
    "starting with a letter or digit"
)


def _check_owner(text: str, owner: str) -> None:
    rules = "GitHub owner names are letters, digits and hyphens, at most 39 characters"
    if not owner:
        raise ArtifactRefError(f"'{text}' has an empty owner", "write owner/repo")
    if len(owner) > 39:
        raise ArtifactRefError(f"owner '{owner}' in '{text}' is longer than 39 characters", rules)
    if not _OWNER_RE.fullmatch(owner):
        raise ArtifactRefError(f"owner '{owner}' in '{text}' is not a valid GitHub owner name",
                               rules + ", not starting with a hyphen")


def _check_repo(text: str, repo: str) -> None:
    rules = "GitHub repository names are letters, digits, '.', '_' and '-', at most 100"
    if not repo:
        raise ArtifactRefError(f"'{text}' has an empty repository name", "write owner/repo")
    if "/" in repo:
        raise ArtifactRefError(f"'{text}' has more than one '/'",
                               "write owner/repo; an artifact goes after ':' (owner/repo:NAME)")
    if len(repo) > 100:
        raise ArtifactRefError(f"repository name in '{text}' is longer than 100 characters", rules)
    if not _NAME_CHARS_RE.fullmatch(repo) or repo in (".", ".."):
        raise ArtifactRefError(f"repository '{repo}' in '{text}' is not a valid name", rules)
    if repo.lower().endswith(".git"):
        raise ArtifactRefError(f"repository '{repo}' in '{text}' ends with .git",
                               f"name the repository without .git: {repo[:-4]}")


def _workflow_problem(value: str) -> tuple[str, str] | None:
    if "/" in value or "\\" in value:
        base = re.split(r"[/\\]", value)[-1]
        return (f"a workflow file name is needed, not a path: '{value}'",
                f"write just the file name, e.g. {base or 'rebuild.yml'}")
    if not re.fullmatch(r".+\.ya?ml", value):
        return (f"'{value}' is not a workflow file name ending in .yml or .yaml",
                "name the workflow file in .github/workflows, e.g. rebuild.yml")
    return None


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


# libyaml composes ~5x faster (10,000 repos' files in a discovery); same marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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


# --------------------------------------------------------------------------- schema errors

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


_GENERIC_HINT = "see docs/tako-yml.md (or point your editor at tako.schema.json)"


# --------------------------------------------------------------------------- building


class _Builder:
    """Turns validated data into the model, running the checks the schema cannot."""

    def __init__(self, doc: _Doc, report: _Reporter, text: str, path: str,
                 repo: str | None) -> None:
        self.doc = doc
        self.lines = text.split("\n")
        self.report = report
        self.path = path
        self.repo = repo

    def mark(self, path: JsonPath) -> yaml.Mark | None:
        return self.doc.marks.get(path)

    def build(self) -> RepoConfig:
        data: dict[str, Any] = self.doc.data
        config = RepoConfig(repo=self.repo, path=self.path)
        config.artifacts = self.artifacts(data.get("artifacts"))
        events = data.get("events")
        if isinstance(events, dict):
            config.produces = self.produces(events.get("produces"))
            config.subscriptions = self.subscriptions(events.get("subscriptions"))
        return config

    # -- artifacts and produces

    def artifacts(self, value: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        if not isinstance(value, dict):
            return out
        for name, body in value.items():
            path = ("artifacts", name)
            if not _ARTIFACT_NAME_RE.fullmatch(name):
                self.report.error(path, self.doc.key_marks.get(path), "bad-artifact-name",
                                  f"bad artifact name '{name}'", _ARTIFACT_HINT)
            if self.report.errors_under(path):
                continue
            if isinstance(body, dict):
                out[name] = str(body.get("description") or "")
            else:
                out[name] = body or ""
        return out

    def produces(self, value: Any) -> list[Produced]:
        out: list[Produced] = []
        if not isinstance(value, list):
            return out
        seen: dict[str, int] = {}
        for j, entry in enumerate(value):
            base = (*_PRODUCES, j)
            produced = self.produced(base, entry)
            if produced is None or self.report.errors_under(base):
                continue
            if produced.type in seen:
                self.report.warning(base, self.mark(base), "duplicate-produces",
                                    f"{_where(base)} declares '{produced.type}' again",
                                    f"it is already declared on line {seen[produced.type]}")
                continue
            seen[produced.type] = produced.line
            out.append(produced)
        return out

    def produced(self, base: JsonPath, entry: Any) -> Produced | None:
        line = self.line(base)
        if isinstance(entry, str):
            return Produced(type=entry, line=line)
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            return None
        version = self.version_text(base, entry.get("schema_version"))
        if version is not None:
            try:
                version = str(parse_version(version))
            except VersionError as exc:
                vpath = (*base, "schema_version")
                self.report.error(vpath, self.mark(vpath), "bad-schema-version",
                                  f"{_where(vpath)}: {exc.reason}", exc.hint)
        example = entry.get("example_payload")
        return Produced(type=entry["type"], schema_version=version, line=line,
                        example_payload=example if isinstance(example, dict) else None)

    def version_text(self, base: JsonPath, value: Any) -> str | None:
        """A version as written: YAML reads ``1.10`` as the float 1.1, so use the raw text."""
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float):
            return self.doc.raw.get((*base, "schema_version"), str(value))
        return value if isinstance(value, str) else None

    def line(self, path: JsonPath) -> int:
        mark = self.mark(path)
        return mark.line + 1 if mark is not None else 0

    # -- subscriptions

    def subscriptions(self, value: Any) -> list[Subscription]:
        out: list[Subscription] = []
        if not isinstance(value, list):
            return out
        seen: dict[tuple[Any, ...], Subscription] = {}
        for i, entry in enumerate(value):
            base = (*_SUBS, i)
            sub = self.subscription(base, i, entry) if isinstance(entry, dict) else None
            if sub is None or self.report.errors_under(base):
                continue  # dropped: its errors are reported
            self.warn_self(base, sub)
            key = (sub.producer.lower(), sub.artifact, tuple(sorted(set(sub.events))),
                   sub.schema_range.text if sub.schema_range is not None else None,
                   tuple(sorted(f.source for f in sub.filters)))
            if key in seen:
                first = seen[key]
                self.report.warning(base, self.mark(base), "duplicate-subscription",
                                    f"{_where(base)} duplicates subscriptions[{first.index}] "
                                    f"(line {first.line})",
                                    "remove one of them: when both match, only the first is used")
            else:
                seen[key] = sub
            out.append(sub)
        return out

    def warn_self(self, base: JsonPath, sub: Subscription) -> None:
        if self.repo and sub.producer.lower() == self.repo.lower():
            apath = (*base, "artifact")
            self.report.warning(apath, self.mark(apath), "self-subscription",
                                f"{_where(base)} subscribes {self.repo} to its own events",
                                "a repository dispatching to itself loops (a cycle of "
                                "length 1); subscribe to another repository")

    def subscription(self, base: JsonPath, index: int,
                     entry: dict[str, Any]) -> Subscription | None:
        producer_artifact = self.artifact_ref(base, entry.get("artifact"))
        events = self.events(entry.get("events"))
        schema_range = self.schema_range(base, entry.get("schema_version"))
        filters = self.filters(base, entry.get("filters"))
        workflow = self.workflow(base, entry.get("workflow"))
        inputs = self.inputs(base, entry.get("inputs"))
        if producer_artifact is None or not events:
            return None
        producer, artifact = producer_artifact
        return Subscription(producer=producer, artifact=artifact, events=events,
                            schema_range=schema_range, filters=filters, workflow=workflow,
                            inputs=inputs, index=index, line=self.line(base))

    def artifact_ref(self, base: JsonPath, value: Any) -> tuple[str, str] | None:
        if not isinstance(value, str):
            return None
        try:
            return parse_artifact_ref(value)
        except ArtifactRefError as exc:
            path = (*base, "artifact")
            self.report.error(path, self.mark(path), "bad-artifact",
                              f"{_where(path)}: {exc.message}", exc.hint)
            return None

    @staticmethod
    def events(value: Any) -> list[str]:
        out: list[str] = []
        for item in value if isinstance(value, list) else []:
            name = item.get("type") if isinstance(item, dict) else item
            if isinstance(name, str) and name not in out:
                out.append(name)
        return out

    def schema_range(self, base: JsonPath, value: Any) -> VersionRange | None:
        text = self.version_text(base, value)
        if text is None:
            return None
        try:
            return parse_range(text)
        except RangeError as exc:
            path = (*base, "schema_version")
            # At the bad part when the range says where (and the value is plain on one
            # line), else the start of the value; the message quotes the bad part.
            self.report.error(path, self.inner_mark(path, text, exc.column), "bad-range",
                              f"{_where(path)}: invalid version range {quote_short(text)}: "
                              f"{exc.reason}", exc.hint)
            return None

    def filters(self, base: JsonPath, value: Any) -> list[CompiledFilter]:
        out: list[CompiledFilter] = []
        for j, source in enumerate(value if isinstance(value, list) else []):
            if not isinstance(source, str) or not source:
                continue
            path = (*base, "filters", j)
            compiled = self.compile(path, source)
            if compiled is not None:
                out.append(compiled)
        return out

    def compile(self, path: JsonPath, source: str) -> CompiledFilter | None:
        try:
            compiled = compile_filter(source)
        except FilterError as exc:
            code = "filter-limit" if exc.limit else "bad-filter"
            hint = exc.hint or (
                "simplify the filter; see docs/filters.md for efficient patterns" if exc.limit
                else "check the CEL syntax; the variables are `event` and `subscriber`")
            mark = self.inner_mark(path, source, exc.column, max(exc.line, 1))
            self.report.error(path, mark, code,
                              f"{_where(path)}: {exc.message}", hint)
            return None
        for warning in compiled.warnings():
            mark = self.inner_mark(path, source, warning.column, max(warning.line, 1))
            self.report.warning(path, mark, "costly-filter",
                                f"{_where(path)}: {warning.message}", warning.hint)
        return compiled

    def inner_mark(self, path: JsonPath, source: str, column: int,
                   line: int = 1) -> yaml.Mark | None:
        """Where in the file (``line``, ``column``) of a string value is, when certain.

        For a value written on one line, plain or quoted, whose text in the file is
        exactly the value up to that column (no escapes before it), and for literal
        (``|``) and folded (``>``) blocks whose lines are the value's; otherwise the
        start of the value. Used for CEL and template errors."""
        mark = self.mark(path)
        style = self.doc.styles.get(path)
        if mark is not None and column >= 1 and style in ("|", ">"):
            return self._block_mark(mark, style, source, line, column) or mark
        if mark is None or column < 1 or line > 1 or style not in (None, "", "'", '"'):
            return mark
        start = mark.column + (1 if style in ("'", '"') else 0)
        row = self.lines[mark.line] if mark.line < len(self.lines) else ""
        prefix = source[: column - 1]
        if "\n" in prefix or row[start : start + len(prefix)] != prefix:
            return mark
        return yaml.Mark(mark.name, mark.index, mark.line, start + column - 1, None, None)

    def _block_mark(self, mark: yaml.Mark, style: str, source: str, line: int,
                    column: int) -> yaml.Mark | None:
        """(line, column) of a ``|`` or ``>`` block value, mapped to its file row; None
        when the rows are not plainly the value (blank or more-indented lines)."""
        rows: list[str] = []
        indent = -1
        for row in self.lines[mark.line + 1:]:
            lead = len(row) - len(row.lstrip(" "))
            if not row.strip() or (indent >= 0 and lead < indent):
                break
            indent = lead if indent < 0 else indent
            rows.append(row[indent:].rstrip())
        if not rows or any(row.startswith(" ") for row in rows):
            return None
        if style == "|":
            wanted = source.split("\n")
            if wanted[: len(rows)] != rows or line > len(rows):
                return None
            row, col = line - 1, column - 1
        else:
            if line > 1 or " ".join(rows) != source.rstrip("\n"):
                return None
            row, col = 0, column - 1
            while row < len(rows) - 1 and col > len(rows[row]):
                col -= len(rows[row]) + 1  # the space a line break folded into
                row += 1
        if col > len(rows[row]):
            return None  # a column past its row (a multi-line template's offset)
        return yaml.Mark(mark.name, mark.index, mark.line + 1 + row, indent + col, None, None)

    def workflow(self, base: JsonPath, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        problem = _workflow_problem(value)
        if problem is not None:
            path = (*base, "workflow")
            message, hint = problem
            self.report.error(path, self.mark(path), "bad-workflow",
                              f"{_where(path)}: {message}", hint)
            return None
        return value

    def inputs(self, base: JsonPath, value: Any) -> dict[str, Template]:
        out: dict[str, Template] = {}
        if not isinstance(value, dict):
            return out
        for name, text in value.items():
            if not isinstance(text, str):
                continue
            path = (*base, "inputs", name)
            try:
                out[name] = parse_template(text)
            except TemplateError as exc:
                self.report.error(path, self.inner_mark(path, text, exc.column), "bad-template",
                                  f"{_where(path)}: {exc.message}", exc.hint or _TEMPLATE_HINT)
        return out


_TEMPLATE_HINT = "templates read event fields, e.g. {{ .event.payload.version }}"


# --------------------------------------------------------------------------- entry point


def load_config(text: str | bytes, *, path: str = DEFAULT_CONFIG_PATH,
                repo: str | None = None) -> ConfigResult:
    """Parse and check one ``tako.yml``. Never raises: problems become diagnostics.

    ``text`` may also be the raw bytes of the blob (decoded as UTF-8)."""
    report = _Reporter(path)
    try:
        config = _load(text, path, repo, report)
    except Exception as exc:  # last line of defence: a loader bug must not stop a cascade
        report.error((), _START, "internal-error",
                     f"internal error while reading the file: {type(exc).__name__}: {exc}",
                     "this is a bug in tako-gha; please report it with the file")
        config = None
    return ConfigResult(repo=repo or "", path=path, config=config,
                        diagnostics=report.diagnostics())


def _load(text: str | bytes, path: str, repo: str | None,
          report: _Reporter) -> RepoConfig | None:
    if isinstance(text, bytes):  # raw blob contents: tako.yml is UTF-8 text
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            report.error((), _START, "yaml-syntax", f"the file is not UTF-8 text: {exc.reason} "
                         f"at byte {exc.start}", "save tako.yml as UTF-8")
            return None
    if len(text) > MAX_CHARS:
        report.error((), _START, "too-large",
                     f"the file is {len(text):,} characters long, over the limit of "
                     f"{MAX_CHARS:,}", "a tako.yml needs a few kilobytes; remove what is not "
                     "configuration")
        return None
    node = _compose(text, report)
    if node is False:
        return None
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        report.warning((), _START, "empty-file", f"empty {path}: it declares nothing",
                       "add `version: 1` and your subscriptions, or delete the file")
        return RepoConfig(repo=repo, path=path)
    try:
        doc = _Converter(report).run(node)
    except (_TooLarge, RecursionError):
        report.error((), node.start_mark, "too-large",
                     f"the file has more than {MAX_NODES} values or is nested deeper than "
                     f"{MAX_DEPTH} levels (alias expansion?)",
                     "write the subscriptions out plainly; avoid deeply nested aliases")
        return None
    if not isinstance(doc.data, dict):
        report.error((), node.start_mark, "not-mapping",
                     f"the top level of {path} must be a mapping, got {_kind(doc.data)}",
                     "start the file with `version: 1` and then `events:`")
        return None
    _SchemaMapper(doc, report).run()
    if report.errors_under(("version",)):
        return None  # another format version: nothing else can be trusted
    return _Builder(doc, report, text, path, repo).build()


def _compose(text: str, report: _Reporter) -> yaml.Node | bool | None:
    """The node tree, None for an empty document, False after a reported syntax error."""
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if "nesting depth" in problem:
            # libyaml (PyYAML >= 6.0.4) refuses deep nesting itself: the same refusal as
            # our own depth bound, so the same code, at the place it stopped reading
            report.error((), mark, "too-large", f"the YAML is nested too deeply to read "
                         f"({problem})", "flatten the structure; tako.yml needs only a "
                         "few levels")
            return False
        if not exc.context:
            message = f"invalid YAML: {problem}"
        elif exc.context.startswith("while"):
            # e.g. an unclosed "[" is found at the end of the file: say where it opened
            started = exc.context_mark
            where = "" if started is None or mark is None or started.line == mark.line \
                else f" (started on line {started.line + 1}, column {started.column + 1})"
            message = f"invalid YAML {exc.context}{where}: {problem}"
        else:
            message = f"invalid YAML: {exc.context}, {problem}"
        report.error((), mark, "yaml-syntax", message, _yaml_hint(message))
    except yaml.reader.ReaderError as exc:
        pos = max(0, min(exc.position, len(text)))
        line = text.count("\n", 0, pos)
        mark = yaml.Mark("", pos, line, pos - (text.rfind("\n", 0, pos) + 1), None, None)
        report.error((), mark, "yaml-syntax", f"invalid YAML: {exc.reason}",
                     "save the file as UTF-8 text without control characters")
    except yaml.YAMLError as exc:
        report.error((), _START, "yaml-syntax", f"invalid YAML: {exc}", _yaml_hint(str(exc)))
    except RecursionError:
        report.error((), _START, "too-large", "the YAML is nested too deeply to read",
                     "flatten the structure; tako.yml needs only a few levels")
    return False


def _yaml_hint(problem: str) -> str:
    hints = [
        ("'\\t'", "YAML does not allow tabs for indentation: use spaces"),
        ("tab character", "YAML does not allow tabs for indentation: use spaces"),
        ("mapping values are not allowed", "quote values that contain ': ', or fix the "
                                           "indentation of this line"),
        ("could not find expected ':'", "a key is missing its ':' or a quote is not closed"),
        ("expected a single document", "tako.yml holds one YAML document: remove the extra "
                                       "'---'"),
        ("undefined alias", "define the anchor (&name) before using the alias (*name)"),
        ("end of stream", "a quote or bracket is not closed"),
        ("'<stream end>'", "a quote or bracket is not closed"),
        ("expected <block end>", "check the indentation: this line does not line up with "
                                 "the lines above it"),
        ("expected ',' or ']'", "a [list] is not closed with ']', or its items are not "
                                "separated by commas"),
        ("expected ',' or '}'", "a {mapping} is not closed with '}', or its items are not "
                                "separated by commas"),
        ("did not find expected key", "check the indentation: items of one mapping must "
                                      "line up"),
        ("did not find expected '-'", "check the indentation: items of one list must "
                                      "line up"),
    ]
    for needle, hint in hints:
        if needle in problem:
            return hint
    return "fix the YAML syntax at this position (indentation, quotes, brackets)"

