"""tako-gha: org-wide release cascades on GitHub Actions.

Layers (imports only point downwards):
- ``tako_gha.core``      pure model: config, versions, filters, templates, matching,
                         subscription graph, execution tree. No I/O.
- ``tako_gha.forge``     the narrow interface to GitHub (and a local workspace);
                         retries, rate limits, ETags live here only.
- ``tako_gha.engine``    fan-out, correlation, poller, deadlines. Never imports PyGithub.
- ``tako_gha.surfaces``  CLI, action entry, git hook, reports.
- ``tako_gha.emulator``  a GitHub-compatible server for loopback (its own world);
                         imports only ``core``.
The map of which file owns what: docs/architecture.md.
"""

__version__ = "0.1.0"
