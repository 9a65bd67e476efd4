"""The ``tako.yml`` model and loader (SPEC §2).

INTERFACE (agreed; the loader body is filled by the config work):

    load_config(text, *, path="tako.yml", repo=None) -> ConfigResult

never raises on bad input: every problem becomes a ``Diagnostic`` with
file:line:col taken from PyYAML node marks and a one-line hint. Errors: unknown
keys, wrong types, bad ``owner/repo``, unparsable ranges (``core.versions``), CEL
that does not compile (``core.filters``), templates naming no field
(``core.templates``). Warnings: duplicate subscriptions, subscriptions to the repo
itself. ``config`` is None only when the file cannot be used at all (YAML syntax
error, top level not a mapping, unsupported ``version``); otherwise the valid parts
are kept and the bad subscriptions are dropped with an error each.
The JSON Schema shipped at ``tako_gha/core/tako.schema.json`` describes the same
format for editors and is applied by the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tako_gha.core.diagnostics import Diagnostic, has_errors

if TYPE_CHECKING:
    from tako_gha.core.filters import CompiledFilter
    from tako_gha.core.templates import Template
    from tako_gha.core.versions import VersionRange

DEFAULT_CONFIG_PATH = "tako.yml"
DEFAULT_ARTIFACT = "default"


@dataclass(frozen=True)
class Produced:
    type: str
    schema_version: str | None = None
    line: int = 0


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


def load_config(text: str, *, path: str = DEFAULT_CONFIG_PATH, repo: str | None = None) -> ConfigResult:
    raise NotImplementedError  # filled by the config work (issue 3)
