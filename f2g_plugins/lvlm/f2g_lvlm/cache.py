"""An on-disk cache of LVLM answers, safe under concurrent writers (threads, processes, several runs).

A re-run of the same seed asks the same questions about the same frames; answering them from disk makes it free
and reproducible (a cached run makes zero calls). Each entry is one small JSON file named by the SHA-256 of its
key, written to a temporary file in the same folder and moved into place with an atomic ``os.replace``: a reader
sees either no entry or a whole one, and concurrent writers of one key simply leave one complete copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("f2g.lvlm")

CACHE_DIR_ENV = "F2G_LVLM_CACHE_DIR"
"""Environment variable overriding the default cache folder (tests point it at a temporary folder)."""


def default_cache_dir() -> Path:
    """``$F2G_LVLM_CACHE_DIR``, else ``<user cache dir>/f2g/lvlm`` (platformdirs)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("f2g")) / "lvlm"


def cache_key(parts: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``parts`` (provider, model, template version, scale, parameters, image
    hash, prompt, sample index …)."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class AnswerCache:
    """Maps keys (hex digests) to JSON-serializable dicts, one file per entry under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry, or None when missing or unreadable (a damaged file counts as a miss, never an error)."""
        path = self._path(key)
        try:
            with path.open("r", encoding="utf-8") as handle:
                value = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable LVLM cache entry %s: %s", path, exc)
            return None
        return value if isinstance(value, dict) else None

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Write atomically; a failure to write (full disk, read-only folder) is logged, not raised."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(value, handle, sort_keys=True)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("could not write LVLM cache entry %s: %s", path, exc)

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        removed = 0
        if self.root.is_dir():
            for entry in self.root.glob("*/*.json"):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed
