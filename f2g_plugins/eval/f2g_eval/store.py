"""The results store: one SQLite file per eval directory — each video once, keyed by (item id, seed, config
hash), and each of its scores apart, keyed by (video, metric, metric version, column).

Why SQLite: a finished job (a video with its scores, or new scores of a stored video) is committed in one
transaction, so ``kill -9`` at any moment leaves either all of it or none (WAL journal; no half-written CSV
lines), and the primary keys make a second copy impossible — a re-run, a Ray task retried after its worker died, or
a second process all insert-or-ignore. Scores apart from videos let a metric added later, or a new version of one,
score the stored videos without making them again. ``results.csv`` is derived from it, never appended to.

The ``results`` view shows each video with its current scores (per metric, the latest scored version) as the one
row readers know — ``metrics`` a JSON object, failed values' reasons in ``events`` — the shape the first schema
stored as a table; a store in that schema is migrated when opened (:func:`_migrate`), keeping every row.

The directory lock (:func:`lock_directory`) makes a second ``f2g eval`` on the same DIR refuse with a message
naming the process that holds it, instead of racing it.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from f2g_core.errors import F2GError
from filelock import FileLock, Timeout

from f2g_eval.jobs import JobResult
from f2g_eval.scoring import Score

Key = tuple[str, int, str]

_OF_VIDEO = "c.item_id = v.item_id AND c.seed = v.seed AND c.config_hash = v.config_hash"
"""The ``results`` view's condition: scores ``c`` of video ``v``."""

TABLES = (
    """CREATE TABLE IF NOT EXISTS videos (
    item_id     TEXT    NOT NULL,
    seed        INTEGER NOT NULL,
    config_hash TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    seed_index  INTEGER NOT NULL,
    prompt      TEXT    NOT NULL,
    category    TEXT,
    dimension   TEXT    NOT NULL,
    model_calls INTEGER NOT NULL,
    reward_calls INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    cost_usd    REAL    NOT NULL,
    seconds     REAL    NOT NULL,
    run_dir     TEXT    NOT NULL,
    steps       TEXT    NOT NULL,  -- JSON list: per guided step, every candidate's combined reward
    events      TEXT    NOT NULL,  -- JSON list of the trace's notes (budget stops, fallbacks)
    worker      TEXT    NOT NULL,
    finished_at REAL    NOT NULL,
    reward_rounds INTEGER NOT NULL DEFAULT 0,
    phase_seconds TEXT  NOT NULL DEFAULT '{}',
    PRIMARY KEY (item_id, seed, config_hash)
)""",
    """CREATE TABLE IF NOT EXISTS scores (
    item_id     TEXT    NOT NULL,
    seed        INTEGER NOT NULL,
    config_hash TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    column_name TEXT    NOT NULL,
    value       REAL,              -- null: does not apply, or failed (then error says why)
    error       TEXT,
    scored_at   REAL    NOT NULL,  -- one time for all columns of one scoring
    PRIMARY KEY (item_id, seed, config_hash, metric, version, column_name)
)""",
    """CREATE TABLE IF NOT EXISTS configs (
    config_hash TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    config      TEXT NOT NULL      -- JSON of the validated run config
)""",
    """CREATE TABLE IF NOT EXISTS failures (
    item_id TEXT NOT NULL, seed INTEGER NOT NULL, config_hash TEXT NOT NULL,
    error TEXT NOT NULL, failed_at REAL NOT NULL
)""",
)
VIEWS = (  # made again at every opening, so a store always has this version's views
    # per (video, metric): the scores of its latest scoring (a new version re-scores; the old rows stay)
    """CREATE VIEW current_scores AS
SELECT s.rowid AS position, s.* FROM scores AS s
WHERE s.scored_at = (
    SELECT MAX(t.scored_at) FROM scores AS t
    WHERE t.item_id = s.item_id AND t.seed = s.seed AND t.config_hash = s.config_hash AND t.metric = s.metric
)""",
    # the first schema's row: metrics as JSON (NaN: failed; 17 significant digits), failures' reasons in events
    f"""CREATE VIEW results AS
SELECT v.item_id, v.seed, v.config_hash, v.config, v.seed_index, v.prompt, v.category, v.dimension,
    '{{' || COALESCE((
        SELECT group_concat(json_quote(c.column_name) || ': ' || CASE
            WHEN c.error IS NOT NULL THEN 'NaN' WHEN c.value IS NULL THEN 'null'
            ELSE printf('%!.17g', c.value) END, ', ')
        FROM (SELECT * FROM current_scores AS c WHERE {_OF_VIDEO} ORDER BY c.position) AS c
    ), '') || '}}' AS metrics,
    v.model_calls, v.reward_calls, v.tokens, v.cost_usd, v.seconds, v.run_dir, v.steps,
    (SELECT json_group_array(e.note) FROM (
        SELECT j.value AS note, 0 AS part, j.key AS position FROM json_each(v.events) AS j
        UNION ALL
        SELECT c.error, 1, MIN(c.position) FROM current_scores AS c
        WHERE {_OF_VIDEO} AND c.error IS NOT NULL GROUP BY c.error
        ORDER BY part, position
    ) AS e) AS events,
    v.worker, v.finished_at, v.reward_rounds, v.phase_seconds
FROM videos AS v""",
)

