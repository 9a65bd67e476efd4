"""``load_config``: one ``tako.yml`` text in, a ``ConfigResult`` out, never raising.

The text is composed with PyYAML's safe loader (libyaml when present, ``_LOADER``),
converted keeping marks (``yamldoc``), checked against the JSON Schema (``shape``),
then built into the model with the remaining checks (``builder``).
"""

from __future__ import annotations

import yaml

from tako_gha.core.config.builder import _Builder
from tako_gha.core.config.model import (
    DEFAULT_CONFIG_PATH,
    MAX_CHARS,
    MAX_DEPTH,
    MAX_NODES,
    ConfigResult,
    RepoConfig,
)
from tako_gha.core.config.shape import _kind, _SchemaMapper
from tako_gha.core.config.yamldoc import _START, _Converter, _Reporter, _TooLarge

# libyaml composes ~5x faster (10,000 repos' files in a discovery); same marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
