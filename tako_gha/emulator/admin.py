"""The request log and counters behind ``/_emulator/requests`` and ``/_emulator/stats``.

Entries carry a token *id* (a short hash or a run-token label), never the token."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

LOG_LIMIT = 100_000  # keep memory bounded on long benchmark runs
PATH_LIMIT = 2048  # a logged path is cut here: 100,000 entries of 64 KB paths would be 6 GB


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._by_kind: Counter[tuple[str, int]] = Counter()
        self._blobs: Counter[str] = Counter()  # file contents served, by endpoint kind
        # requests per (token id, endpoint kind): where one token's budget went, over
        # every process that sent it (a benchmark's tree of processes, say)
        self._by_token: Counter[tuple[str, str]] = Counter()
        self._dropped = 0

    def record(
        self, method: str, path: str, status: int, token_id: str, kind: str, duration: float,
        blobs: int = 0,
    ) -> None:
        entry = {
            "time": time.time(),
            "method": method,
            "path": path if len(path) <= PATH_LIMIT else path[:PATH_LIMIT] + "…",
            "status": status,
            "token_id": token_id,
            "kind": kind,
            "duration_ms": round(duration * 1000, 3),
            "blobs": blobs,
        }
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > LOG_LIMIT:
                drop = len(self._entries) - LOG_LIMIT
                del self._entries[:drop]
                self._dropped += drop
            self._by_kind[(kind, status)] += 1
            self._by_token[(token_id, kind)] += 1
            if blobs:
                self._blobs[kind] += blobs

    def entries(self, since: float | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self._entries)
        if since is not None:
            items = [e for e in items if e["time"] >= since]
        return [dict(e) for e in items]

    def stats(self) -> dict[str, Any]:
        """``{"total": N, "by_kind": {kind: {status: n, "total": n}}, "by_status": {...},
        "blobs": {"total": n, kind: n}, "by_token": {token id: {kind: n}}}``; ``blobs``
        counts file contents served (a contents answer for a file, each GraphQL
        ``Blob.text``), so a caller can tell a listing that carried file text from one
        that carried only oids."""
        with self._lock:
            counts = dict(self._by_kind)
            blobs = dict(self._blobs)
            per_token = dict(self._by_token)
        by_token: dict[str, dict[str, int]] = {}
        for (token_id, kind), n in sorted(per_token.items()):
            by_token.setdefault(token_id, {})[kind] = n
        by_kind: dict[str, dict[str, int]] = {}
        by_status: dict[str, int] = {}
        for (kind, status), n in sorted(counts.items()):
            slot = by_kind.setdefault(kind, {"total": 0})
            slot[str(status)] = slot.get(str(status), 0) + n
            slot["total"] += n
            by_status[str(status)] = by_status.get(str(status), 0) + n
        return {"total": sum(counts.values()), "by_kind": by_kind, "by_status": by_status,
                "blobs": {"total": sum(blobs.values()), **dict(sorted(blobs.items()))},
                "by_token": by_token}

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_kind.clear()
            self._blobs.clear()
            self._by_token.clear()
            self._dropped = 0
