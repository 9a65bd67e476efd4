"""A job's log and summary as GitHub's run page shows them (for ``emulator.pages``).

The log keeps what steps printed (as the log downloads serve it); the page reads it
the way GitHub's does: ``::add-mask::``, ``::debug::`` and ``::stop-commands::`` lines
are consumed, ``::error``/``::warning``/``::notice`` (and the runner's own
``##[error]`` …) are shown as annotations, ``::group::``/``##[group]`` … ``endgroup``
fold into a collapsible group, and long lines wrap. The job summary is Markdown
(CommonMark with tables, as GitHub's): raw HTML is shown as text except ``<br>``,
links keep only safe schemes, and a Mermaid block is shown as its source (there is no
network to fetch a renderer; GitHub draws it).
"""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape

from markdown_it import MarkdownIt

from tako_gha.emulator.commands import parse_command, parse_props, unescape_data
from tako_gha.emulator.logs import LogLine, stamp

_RUNNER_MARK = re.compile(r"^##\[(group|endgroup|error|warning|notice|debug)\](.*)$")
_LEVELS = {"error": ("failure", "Error"), "warning": ("warning", "Warning"),
           "notice": ("notice", "Notice")}
_CONSUMED = ("add-mask", "debug", "echo")
_BREAK = re.compile(r"&lt;br\s*/?&gt;")
_MERMAID = '<pre><code class="language-mermaid">'

STYLE = """
.log{background:#f6f8fa;padding:1em;font:.85em ui-monospace,monospace;
white-space:pre-wrap;overflow-wrap:anywhere}
.log details{margin:0} .log summary{cursor:pointer}
.ts{color:#59636e} .note{font-weight:600}
.note.failure{color:#cf222e} .note.warning{color:#9a6700} .note.notice{color:#0969da}
.summary{border:1px solid #d0d7de;padding:0 1em;overflow-wrap:anywhere}
.summary pre{white-space:pre-wrap}
"""


class _LogPage:
    """Turns log lines into the page's HTML, one line at a time."""

    def __init__(self, skew: float) -> None:
        self.shift = timedelta(seconds=skew)
        self.out: list[str] = []
        self.in_group = False
        self.stop: str | None = None  # ::stop-commands:: token: commands read as text

    def add(self, line: LogLine) -> None:
        stamp_html = f'<span class="ts">{escape(stamp(line.at + self.shift))}</span> '
        text = line.text
        mark = _RUNNER_MARK.match(text)
        command = None if mark else parse_command(text)
        if command is not None and self.stop is not None:
            if command[0] == self.stop.lower():
                self.stop = None
                return
            command = None
        if mark is not None:
            name, props, data = mark.group(1), {}, mark.group(2)
        elif command is not None:
            name, props, data = command[0], parse_props(command[1]), unescape_data(command[2])
        else:
            self.out.append(f"<div>{stamp_html}{escape(text)}</div>")
            return
        self._command(stamp_html, text, name, props, data)

    def _command(self, stamp_html: str, text: str, name: str, props: dict[str, str],
                 data: str) -> None:
        if name == "group":
            self.close()
            self.out.append(f"<details><summary>{stamp_html}{escape(data)}</summary>")
            self.in_group = True
        elif name == "endgroup":
            self.close()
        elif name in _LEVELS:
            level, word = _LEVELS[name]
            title = f"{escape(props['title'])}: " if props.get("title") else ""
            self.out.append(f'<div>{stamp_html}<span class="note {level}">{word}:</span> '
                            f"{title}{escape(data)}</div>")
        elif name == "stop-commands":
            self.stop = data.strip() or None
        elif name not in _CONSUMED:  # not a command GitHub knows: printed as it is
            self.out.append(f"<div>{stamp_html}{escape(text)}</div>")

    def close(self) -> None:
        if self.in_group:
            self.out.append("</details>")
            self.in_group = False


def log_html(lines: list[LogLine], skew: float = 0.0) -> str:
    """The log block of a job's page (``skew``: seconds the emulator's clock is off)."""
    if not lines:
        return '<div class="log">(no log: the job did not run)</div>'
    page = _LogPage(skew)
    for line in lines:
        page.add(line)
    page.close()
    return '<div class="log">' + "".join(page.out) + "</div>"


def summary_html(markdown: str) -> str:
    """A job summary (Markdown) as HTML that runs nothing: no raw HTML but ``<br>``."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    body = _BREAK.sub("<br>", renderer.render(markdown))
    return body.replace(_MERMAID, '<p class="ts">Mermaid diagram (its source; GitHub '
                                  'draws it)</p>' + _MERMAID)
