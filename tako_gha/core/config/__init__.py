"""The ``tako.yml`` model and loader (format: docs/tako-yml.md). This package's
``__init__`` is its public face; the parts:

- ``model``: the dataclasses, the stable diagnostic ``CODES``, the size limits, name rules;
- ``yamldoc``: YAML nodes to plain data keeping every value's mark; the reporter;
- ``shape``: the shipped JSON Schema applied, its errors rewritten for people;
- ``builder``: the checks the schema cannot express, building the model;
- ``loader``: ``load_config``, tying them together.

INTERFACE:

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

from tako_gha.core.config.loader import load_config
from tako_gha.core.config.model import (
    CODES,
    DEFAULT_ARTIFACT,
    DEFAULT_CONFIG_PATH,
    MAX_CHARS,
    MAX_DEPTH,
    MAX_MESSAGE,
    MAX_NODES,
    ArtifactRefError,
    ConfigResult,
    JsonPath,
    Produced,
    RepoConfig,
    Subscription,
    missing_config,
    parse_artifact_ref,
)
from tako_gha.core.config.shape import schema, schema_text

__all__ = [
    "CODES", "DEFAULT_ARTIFACT", "DEFAULT_CONFIG_PATH", "MAX_CHARS", "MAX_DEPTH",
    "MAX_MESSAGE", "MAX_NODES", "ArtifactRefError", "ConfigResult", "JsonPath", "Produced",
    "RepoConfig", "Subscription", "load_config", "missing_config", "parse_artifact_ref",
    "schema", "schema_text",
]
