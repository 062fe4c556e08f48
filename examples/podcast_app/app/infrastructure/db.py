"""SQLite state: episodes, every task attempt, and the tasks already completed.

One short-lived connection per operation keeps the module thread-safe under uvicorn's
thread pool; WAL lets the API read while a task endpoint writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    audio_url TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    status TEXT NOT NULL,
    transcript TEXT,
    chapters INTEGER,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS task_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    episode_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    task_name TEXT NOT NULL,
    retry_count INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS completed_tasks (
    task_name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    episode_id INTEGER NOT NULL
);
"""


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different request."""

    def __init__(self, key: str, episode_id: int) -> None:
        super().__init__(key, episode_id)
        self.key = key
        self.episode_id = episode_id


@dataclass(frozen=True)
class Attempt:
    kind: str
    task_name: str
    retry_count: int
    outcome: str


@dataclass(frozen=True)
class Episode:
    id: int
    title: str
    audio_url: str
    status: str
    transcript: str | None
    chapters: int | None
    attempts: tuple[Attempt, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "audio_url": self.audio_url,
            "status": self.status,
            "transcript": self.transcript,
            "chapters": self.chapters,
            "attempts": [a.__dict__ for a in self.attempts],
        }


class Database:
    def __init__(self, path: str) -> None:
        self.path = path
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10.0, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            # IMMEDIATE takes the write lock up front: two deliveries of one task serialise
            # here instead of both reading "not done yet".
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def create_episode(self, title: str, audio_url: str, key: str | None) -> tuple[Episode, bool]:
        """Insert an episode; with a key already used for the same request, return that one."""
        with self._transaction() as conn:
            if key is not None:
                row = conn.execute(
                    "SELECT * FROM episodes WHERE idempotency_key = ?", (key,)
                ).fetchone()
                if row is not None:
                    if (row["title"], row["audio_url"]) != (title, audio_url):
                        raise IdempotencyConflict(key, row["id"])
                    return self._episode(conn, row), False
            cursor = conn.execute(
                "INSERT INTO episodes (title, audio_url, idempotency_key, status, created_at) "
                "VALUES (?, ?, ?, 'transcribing', ?)",
                (title, audio_url, key, time.time()),
            )
            row = conn.execute(
                "SELECT * FROM episodes WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
            return self._episode(conn, row), True

    def get_episode(self, episode_id: int) -> Episode | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM episodes WHERE id = ?", (episode_id,)).fetchone()
            return None if row is None else self._episode(conn, row)

    def record_attempt(
        self, episode_id: int, kind: str, task_name: str, retry_count: int, outcome: str
    ) -> None:
        with self._transaction() as conn:
            self._insert_attempt(conn, episode_id, kind, task_name, retry_count, outcome)

    @staticmethod
    def _insert_attempt(  # noqa: PLR0917 - private, one row's columns
        conn: sqlite3.Connection,
        episode_id: int,
        kind: str,
        task_name: str,
        retry_count: int,
        outcome: str,
    ) -> None:
        conn.execute(
            "INSERT INTO task_attempts (episode_id, kind, task_name, retry_count, outcome, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (episode_id, kind, task_name, retry_count, outcome, time.time()),
        )

    def is_completed(self, task_name: str) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM completed_tasks WHERE task_name = ?", (task_name,)
            ).fetchone()
            return row is not None

    def complete_task(
        self, task_name: str, kind: str, episode_id: int, retry_count: int, **changes: str | int
    ) -> bool:
        """Apply ``changes`` to the episode, mark the task done and record the attempt.

        All in one transaction, so a reader never sees the effect without its attempt. Returns
        False (recording a "duplicate" attempt, changing nothing else) when the task was
        already completed: a redelivered task must not apply its effect twice.
        """
        columns = {"status", "transcript", "chapters"}
        if not changes or not set(changes) <= columns:
            raise ValueError(f"changes must be a non-empty subset of {sorted(columns)}")
        with self._transaction() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO completed_tasks (task_name, kind, episode_id) "
                "VALUES (?, ?, ?)",
                (task_name, kind, episode_id),
            ).rowcount
            if inserted:
                # Column names come from the fixed set checked above, never from a request.
                assignments = ", ".join(f"{name} = ?" for name in sorted(changes))
                conn.execute(
                    f"UPDATE episodes SET {assignments} WHERE id = ?",
                    (*(changes[name] for name in sorted(changes)), episode_id),
                )
            self._insert_attempt(
                conn, episode_id, kind, task_name, retry_count, "done" if inserted else "duplicate"
            )
            return bool(inserted)

    @staticmethod
    def _episode(conn: sqlite3.Connection, row: sqlite3.Row) -> Episode:
        attempts = tuple(
            Attempt(a["kind"], a["task_name"], a["retry_count"], a["outcome"])
            for a in conn.execute(
                "SELECT kind, task_name, retry_count, outcome FROM task_attempts "
                "WHERE episode_id = ? ORDER BY id",
                (row["id"],),
            )
        )
        return Episode(
            id=row["id"],
            title=row["title"],
            audio_url=row["audio_url"],
            status=row["status"],
            transcript=row["transcript"],
            chapters=row["chapters"],
            attempts=attempts,
        )
