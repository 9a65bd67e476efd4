"""The ``tako.yml`` model: what a loaded file is (``RepoConfig``, ``Subscription``,
``Produced``, ``ConfigResult``), the stable diagnostic codes, the size limits, and the
name rules shared by the loader's checks (``parse_artifact_ref``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tako_gha.core.diagnostics import Diagnostic, has_errors

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
    "bad-trigger": "`trigger` is not workflow_dispatch or repository_dispatch, or "
                   "workflow_dispatch without `workflow`",
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
    workflow: str | None = None  # the receiving workflow file (exact mode when it listens)
    inputs: dict[str, Template] = field(default_factory=dict)
    index: int = 0  # position in the subscriptions list
    line: int = 0  # line of the entry in the file
    # "workflow_dispatch" | "repository_dispatch" | None (exact mode when `workflow`
    # listens on workflow_dispatch); ``ref``: the branch or tag a workflow dispatch uses
    trigger: str | None = None
    ref: str | None = None
    # file:line:col of each input's value, and of `workflow` (lint and plan point there)
    input_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    workflow_mark: tuple[int, int] | None = None
    ref_mark: tuple[int, int] | None = None

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
