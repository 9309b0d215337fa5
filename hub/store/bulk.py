"""Set-based writes of many rows, sent as driver SQL: no statement compiled, no per-row bind step in SQLAlchemy.

PostgreSQL: one statement over the batch's columns as arrays (``INSERT … SELECT * FROM unnest($1::type[], …)``,
``UPDATE … FROM unnest(…)``): the server plans and runs it once, where an ``executemany`` runs it per row; its text
is the same for every batch, so asyncpg's prepared statement is reused. SQLite: one ``executemany`` (one trip to
aiosqlite's thread). Values are converted by the columns' own types (the same conversions SQLAlchemy makes), and
the statements go through the caller's connection, so they join its transaction and its errors are SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.driver import driver_error

_PG = postgresql.dialect()
_Converter = Callable[[Any], Any]
_SQLITE_DATETIME = sqlite.DATETIME()._storage_format  # SQLAlchemy's default text of a datetime on SQLite


class _Shape:
    """How rows of one table with these columns become driver values: which columns convert, and how."""

    __slots__ = ("pick", "convert", "casts")

    def __init__(self, conn: AsyncConnection, table: Table, columns: Sequence[str]) -> None:
        dialect = conn.dialect
        self.pick = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
        processors = [_processor(table.c[name].type.dialect_impl(dialect), dialect) for name in columns]
        self.convert: list[tuple[int, _Converter]] = [(i, p) for i, p in enumerate(processors) if p is not None]
        self.casts = [f"{table.c[name].type.compile(dialect=_PG)}[]" for name in columns]

    def values(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        if not self.convert:
            return [self.pick(row) for row in rows]
        converted = []
        for row in rows:
            values = list(self.pick(row))
            for i, process in self.convert:
                if values[i] is not None:
                    values[i] = process(values[i])
            converted.append(tuple(values))
        return converted


def _processor(impl: Any, dialect: Any) -> _Converter | None:
    """The column type's own bind conversion; SQLite's datetime text made by ``datetime.isoformat`` where that is
    the same text (SQLAlchemy fills its format from a dict of seven fields per value: 5% of recording a batch)."""
    process = impl.bind_processor(dialect)
    if isinstance(impl, sqlite.DATETIME) and impl._storage_format == _SQLITE_DATETIME and process is not None:
        return _sqlite_datetime(process)
    return process


def _sqlite_datetime(general: _Converter) -> _Converter:
    def process(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:  # aware ones and dates: as SQLAlchemy writes them
            return value.isoformat(" ", "microseconds")
        return general(value)
    return process


_shapes: dict[tuple[str, str, tuple[str, ...]], _Shape] = {}


def _shape(conn: AsyncConnection, table: Table, columns: Sequence[str]) -> _Shape:
    key = (conn.dialect.name, table.name, tuple(columns))
    found = _shapes.get(key)
    if found is None:
        found = _shapes[key] = _Shape(conn, table, columns)
    return found


def _arrays(shape: _Shape, columns: Sequence[str], values: list[tuple[Any, ...]]) -> tuple[str, tuple[list[Any], ...]]:
    """``unnest($1::t1[], …) AS d(c1, …)`` and its array parameters (PostgreSQL)."""
    casts = ", ".join(f"${n}::{cast}" for n, cast in enumerate(shape.casts, 1))
    source = f"unnest({casts}) AS d({', '.join(columns)})"
    return source, tuple(list(column) for column in zip(*values, strict=True))


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]],
                      conflict: Sequence[str] = (), update: Sequence[str] = ()) -> None:
    """Insert ``rows`` (dicts with the same keys). ``conflict``: the unique columns on which a row already stored
    takes the new values of ``update`` (``ON CONFLICT … DO UPDATE``)."""
    if not rows:
        return
    columns = list(rows[0])
    shape = _shape(conn, table, columns)
    values = shape.values(rows)
    upsert = ""
    if conflict:
        upsert = (f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET "
                  + ", ".join(f"{name} = excluded.{name}" for name in update))
    target = f"{table.name} ({', '.join(columns)})"
    if conn.dialect.name == "postgresql" and not conflict:
        await _copy(conn, table, columns, values)
    elif conn.dialect.name == "postgresql":
        source, arrays = _arrays(shape, columns, values)
        await conn.exec_driver_sql(f"INSERT INTO {target} SELECT * FROM {source}{upsert}", arrays)
    else:
        await conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join('?' * len(columns))}){upsert}", values)


async def add_to(conn: AsyncConnection, table: Table, column: str, keys: Sequence[str],
                 deltas: Mapping[tuple[Any, ...], int]) -> None:
    """``column += n`` on the row whose ``keys`` columns hold each key of ``deltas`` (key tuple → n)."""
    rows = [{**dict(zip(keys, key, strict=True)), column: n} for key, n in sorted(deltas.items()) if n]
    if not rows:
        return
    names = [*keys, column]
    shape = _shape(conn, table, names)
    values = shape.values(rows)
    if conn.dialect.name == "postgresql":
        source, arrays = _arrays(shape, names, values)
        match = " AND ".join(f"{table.name}.{name} = d.{name}" for name in keys)
        await conn.exec_driver_sql(f"UPDATE {table.name} SET {column} = {table.name}.{column} + d.{column} "
                                   f"FROM {source} WHERE {match}", arrays)
    else:
        match = " AND ".join(f"{name} = ?" for name in keys)
        await conn.exec_driver_sql(f"UPDATE {table.name} SET {column} = {column} + ? WHERE {match}",
                                   [(*value[len(keys):], *value[:len(keys)]) for value in values])


async def _copy(conn: AsyncConnection, table: Table, columns: list[str], values: list[tuple[Any, ...]]) -> None:
    """PostgreSQL ``COPY … FROM STDIN`` (binary) on the connection's own transaction: each value goes through its
    column's codec once, where array parameters test every element for nesting. A failure is raised as a
    :class:`~sqlalchemy.exc.DBAPIError` over the driver's error (``hub.store.faults`` tells the store's from the
    data's); a lost server invalidates the connection, as SQLAlchemy does for its own statements."""
    driver = (await conn.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():  # SQLAlchemy's asyncpg adapter begins lazily, at its first statement
        await conn.exec_driver_sql("SELECT 1")
    try:
        await driver.copy_records_to_table(table.name, records=values, columns=columns)
    except Exception as error:
        raise await driver_error(conn, driver, f"COPY {table.name}", error) from error
