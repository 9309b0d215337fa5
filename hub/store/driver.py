"""Reads on the driver itself, below SQLAlchemy: a read written as a plan of statements runs in one thread hop on
SQLite and on asyncpg's prepared statements on PostgreSQL.

Why: a statement through SQLAlchemy costs its compile/bind and, on SQLite, one aiosqlite thread hop (120–150 µs
each here) against a few µs for the statement itself (issue 14). A plan is a generator: it yields
``(Sql, params)``, receives the rows (tuples) and returns its answer, so the same code runs synchronously inside
aiosqlite's thread (every statement of the plan in one hop) and asynchronously on asyncpg. Rows come back as the
driver gives them: a plan decodes the columns it uses with the :class:`Codec` it is made with (SQLite keeps times
as text; a plan reads JSON as text on both, to decode it once where a join repeats it).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
Plan = Generator[tuple["Sql", tuple[Any, ...]], list[Any], T]


class Sql:
    """One statement in PostgreSQL's text (``$1`` parameters, ``= ANY($1::text[])`` for a list of values) and the
    same statement for SQLite (``?1``; the list as a JSON array read by ``json_each``): one text per statement
    whatever the number of values, so both drivers keep it prepared."""

    __slots__ = ("postgres", "sqlite")

    def __init__(self, postgres: str) -> None:
        self.postgres = postgres
        self.sqlite = re.sub(r"\$(\d+)", r"?\1", re.sub(r"= ANY\(\$(\d+)::text\[\]\)",
                                                        r"IN (SELECT value FROM json_each($\1))", postgres))


@dataclass(frozen=True, slots=True)
class Codec:
    """How a plan decodes a time and a JSON column read as text (``CAST(… AS TEXT)``) of its rows, as SQLAlchemy's
    types would."""

    time: Callable[[Any], datetime]
    json: Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _json_or_none(value: str | None) -> Any:
    return None if value is None else json.loads(value)


# SQLAlchemy reads SQLite's DATETIME with datetime.fromisoformat, asyncpg's timestamp as it is, JSON on both with
# json.loads (SQL NULL stays None; so does JSON null).
SQLITE = Codec(time=datetime.fromisoformat, json=_json_or_none)
POSTGRES = Codec(time=_same, json=_json_or_none)


async def run(conn: AsyncConnection, make_plan: Callable[[Codec], Plan[T]]) -> T:
    """The answer of the plan ``make_plan(codec)``, its statements run on ``conn``'s driver connection (in its
    transaction, if it has begun one). A driver error is raised as SQLAlchemy's, as for its own statements."""
    driver = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.name == "postgresql":
        return await _on_asyncpg(conn, driver, make_plan(POSTGRES))
    try:
        return await driver._execute(_on_sqlite, driver._conn, make_plan(SQLITE))  # aiosqlite's own thread
    except sqlite3.Error as error:
        raise _SQLITE_ERRORS.get(type(error), DBAPIError)(None, None, error) from error


def _on_sqlite(db: sqlite3.Connection, plan: Plan[T]) -> T:
    try:
        statement, params = next(plan)
        while True:
            values = tuple(json.dumps(p) if isinstance(p, list) else p for p in params)
            statement, params = plan.send(db.execute(statement.sqlite, values).fetchall())
    except StopIteration as done:
        return done.value


async def _on_asyncpg(conn: AsyncConnection, driver: Any, plan: Plan[T]) -> T:
    try:
        statement, params = next(plan)
        while True:
            try:
                rows = await driver.fetch(statement.postgres, *params)
            except Exception as error:  # the driver's: the plan's own errors pass as they are
                raise await driver_error(conn, driver, statement.postgres, error) from error
            statement, params = plan.send(rows)
    except StopIteration as done:
        return done.value


async def driver_error(conn: AsyncConnection, driver: Any, statement: str, error: Exception) -> DBAPIError:
    """SQLAlchemy's error for an asyncpg ``error`` (by its SQLSTATE class, as ``hub.store.faults`` reads it); a lost
    server invalidates the connection, as SQLAlchemy does for its own statements."""
    lost = driver.is_closed()
    if lost:  # its transaction is gone with it: nothing to roll back, and the pool must not hand it out again
        await conn.invalidate()
    return _POSTGRES_ERRORS.get(str(getattr(error, "sqlstate", ""))[:2], DBAPIError)(
        statement, None, error, connection_invalidated=lost)


# SQLSTATE classes (PostgreSQL docs, Appendix A) to the DB-API error SQLAlchemy raises for them on its own statements.
_POSTGRES_ERRORS: dict[str, type[DBAPIError]] = {"22": DataError, "23": IntegrityError, "08": OperationalError,
                                                 "57": OperationalError, "53": OperationalError}
_SQLITE_ERRORS: dict[type[sqlite3.Error], type[DBAPIError]] = {
    sqlite3.OperationalError: OperationalError, sqlite3.IntegrityError: IntegrityError, sqlite3.DataError: DataError}
