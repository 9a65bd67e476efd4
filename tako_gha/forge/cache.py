"""Discovery cache: ``tako.yml`` texts keyed by git blob oid, in one JSON file.

A blob oid is the hash of the file's content, so an entry can never be stale and
one file serves every org and host. The cache also remembers which orgs were
discovered before (so the next discovery asks only for oids) and the ETags of REST
contents answers (so the REST fallback's rediscovery gets free ``304``s).
The file is small enough for ``actions/cache`` and is written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("tako_gha.forge")

CACHE_FILE = "discovery-cache.json"
FORMAT = 1
MAX_BLOBS = 50_000  # ~ several orgs of 10,000 repos; oldest-used entries go first
MAX_ETAGS = 50_000


def default_cache_dir() -> Path | None:
    """``TAKO_CACHE_DIR`` if set (empty string disables the cache), else None."""
    value = os.environ.get("TAKO_CACHE_DIR")
    if value is None or value.strip() == "":
        return None
    return Path(value)


class BlobCache:
    """Load once, update in memory, ``save()`` at the end of a discovery."""

    def __init__(self, directory: Path | str | None) -> None:
        self.path = Path(directory) / CACHE_FILE if directory is not None else None
        self._blobs: dict[str, dict[str, Any]] = {}  # oid -> {"text": str, "used": epoch}
        self._orgs: dict[str, float] = {}  # "host/org" -> last discovery epoch
        self._etags: dict[str, dict[str, Any]] = {}  # url key -> {"etag", "oid"|None}
        self._dirty = False
        self._load()

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def _load(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            # A broken cache only costs a cold discovery; say so and start over.
            log.warning("ignoring unreadable discovery cache %s: %s", self.path, exc)
            return
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return
        blobs, orgs, etags = data.get("blobs"), data.get("orgs"), data.get("etags")
        if isinstance(blobs, dict):
            self._blobs = {k: v for k, v in blobs.items()
                           if isinstance(v, dict) and isinstance(v.get("text"), str)}
        if isinstance(orgs, dict):
            self._orgs = {k: float(v) for k, v in orgs.items() if isinstance(v, (int, float))}
        if isinstance(etags, dict):
            self._etags = {k: v for k, v in etags.items()
                           if isinstance(v, dict) and isinstance(v.get("etag"), str)}

    # ------------------------------------------------------------ blobs
    def get(self, oid: str | None) -> str | None:
        if oid is None:
            return None
        entry = self._blobs.get(oid)
        if entry is None:
            return None
        entry["used"] = time.time()
        self._dirty = True
        return str(entry["text"])

    def put(self, oid: str | None, text: str) -> None:
        if oid is None or self.path is None:
            return
        self._blobs[oid] = {"text": text, "used": time.time()}
        self._dirty = True

    def __len__(self) -> int:
        return len(self._blobs)

    # ------------------------------------------------------------ orgs
    def knows_org(self, key: str) -> bool:
        return key in self._orgs

    def mark_org(self, key: str) -> None:
        if self.path is not None:
            self._orgs[key] = time.time()
            self._dirty = True

    # ------------------------------------------------------------ etags (REST fallback)
    def etag(self, key: str) -> tuple[str, str | None] | None:
        entry = self._etags.get(key)
        if entry is None:
            return None
        oid = entry.get("oid")
        return str(entry["etag"]), (str(oid) if oid is not None else None)

    def put_etag(self, key: str, etag: str, oid: str | None) -> None:
        if self.path is not None:
            self._etags[key] = {"etag": etag, "oid": oid}
            self._dirty = True

    # ------------------------------------------------------------ persistence
    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        if len(self._blobs) > MAX_BLOBS:
            keep = sorted(self._blobs.items(), key=lambda kv: kv[1].get("used", 0),
                          reverse=True)[:MAX_BLOBS]
            self._blobs = dict(keep)
        if len(self._etags) > MAX_ETAGS:
            self._etags = dict(list(self._etags.items())[-MAX_ETAGS:])
        data = {"format": FORMAT, "blobs": self._blobs, "orgs": self._orgs,
                "etags": self._etags}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tako-cache-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError as exc:
            # Not fatal: discovery succeeded; the next one is just cold.
            log.warning("could not write discovery cache %s: %s", self.path, exc)
