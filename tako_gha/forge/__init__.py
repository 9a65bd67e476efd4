"""The forge layer: one narrow interface to GitHub (or a local workspace).

Everything about HTTP — auth, base URLs, retries, rate limits, ETags, pagination —
lives under this package and nowhere else. The engine talks to ``Forge`` only.
"""

from tako_gha.forge.base import (
    CostLedger,
    DiscoveredRepo,
    Discovery,
    DispatchOutcome,
    Forge,
    ForgeError,
    RepoSelection,
    RunInfo,
)

__all__ = [
    "CostLedger",
    "DiscoveredRepo",
    "Discovery",
    "DispatchOutcome",
    "Forge",
    "ForgeError",
    "RepoSelection",
    "RunInfo",
]
