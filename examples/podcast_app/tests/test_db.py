"""The database keeps each task's effect and its record together."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.infrastructure.db import Database


def test_an_effect_is_never_visible_without_its_attempt(tmp_path: Path) -> None:
    # Regression: the attempt used to be written after the effect, in its own transaction,
    # so a reader could see "assembled" before the assembly's attempt existed.
    db = Database(str(tmp_path / "podcast.sqlite3"))
    episode, _ = db.create_episode("t", "https://media.example/a.mp3", None)
    with sqlite3.connect(db.path) as conn:
        conn.execute(
            "CREATE TRIGGER no_attempts BEFORE INSERT ON task_attempts "
            "BEGIN SELECT RAISE(ABORT, 'attempts unavailable'); END"
        )

    with pytest.raises(sqlite3.IntegrityError, match="attempts unavailable"):
        db.complete_task("q/t1", "assemble", episode.id, 0, status="assembled", chapters=2)

    after = db.get_episode(episode.id)
    assert after is not None
    assert (after.status, after.chapters) == ("transcribing", None)
    assert not db.is_completed("q/t1")


def test_a_second_completion_changes_nothing_and_is_recorded_as_duplicate(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "podcast.sqlite3"))
    episode, _ = db.create_episode("t", "https://media.example/a.mp3", None)

    first = db.complete_task("q/t1", "assemble", episode.id, 0, chapters=2, status="assembled")
    again = db.complete_task("q/t1", "assemble", episode.id, 1, chapters=9, status="published")

    after = db.get_episode(episode.id)
    assert after is not None
    assert (first, again) == (True, False)
    assert (after.status, after.chapters) == ("assembled", 2)
    assert [(a.retry_count, a.outcome) for a in after.attempts] == [(0, "done"), (1, "duplicate")]
