"""Reports people read: the Markdown job summary, a plain text tree, a live view.

- ``render_markdown(report)``: GitHub job summary (failures first, the tree with
  states and run links, a Mermaid diagram, the cost ledger), kept under the 1 MiB
  step-summary limit by truncating gracefully.
- ``render_text(report)``: the tree as plain text, for logs and non-terminals.
- ``LiveTree(console=None)``: an ``engine.api.Observer`` showing the tree live on a
  terminal (rich), or plain progress lines when output is not a terminal.
"""

from __future__ import annotations

from tako_gha.surfaces.reports.live import LiveTree
from tako_gha.surfaces.reports.markdown import MAX_SUMMARY_BYTES, render_markdown
from tako_gha.surfaces.reports.text import render_text

__all__ = ["MAX_SUMMARY_BYTES", "LiveTree", "render_markdown", "render_text"]
