"""From checked data to the model: the checks the JSON Schema cannot express (owner
and repository names, artifact references, version ranges, CEL filters, templates,
workflow names, duplicates, subscriptions to the repository itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from tako_gha.core.cel import FilterError, compile_filter
from tako_gha.core.config.model import (
    _ARTIFACT_HINT,
    _ARTIFACT_NAME_RE,
    _PRODUCES,
    _SUBS,
    ArtifactRefError,
    JsonPath,
    Produced,
    RepoConfig,
    Subscription,
    _workflow_problem,
    parse_artifact_ref,
)
from tako_gha.core.config.yamldoc import _Doc, _Reporter, _where
from tako_gha.core.links import doc_url
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
        sub = Subscription(producer=producer, artifact=artifact, events=events,
                           schema_range=schema_range, filters=filters, workflow=workflow,
                           inputs=inputs, index=index, line=self.line(base))
        self.dispatch_fields(base, entry, sub)
        return sub

    def dispatch_fields(self, base: JsonPath, entry: dict[str, Any], sub: Subscription) -> None:
        """``trigger`` and ``ref`` (exact mode), and where the inputs and the workflow
        are written (lint and plan point at them)."""
        trigger, ref = entry.get("trigger"), entry.get("ref")
        sub.trigger = trigger if trigger in ("workflow_dispatch", "repository_dispatch") \
            else None
        sub.ref = ref if isinstance(ref, str) and ref else None
        if sub.trigger == "workflow_dispatch" and not sub.workflow and \
                not isinstance(entry.get("workflow"), str):
            path = (*base, "trigger")
            self.report.error(path, self.mark(path), "bad-trigger",
                              f"{_where(path)}: workflow_dispatch needs the workflow file",
                              "add `workflow: <file>.yml` naming the receiving workflow")
        for name in sub.inputs:
            mark = self.mark((*base, "inputs", name))
            if mark is not None:
                sub.input_marks[name] = (mark.line + 1, mark.column + 1)
        mark = self.mark((*base, "workflow"))
        if mark is not None and sub.workflow:
            sub.workflow_mark = (mark.line + 1, mark.column + 1)
        mark = self.mark((*base, "ref"))
        if mark is not None and sub.ref:
            sub.ref_mark = (mark.line + 1, mark.column + 1)

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
                f"simplify the filter; see {doc_url('filters.md')} for efficient patterns"
                if exc.limit
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
