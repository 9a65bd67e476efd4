"""A job's log and summary as GitHub's run page shows them (for ``emulator.pages``).

The log holds what GitHub's holds (``emulator.commands`` consumed the workflow
commands): the page shows the runner's ``##[error]``/``##[warning]``/``##[notice]``
lines as annotations, folds ``##[group]`` … ``##[endgroup]`` (each step's ``Run …``
header, a step's ``::group::``) into a collapsible group, and wraps long lines. The
job summary is Markdown (CommonMark with tables, as GitHub's): raw HTML is shown as
text except ``<br>``, links keep only safe schemes, and a Mermaid block is shown as its
source (there is no network to fetch a renderer; GitHub draws it).
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from html import escape

from markdown_it import MarkdownIt

from tako_gha.emulator.logs import LogLine, stamp

_RUNNER_MARK = re.compile(r"^##\[(group|endgroup|error|warning|notice)\](.*)$")
_LEVELS = {"error": ("failure", "Error"), "warning": ("warning", "Warning"),
           "notice": ("notice", "Notice")}
_BREAK = re.compile(r"&lt;br\s*/?&gt;")
_MERMAID = '<pre><code class="language-mermaid">'
PAGE_SUMMARY_CHARS = 128 * 1024

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

    def add(self, line: LogLine) -> None:
        stamp_html = f'<span class="ts">{escape(stamp(line.at + self.shift))}</span> '
        mark = _RUNNER_MARK.match(line.text)
        name, data = (mark.group(1), mark.group(2)) if mark else ("", line.text)
        if name == "group":
            self.close()
            self.out.append(f"<details><summary>{stamp_html}{escape(data)}</summary>")
            self.in_group = True
        elif name == "endgroup":
            self.close()
        elif name:
            level, word = _LEVELS[name]
            self.out.append(f'<div>{stamp_html}<span class="note {level}">{word}:</span> '
                            f"{escape(data)}</div>")
        else:
            self.out.append(f"<div>{stamp_html}{escape(data)}</div>")

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
    """A job summary (Markdown) as HTML that runs nothing: no raw HTML but ``<br>``;
    "" for an empty one. At most ``PAGE_SUMMARY_CHARS`` are rendered (a Markdown
    renderer takes seconds on a megabyte of table), the rest is said to be cut."""
    if not markdown.strip():
        return ""
    return _render_summary(markdown[:PAGE_SUMMARY_CHARS], len(markdown))


@functools.lru_cache(maxsize=32)  # a finished job's summary never changes: render once
def _render_summary(markdown: str, total: int) -> str:
    renderer = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    body = _BREAK.sub("<br>", renderer.render(markdown))
    body = body.replace(_MERMAID, '<p class="ts">Mermaid diagram (its source; GitHub '
                                  'draws it)</p>' + _MERMAID)
    if total > len(markdown):
        body += (f'<p class="ts">… the summary is {total:,} characters; this page shows '
                 f"the first {len(markdown):,}.</p>")
    return body
