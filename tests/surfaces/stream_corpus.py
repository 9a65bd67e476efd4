"""FIFOs, devices, sockets, directories, symlinks and full disks where tako reads or
writes a file, each with what must happen. Data only: tests/engine/test_streams.py
and tests/surfaces/test_stream_corpus.py make each kind of file and run the cases.

A case is ``(id, target, kind, exit_code, fragment)``:

- ``target``: where the path goes: ``payload`` (``plan --payload @PATH``), ``event``
  (``GITHUB_EVENT_PATH``: read, or ignored when unreadable), ``tree-json`` and
  ``summary`` (``fan-out --no-wait --tree-json PATH`` / ``--summary PATH``),
  ``step-summary`` (``GITHUB_STEP_SUMMARY`` of a fan-out run inside Actions),
  ``output`` (the action's ``GITHUB_OUTPUT``).
- ``kind``: ``fifo`` (nobody at the other end), ``fifo-read`` (a reader waiting),
  ``fifo-write`` (a writer waiting), ``char-null``/``char-full``/``char-zero`` (device
  nodes like /dev/null, /dev/full, /dev/zero), ``link-full`` (a symlink to /dev/full),
  ``link-file`` (a symlink to a regular file), ``socket``, ``dir``, ``file``.
- ``exit_code`` 0: read (or written, and the file is still what it was: a device is
  still a device, a symlink still a symlink); 2: refused with ``fragment`` in the
  message (which names the path). Nothing ever waits: every case finishes at once.
"""

from __future__ import annotations

NOT_REGULAR = "not a regular file"

CASES: list[tuple[str, str, str, int, str]] = [
    # inputs: a regular file or nothing
    ("payload-fifo", "payload", "fifo", 2, "a FIFO (named pipe), not a regular file"),
    ("payload-fifo-writer", "payload", "fifo-write", 2, "a FIFO (named pipe), not a regular"),
    ("payload-char-zero", "payload", "char-zero", 2, "a character device, not a regular"),
    ("payload-char-null", "payload", "char-null", 2, "a character device, not a regular"),
    ("payload-socket", "payload", "socket", 2, "a socket, not a regular file"),
    ("payload-dir", "payload", "dir", 2, "a directory, not a regular file"),
    ("payload-link-file", "payload", "link-file", 0, ""),
    ("event-fifo", "event", "fifo", 0, ""),  # unreadable: no cascade context, no wait
    ("event-char-zero", "event", "char-zero", 0, ""),
    ("event-dir", "event", "dir", 0, ""),
    # outputs: written in place unless a regular file; never replaced; errors said
    ("tree-json-fifo", "tree-json", "fifo", 2, "a FIFO (named pipe), nobody is reading it"),
    ("tree-json-fifo-read", "tree-json", "fifo-read", 0, ""),
    ("tree-json-char-full", "tree-json", "char-full", 2, "No space left on device"),
    ("tree-json-link-full", "tree-json", "link-full", 2, "No space left on device"),
    ("tree-json-char-null", "tree-json", "char-null", 0, ""),
    ("tree-json-link-file", "tree-json", "link-file", 0, ""),
    ("tree-json-socket", "tree-json", "socket", 2, "a socket, not a file"),
    ("summary-link-full", "summary", "link-full", 2, "No space left on device"),
    ("summary-fifo", "summary", "fifo", 2, "nobody is reading it"),
    ("step-summary-link-full", "step-summary", "link-full", 2,
     "GITHUB_STEP_SUMMARY: cannot write"),
    ("step-summary-fifo", "step-summary", "fifo", 2, "nobody is reading it"),
    ("step-summary-dir", "step-summary", "dir", 2, "Is a directory; nothing was dispatched"),
    ("output-dir", "output", "dir", 2, "GITHUB_OUTPUT: cannot write"),
    ("output-fifo", "output", "fifo", 2, "nobody is reading it"),
    ("output-link-full", "output", "link-full", 2, "No space left on device"),
    ("output-file", "output", "file", 0, ""),
]
