"""GitHub's published OpenAPI description, fetched once per machine.

``npm pack @octokit/openapi@23.0.2`` into the cache directory
(``$XDG_CACHE_HOME/tako-gha/openapi`` or ``~/.cache/tako-gha/openapi``) and extract
only ``generated/api.github.com.json``. Skips (with the reason) only when npm is absent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec import fetch_spec


@pytest.fixture(scope="session")
def github_spec() -> dict[str, Any]:
    return json.loads(fetch_spec().read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def openapi(github_spec: dict[str, Any]) -> Any:
    from openapi_core import Config, OpenAPI

    # Skipping the spec's self-validation: 0.3 s instead of ~20 s (docs/architecture.md).
    return OpenAPI.from_dict(github_spec, config=Config(spec_validator_cls=None))
