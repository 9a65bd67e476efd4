"""The contract between ``action.yml``, the action entry and the emulator.

``action.yml`` maps every input to an environment variable ``TAKO_INPUT_<NAME>``
(upper case; never ``${{ inputs.* }}`` inside a script) and runs
``python -m tako_gha.surfaces.action``. The emulator, for a step that ``uses:`` the
tako action, sets the same variables from the step's ``with:`` (applying the
defaults below) and runs the same module. The entry writes its outputs to
``GITHUB_OUTPUT`` and the Markdown summary to ``GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

ENTRY_MODULE = "tako_gha.surfaces.action"
INPUT_ENV_PREFIX = "TAKO_INPUT_"

# input name -> default ("" = none). Keep in step with action.yml (a test checks).
INPUT_DEFAULTS: dict[str, str] = {
    "event_type": "",
    "payload": "{}",
    "schema_version": "",
    "wait_for_children": "true",
    "timeout": "30m",
    "discovery_timeout": "2m",
    "concurrency_limit": "20",
    "fail_fast": "false",
    "cancel_on_timeout": "false",
    "max_depth": "10",
    "dedupe": "none",
    "on_rerun": "resume",
    "org": "",  # default: the repository owner
    "repos": "",
    "config_path": "tako.yml",
    "token": "",
    "api_url": "",  # default: github.api_url
    "dry_run": "false",
    "allow_undeclared_event": "false",
    "expected_skips": "summary",
}
OUTPUTS = ("root_id", "status", "tree", "dispatched", "failed")


def env_name(input_name: str) -> str:
    return INPUT_ENV_PREFIX + input_name.upper()
