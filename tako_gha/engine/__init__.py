"""The engine: fan-out, correlation, the fleet poller, deadlines.

Talks to GitHub only through ``tako_gha.forge.base.Forge``; never imports PyGithub.
Public API (agreed; see ``engine.api``):
    fan_out(forge, request, options, observer=None) -> TreeReport
    watch(forge, root, org, options, observer=None) -> TreeReport   # status / wait ROOT
    cancel_tree(forge, root, org) -> list[tuple[str, int]]           # cancelled (repo, run)
"""