_VIDEO_COLUMNS = (
    "item_id",
    "seed",
    "config_hash",
    "config",
    "seed_index",
    "prompt",
    "category",
    "dimension",
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
_COLUMNS = (*_VIDEO_COLUMNS[:8], "metrics", *_VIDEO_COLUMNS[8:])
"""The ``results`` view's columns: the first schema's."""
_ADDED_COLUMNS = {"reward_rounds": "INTEGER NOT NULL DEFAULT 0", "phase_seconds": "TEXT NOT NULL DEFAULT '{}'"}
"""Columns newer than the first schema's ``results`` table: a store from before them reads their defaults."""
_JSON = ("steps", "events", "phase_seconds")


def blob_scores(row: JobResult) -> tuple[list[str], list[Score]]:
    """A row in the first schema's shape (``metrics`` a JSON object, failed values' reasons in ``events``) as the
    video's own events and its scores: version 1 (every metric's version before versions existed) of the metric
    that names each column (``shapes.overall``: ``shapes``)."""
    notes: set[str] = set()
    scores = []
    for column, value in row.metrics.items():
        metric, _, dim = column.partition(".")
        error = None
        if value is not None and math.isnan(value):
            heads = (f"metric {metric!r} ({dim or metric}) failed", f"metric {metric!r} failed")
            error = next((e for head in heads for e in row.events if e.startswith(head)), "failed (no reason kept)")
            notes.add(error)
        scores.append(Score(row.key, metric, 1, column, value, error))
    return [e for e in row.events if e not in notes], scores


def _migrate(db: sqlite3.Connection) -> None:
    """Move a first-schema ``results`` table's rows into ``videos`` and ``scores`` (inside the opening
    transaction: all or nothing); the ``results`` view then shows them as before."""
    present = {row[1] for row in db.execute("PRAGMA table_info(results)")}
    for name, kind in _ADDED_COLUMNS.items():
        if name not in present:
            db.execute(f"ALTER TABLE results ADD COLUMN {name} {kind}")
    for record in db.execute(f"SELECT {', '.join(_COLUMNS)} FROM results").fetchall():
        data = dict(zip(_COLUMNS, record, strict=True))
        row = _result(data)
        data["events"], scores = blob_scores(row)
        _insert_video(db, {**data, "events": json.dumps(data["events"])})
        _insert_scores(db, scores, data["finished_at"])
    db.execute("DROP TABLE results")


def _result(data: Mapping[str, object]) -> JobResult:
    """A row of the ``results`` view (or table) as a result."""
    fields = {k: json.loads(v) if k in (*_JSON, "metrics") and isinstance(v, str) else v for k, v in data.items()}
    fields.pop("finished_at")
    return JobResult(**fields)  # type: ignore[arg-type]


def _insert_video(db: sqlite3.Connection, values: Mapping[str, object]) -> bool:
    cursor = db.execute(
        f"INSERT OR IGNORE INTO videos ({', '.join(_VIDEO_COLUMNS)}) VALUES ({', '.join('?' * len(_VIDEO_COLUMNS))})",
        [values[c] for c in _VIDEO_COLUMNS],
    )
    return cursor.rowcount == 1


def _insert_scores(db: sqlite3.Connection, scores: Sequence[Score], when: float) -> None:
    """Scores of one scoring (one time for all): a re-scoring at the same version replaces its values."""
    db.executemany(
        "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*s.key, s.metric, s.version, s.column, s.value, s.error, when) for s in scores],
    )


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
        with self._transaction("opening it (migrating it to the current schema)") as db:
            legacy = db.execute("SELECT type FROM sqlite_master WHERE name = 'results'").fetchone() == ("table",)
            for statement in TABLES:
                db.execute(statement)
            if legacy:
                _migrate(db)
            db.execute("DROP VIEW IF EXISTS results")
            db.execute("DROP VIEW IF EXISTS current_scores")
            for statement in VIEWS:
                db.execute(statement)

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

    def add(self, row: JobResult, scores: Sequence[Score] | None = None) -> bool:
        """Commit one finished video with its ``scores`` (None: read from the row's ``metrics`` and ``events``, as
        :func:`blob_scores` does); False when the store already had the video (never a second copy)."""
        now = time.time()
        events, found = blob_scores(row) if scores is None else (row.events, list(scores))
        values = {
            **row.to_dict(),
            **{name: json.dumps(getattr(row, name)) for name in _JSON},
            "events": json.dumps(events),
            "finished_at": now,
        }
        saved = f"recording the job of item {row.item_id!r} seed {row.seed} (its video is saved in {row.run_dir})"
        with self._transaction(saved) as db:
            added = _insert_video(db, values)
            if added:
                _insert_scores(db, found, now)
            db.execute(
                "DELETE FROM failures WHERE item_id = ? AND seed = ? AND config_hash = ?",
                (row.item_id, row.seed, row.config_hash),
            )
            return added

    def add_scores(self, scores: Sequence[Score]) -> None:
        """Commit new scores of stored videos (one scoring: all of them or none)."""
        if scores:
            what = f"recording the scores of item {scores[0].key[0]!r} seed {scores[0].key[1]}"
            with self._transaction(what) as db:
                _insert_scores(db, scores, time.time())

    def add_failure(self, key: Key, error: str) -> None:
        with self._transaction(f"recording the failure of item {key[0]!r} seed {key[1]} ({error})") as db:
            db.execute("INSERT INTO failures VALUES (?, ?, ?, ?, ?)", (*key, error, time.time()))

    def run_dirs(self) -> dict[Key, str]:
        """Every stored video's key and run directory."""
        with _guard(self.path, "reading it"):
            query = "SELECT item_id, seed, config_hash, run_dir FROM videos"
            return {(i, s, h): run_dir for i, s, h, run_dir in self.db.execute(query)}

    def scored(self, versions: Mapping[str, int]) -> set[tuple[Key, str]]:
        """The (video, metric) pairs of the metrics in ``versions`` (name -> version) whose current scores are of
        that version and none failed: the pairs a run need not score again."""
        query = (
            "SELECT item_id, seed, config_hash, metric, version, MAX(error IS NOT NULL) FROM current_scores "
            "GROUP BY item_id, seed, config_hash, metric, version"
        )
        with _guard(self.path, "reading it"):
            records = self.db.execute(query).fetchall()
        return {
            ((i, s, h), metric)
            for i, s, h, metric, version, failed in records
            if versions.get(metric) == version and not failed
        }

    def prompts(self) -> dict[str, str]:
        with _guard(self.path, "reading it"):
            return dict(self.db.execute("SELECT DISTINCT item_id, prompt FROM videos"))

    def rows(self, keys: Iterable[Key] | None = None) -> list[JobResult]:
        """Stored videos with their current scores, as results (all of them, or those with the given keys, in that
        order)."""
        with _guard(self.path, "reading it"):
            records = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM results").fetchall()
        found = {}
        for record in records:
            result = _result(dict(zip(_COLUMNS, record, strict=True)))
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
