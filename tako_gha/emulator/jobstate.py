"""One job's bookkeeping while it runs: its masks, its capped and masked log, its
step summaries and annotations, and the step processes it started (process groups,
output readers, the fail-fast group of a matrix job). Every text that reaches a
record (log, annotation, summary, step name) goes through ``mask`` first: secrets,
the run token and ``::add-mask::`` values become ``***``. Lines a step prints are
handed to ``emulator.commands``, which turns workflow commands into masks and
annotations.
"""

from __future__ import annotations

import re
import subprocess
import threading

from tako_gha.emulator import commands, composite
from tako_gha.emulator.logs import LOG_LIMIT_CHARS, JobLog
from tako_gha.emulator.masking import Masks
from tako_gha.emulator.state import AnnotationRecord, JobRecord, RunStore

MASK = commands.MASK
_LINE_BREAKS = re.compile(r"[\r\n]+")


def mask_values(value: str) -> set[str]:
    """What masking ``value`` hides: the value and, as GitHub's runner does, each of
    its lines, trimmed (a log line never holds a line break, so a multi-line secret is
    only ever seen a line at a time)."""
    found = {value} if value.strip() else set()
    found.update(line.strip() for line in _LINE_BREAKS.split(value) if line.strip())
    return found


class JobState:
    """Per-job bookkeeping: masks, capped log, summaries, annotations."""

    def __init__(self, record: JobRecord, store: RunStore, masks: set[str],
                 group: threading.Event | None = None) -> None:
        self.record = record
        self.group = group or threading.Event()  # fail-fast of a matrix job
        # the running step was started *after* cancellation (if: always()/cancelled()):
        # a cancel does not kill it, only stop() does (GitHub's force-cancel)
        self.cancel_immune = False
        self.live: set[subprocess.Popen[bytes]] = set()
        self.store = store
        self.masks = Masks()
        for value in masks:
            self.masks.add(mask_values(value))
        self.lock = threading.Lock()
        self.log = JobLog(LOG_LIMIT_CHARS, mask=self.mask)
        self.step_number = 0  # the step whose output is being written (0: the job's own)
        self.post: list[composite.PostStep] = []  # post steps of actions (actions/cache)
        self._file_keys = 0
        self.summaries: list[str] = []
        self.pgids: set[int] = set()
        self.readers: list[threading.Thread] = []
        self.stop_token: str | None = None

    def next_file_key(self) -> str:
        """A fresh name part for one step process's files (GITHUB_OUTPUT …, scripts)."""
        with self.lock:
            self._file_keys += 1
            return str(self._file_keys)

    def mask(self, text: str) -> str:
        return self.masks.hide(text)

    def add_mask(self, value: str) -> None:
        self.masks.add(mask_values(value.strip()))

    def write_log(self, line: str) -> None:
        self.log.write(self.mask(line), self.step_number)

    def annotate(self, level: str, message: str, title: str = "", path: str = ".github",
                 line: int = 1, log: bool = True) -> None:
        # masked in every field: `::error file=<secret>::` must not store the secret
        note = AnnotationRecord(level=level, message=self.mask(message),
                                title=self.mask(title), path=self.mask(path), line=line)
        with self.store.lock:
            self.record.annotations.append(note)
        if log:  # as on GitHub, the runner's own errors show in the log too
            word = {"failure": "error"}.get(level, level)
            self.write_log(f"##[{word}]{message}")

    def handle_output_line(self, raw: str) -> None:
        """One line a step printed: a workflow command or plain log."""
        commands.handle_line(self, raw)
