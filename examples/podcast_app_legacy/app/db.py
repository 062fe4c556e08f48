"""SQLite state (unchanged by the refactor apart from moving to app/infrastructure/)."""

import sqlite3

from app import settings


def connect() -> sqlite3.Connection:
    conn = sqlite3.connect(settings.DATABASE)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS episodes (id INTEGER PRIMARY KEY, title TEXT, "
        "audio_url TEXT, status TEXT, transcript TEXT, chapters INTEGER)"
    )
    return conn
