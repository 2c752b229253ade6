"""The results store: one SQLite file per eval directory, one row per (item id, seed, config hash).

Why SQLite: a finished job is committed in one transaction, so ``kill -9`` at any moment leaves either the whole
row or none (WAL journal; no half-written CSV lines), and the primary key makes a second copy of a job impossible
— a re-run, a Ray task retried after its worker died, or a second process all insert-or-ignore. ``results.csv``
is derived from it, never appended to.

The directory lock (:func:`lock_directory`) makes a second ``f2g eval`` on the same DIR refuse with a message
naming the process that holds it, instead of racing it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from f2g_core.errors import F2GError
from filelock import FileLock, Timeout

from f2g_eval.jobs import JobResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    item_id     TEXT    NOT NULL,
    seed        INTEGER NOT NULL,
    config_hash TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    seed_index  INTEGER NOT NULL,
    prompt      TEXT    NOT NULL,
    category    TEXT,
    dimension   TEXT    NOT NULL,
    metrics     TEXT    NOT NULL,  -- JSON object: column -> value (null: does not apply; NaN: failed, see events)
    model_calls INTEGER NOT NULL,
    reward_calls INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    cost_usd    REAL    NOT NULL,
    seconds     REAL    NOT NULL,
    run_dir     TEXT    NOT NULL,
    steps       TEXT    NOT NULL,  -- JSON list: per guided step, every candidate's combined reward
    events      TEXT    NOT NULL,  -- JSON list of the trace's notes (budget stops, fallbacks) and failed metrics
    worker      TEXT    NOT NULL,
    finished_at REAL    NOT NULL,
    PRIMARY KEY (item_id, seed, config_hash)
);
CREATE TABLE IF NOT EXISTS configs (
    config_hash TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    config      TEXT NOT NULL      -- JSON of the validated run config
);
CREATE TABLE IF NOT EXISTS failures (
    item_id TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL,
    error TEXT NOT NULL, failed_at REAL NOT NULL
);
"""

_COLUMNS = (
    "item_id",
    "seed",
    "config_hash",
    "config",
    "seed_index",
    "prompt",
    "category",
    "dimension",
    "metrics",
    "model_calls",
    "reward_calls",
    "tokens",
    "cost_usd",
    "seconds",
    "run_dir",
    "steps",
    "events",
    "worker",
    "finished_at",
    "reward_rounds",
    "phase_seconds",
)
_ADDED_COLUMNS = {"reward_rounds": "INTEGER NOT NULL DEFAULT 0", "phase_seconds": "TEXT NOT NULL DEFAULT '{}'"}
"""Columns newer than the first schema: added to an existing store when it is opened (its rows keep defaults)."""


class DirectoryInUse(F2GError):
    """Another ``f2g eval`` holds the output directory."""


class StoreError(F2GError):
    """The results store could not be read (damaged) or written (disk full); the message says what to do."""


def _fix(path: Path, error: sqlite3.Error) -> str:
    """What to do about a SQLite error on the store at ``path``."""
    text = str(error).lower()
    if "full" in text:
        return "the disk is full: free space and re-run the same command (finished jobs are kept)"
    if isinstance(error, sqlite3.OperationalError) and "malformed" not in text:
        return f"check that {path.parent} is writable and has space, then re-run the same command"
    return (
        f"it is damaged (a truncated or foreign file?): move it away (mv {path} {path}.broken) and re-run; the jobs "
        "are then redone, or use another --out"
    )


@contextmanager
def _guard(path: Path, what: str) -> Iterator[None]:
    """sqlite3 errors as one line naming the store and the fix."""
    try:
        yield
    except sqlite3.Error as error:
        raise StoreError(f"results store {path}: {what} failed ({error}); {_fix(path, error)}") from None


class Store:
    """The store of one eval directory; use from one thread (the engine's driver), as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _guard(self.path, "opening it"):
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            present = {row[1] for row in self.db.execute("PRAGMA table_info(results)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in present:
                    self.db.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        with _guard(self.path, what):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def add_config(self, config_hash: str, name: str, config_json: str) -> None:
        with self._transaction(f"recording config {name!r}") as db:
            db.execute("INSERT OR REPLACE INTO configs VALUES (?, ?, ?)", (config_hash, name, config_json))

    def add(self, row: JobResult) -> bool:
        """Commit one finished job; False when the store already had it (never a second copy)."""
        data = row.to_dict()
        values = {
            **data,
            "metrics": json.dumps(data["metrics"]),
            "steps": json.dumps(data["steps"]),
            "events": json.dumps(data["events"]),
            "phase_seconds": json.dumps(data["phase_seconds"]),
            "finished_at": time.time(),
        }
        saved = f"recording the job of item {row.item_id!r} seed {row.seed} (its video is saved in {row.run_dir})"
        with self._transaction(saved) as db:
            cursor = db.execute(
                f"INSERT OR IGNORE INTO results ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                [values[c] for c in _COLUMNS],
            )
            db.execute(
                "DELETE FROM failures WHERE item_id = ? AND seed = ? AND config_hash = ?",
                (row.item_id, row.seed, row.config_hash),
            )
            return cursor.rowcount == 1

    def add_failure(self, key: tuple[str, int, str], error: str) -> None:
        with self._transaction(f"recording the failure of item {key[0]!r} seed {key[1]} ({error})") as db:
            db.execute("INSERT INTO failures VALUES (?, ?, ?, ?, ?)", (*key, error, time.time()))

    def done(self) -> set[tuple[str, int, str]]:
        """Keys of every finished job."""
        with _guard(self.path, "reading it"):
            return {(i, s, h) for i, s, h in self.db.execute("SELECT item_id, seed, config_hash FROM results")}

    def prompts(self) -> dict[str, str]:
        with _guard(self.path, "reading it"):
            return dict(self.db.execute("SELECT DISTINCT item_id, prompt FROM results"))

    def rows(self, keys: Iterable[tuple[str, int, str]] | None = None) -> list[JobResult]:
        """Finished jobs as results (all of them, or those with the given keys, in that order)."""
        with _guard(self.path, "reading it"):
            records = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM results").fetchall()
        found = {}
        for record in records:
            data = dict(zip(_COLUMNS, record, strict=True))
            for name in ("metrics", "steps", "events", "phase_seconds"):
                data[name] = json.loads(data[name])
            data.pop("finished_at")
            result = JobResult(**data)
            found[result.key] = result
        if keys is None:
            return list(found.values())
        return [found[key] for key in keys if key in found]


def lock_directory(directory: Path) -> FileLock:
    """Hold ``directory``'s lock for this process, or raise :class:`DirectoryInUse` naming its holder."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / ".eval.lock")
    owner = directory / ".eval.owner"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = owner.read_text(encoding="utf-8").strip() if owner.exists() else "another process"
        raise DirectoryInUse(
            f"{directory} is in use by another f2g eval ({holder}); wait for it to finish, or use another --out"
        ) from None
    owner.write_text(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')}\n")
    return lock
