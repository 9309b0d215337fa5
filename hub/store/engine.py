"""Engines for the two supported stores and the migration step run at start.

SQLite (aiosqlite) is the embedded default: WAL, ``synchronous=FULL`` (measured affordable here with
group commit) and ``secure_delete=ON`` (an erased customer's data is really gone from the file).
PostgreSQL (asyncpg) is the scale-out store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.errors import ConfigError
from hub.store import inbox_file, partitions

MIGRATIONS = Path(__file__).with_name("migrations")
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA secure_delete=ON",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)
SQLITE_STATEMENT_CACHE = 32
"""Prepared statements each SQLite connection keeps (Python's default is 128). An ``IN`` list is one statement per
length, some 40–60 KB each with a few hundred values, so a connection's cache filled with list variants and held
4–6 MB (bench.growth --rss-seconds: 15–19 MB of SQLite's heap on three connections, ~7 MB at 32; the pool may
hold fifteen). The statements a batch repeats stay cached; a list variant is prepared again (tens of µs)."""


def open_engine(url: str, search_path: str | None = None) -> AsyncEngine:
    """An async engine for ``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``.

    ``search_path`` (PostgreSQL only) puts every table in that schema: the tests give each run its own.
    """
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises several kinds for a bad URL
        raise ConfigError(f"store url {url!r} is not a database URL: use sqlite+aiosqlite:///path.db "
                          "or postgresql+asyncpg://user@host/db") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername != "sqlite+aiosqlite":
            raise ConfigError(f"store url {url!r}: use the async driver, sqlite+aiosqlite:///path.db")
        if parsed.database:
            Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, connect_args={"cached_statements": SQLITE_STATEMENT_CACHE})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        log = inbox_file.log_path(url)
        if log is not None:  # the inbox's own file, attached to every connection as ``inbox_log``
            inbox_file.create(log)
            event.listen(engine.sync_engine, "connect", lambda connection, _record: _attach(connection, log))
        return engine
    if backend == "postgresql":
        if parsed.drivername != "postgresql+asyncpg":
            raise ConfigError(f"store url {url!r}: use the async driver, postgresql+asyncpg://…")
        connect_args = {"server_settings": {"search_path": search_path}} if search_path else {}
        return create_async_engine(parsed, pool_size=10, max_overflow=10, connect_args=connect_args)
    raise ConfigError(f"store url {url!r}: only SQLite (sqlite+aiosqlite) and PostgreSQL (postgresql+asyncpg) "
                      "are supported")


def open_replica(url: str, read_url: str, search_path: str | None = None) -> AsyncEngine:
    """The engine of ``read_url``, a PostgreSQL replica of the primary at ``url`` (a ConfigError otherwise)."""
    if make_url(url).get_backend_name() != "postgresql":
        raise ConfigError("store read_url: a read replica needs a PostgreSQL primary (store url is not PostgreSQL)")
    engine = open_engine(read_url, search_path)
    if engine.dialect.name != "postgresql":
        raise ConfigError(f"store read_url {read_url!r}: the replica must be PostgreSQL (postgresql+asyncpg://…)")
    return engine


def _attach(dbapi_connection, log: Path) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    inbox_file.attach(cursor, log)
    cursor.close()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


# The first key of PostgreSQL's two-key advisory locks, fixed for "crosstrace migrates this schema"; the second is
# the schema's name hashed, so hubs on one schema take turns while separate schemas (one per test) do not wait.
_MIGRATION_LOCK = 0x43540001


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent; run at every start).

    On PostgreSQL several hubs may start together on a fresh database: each takes a transaction-level advisory
    lock first (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS), so one creates the
    tables and the others wait, then find the schema at head. The lock ends with the transaction, even a failed one.
    SQLite needs none: its writers already take turns on the file.
    """
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"),
                               {"key": _MIGRATION_LOCK})
        await conn.run_sync(_upgrade)
        if conn.dialect.name == "postgresql":  # every start: the months ahead exist even if retention never runs
            await partitions.create_ahead(conn, datetime.now(UTC))


def _upgrade(connection: Connection) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
