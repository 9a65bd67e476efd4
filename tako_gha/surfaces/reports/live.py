"""A live view of the cascade for people: an ``engine.api.Observer``.

On a terminal it draws the tree with rich (states, run ids, a progress line),
redrawn in place at most every ``min_interval`` seconds. When output is not a
terminal (CI logs, pipes, the action) it prints one plain line per node state
change and per message instead, so logs stay readable and grep-able.
"""

from __future__ import annotations

import json
import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from tako_gha.core.tree import Node, NodeState, TreeReport
from tako_gha.engine import streams
from tako_gha.surfaces.reports.common import STATE_ICON, descendants, one_line, progress

STATE_STYLE: dict[NodeState, str] = {
    NodeState.SUCCESS: "green",
    NodeState.IN_PROGRESS: "yellow",
    NodeState.QUEUED: "yellow",
    NodeState.DISPATCHED: "cyan",
    NodeState.PLANNED: "cyan",
    NodeState.SKIPPED: "dim",
    NodeState.DEDUPLICATED: "dim",
}
MAX_LIVE_NODES = 60  # the live view is for a glance; the final summary has all


class LiveTree:
    """Observer printing the tree live (TTY) or as progress lines (not a TTY)."""

    def __init__(self, console: Console | None = None, *, min_interval: float = 0.2) -> None:
        self.console = console or Console(stderr=True)
        self.min_interval = min_interval
        self._live: Live | None = None
        self._last_draw = 0.0
        self._seen: dict[str, NodeState] = {}
        self._started = time.monotonic()
        self._report: TreeReport | None = None

    # -------------------------------------------------------------- observer
    def on_update(self, report: TreeReport) -> None:
        self._report = report
        if self.console.is_terminal:
            self._draw(report)
        else:
            self._print_changes(report)

    def on_message(self, text: str) -> None:
        if self.console.is_terminal:
            self.console.print(Text(text, style="dim"))
        else:
            self.console.print(f"{self._clock()} {one_line(text)}", highlight=False, markup=False,
                               soft_wrap=True)

    # -------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Stop redrawing (leaves the last frame on screen)."""
        if self._live is not None:
            if self._report is not None:
                self._live.update(self._renderable(self._report), refresh=True)
            self._live.stop()
            self._live = None

    def __enter__(self) -> LiveTree:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -------------------------------------------------------------- plain lines
    def _clock(self) -> str:
        return f"[{time.monotonic() - self._started:6.1f}s]"

    def _print_changes(self, report: TreeReport) -> None:
        changed: list[tuple[Node, NodeState | None]] = []
        for node in descendants(report):
            before = self._seen.get(node.id)
            if before is not node.state:
                changed.append((node, before))
                self._seen[node.id] = node.state
        if not changed:
            return
        counts = progress(report).phrase()
        for node, before in changed:
            arrow = f"{before.value} → " if before is not None else ""
            line = f"{self._clock()} {node.repo}: {arrow}{node.state.value}"
            if node.runs:
                line += " (" + ", ".join(r.label() for r in node.runs) + ")"
            if node.reason and node.state.is_terminal:
                line += f" — {one_line(node.reason)}"
            line += f"  [{counts}]"
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    # -------------------------------------------------------------- terminal
    def _draw(self, report: TreeReport) -> None:
        now = time.monotonic()
        if self._live is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        elif now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._live.update(self._renderable(report), refresh=True)

    def _renderable(self, report: TreeReport) -> Group:
        counts = progress(report)
        bar_width = 24
        filled = int(bar_width * counts.done / counts.total) if counts.total else bar_width
        header = Text.assemble(
            ("tako ", "bold"), (report.root, "bold cyan"), "  ",
            ("█" * filled, "green"), ("░" * (bar_width - filled), "dim"),
            f"  {counts.done}/{counts.total} done",
            (f", {counts.failed} failed" if counts.failed else "", "red"),
            (f", {counts.stopped} cancelled or timed out" if counts.stopped else "", "yellow"),
            f"  {time.monotonic() - self._started:.1f}s",
        )
        shown = [0]
        tree = Tree(Text(f"{report.origin.repo} (origin)", style="bold"))
        self._add_children(tree, report.origin, shown)
        hidden = counts.total - shown[0]
        parts: list[Text | Tree] = [header, tree]
        if hidden > 0:
            parts.append(Text(f"… {hidden} more nodes", style="dim"))
        return Group(*parts)

    def _add_children(self, branch: Tree, node: Node, shown: list[int]) -> None:
        for child in node.children:
            if shown[0] >= MAX_LIVE_NODES:
                return
            shown[0] += 1
            label = Text.assemble(
                f"{STATE_ICON[child.state]} ", (child.repo, "bold"), " ",
                (child.state.value, STATE_STYLE.get(child.state, "red")),
            )
            if child.runs:
                label.append("  " + ", ".join(r.label() for r in child.runs), "dim")
            if child.reason and child.state.is_terminal:
                label.append(f"  {child.reason}", "dim")
            self._add_children(branch.add(label), child, shown)


# Progress chatter: in the log and the tree already, left out of the summary notes.
PROGRESS_PREFIXES = ("dispatched ", "found ", "fanning out ")


class RecordingObserver:
    """Wraps the live tree: keeps the latest tree (so Ctrl-C can name the root) and
    the fan-out's messages worth a summary's notes (skipped repositories, warnings,
    re-sent dispatches, API trouble), for the CLI's --summary and the action's.
    With ``tree_json``, the tree JSON is rewritten there (atomically) on every
    update, so a process killed midway leaves its latest tree behind."""

    def __init__(self, live: LiveTree, tree_json: str | None = None) -> None:
        self.live = live
        self.report: TreeReport | None = None
        self.notes: list[str] = []
        self.tree_json = tree_json
        self.write_failed: str | None = None

    def on_update(self, report: TreeReport) -> None:
        self.report = report
        # Rewritten on every update only where a reader sees whole files (a regular
        # file, replaced atomically); a FIFO or a device gets the final tree once.
        if (self.tree_json and self.write_failed is None
                and streams.is_replaceable(self.tree_json)):
            try:
                streams.write_text(self.tree_json,
                                   json.dumps(report.to_json(), indent=2) + "\n", atomic=True)
            except OSError as exc:  # said once; the final write reports it as an error
                self.write_failed = str(exc.strerror or exc)
                self.on_message(f"--tree-json: cannot write {self.tree_json}: "
                                f"{self.write_failed}")
        self.live.on_update(report)

    def on_message(self, text: str) -> None:
        if not text.startswith(PROGRESS_PREFIXES):
            self.notes.append(text)
        self.live.on_message(text)

    def close(self) -> None:
        self.live.close()
