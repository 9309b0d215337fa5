"""Where the SQLite inbox log lives and how a connection opens or attaches it (see hub/store/inbox_log.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

SCHEMA = "inbox_log"
_TABLES = (
    """CREATE TABLE IF NOT EXISTS entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, source TEXT NOT NULL, dedup_key TEXT NOT NULL,
        received_at TEXT NOT NULL, headers TEXT, body BLOB, content_type TEXT NOT NULL,
        UNIQUE (source, dedup_key))""",
    """CREATE TABLE IF NOT EXISTS repeats (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, dedup_key TEXT NOT NULL,
        count INTEGER NOT NULL)""",
)
PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "busy_timeout=10000")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime on SQLite: the transfer copies it as is


def log_path(url: str) -> Path | None:
    """The inbox log beside an SQLite store's file (``hub.db`` → ``hub.db.inbox``); None for PostgreSQL or memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve().with_name(Path(parsed.database).name + ".inbox")


def create(path: Path) -> None:
    """Create the log's file and tables if missing (before any main connection attaches it)."""
    with connect(path) as conn:
        for statement in _TABLES:
            conn.execute(statement)
    conn.close()


def attach(cursor: sqlite3.Cursor, path: Path) -> None:
    """Attach the log to a main-file connection as ``inbox_log`` (the engine's connect hook)."""
    cursor.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(path),))
    for pragma in PRAGMAS[1:3]:  # journal_mode is the file's (set by create()), busy_timeout the connection's
        cursor.execute(f"PRAGMA {SCHEMA}.{pragma}")


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    return conn
