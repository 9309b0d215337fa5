"""Rows whose column, or pair of columns, is one of many values: one statement text whatever their number.

The statement is built with expanding (SQLite) or array (PostgreSQL) parameters, so SQLAlchemy compiles it once
and caches it: building ``column IN (…)`` from the values on every call costs more than running it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import TEXTS, pair_params, pairs_match

CHUNK = 400  # SQLite: values per statement (its limit on variables)
ARRAY_CHUNK = 10_000  # PostgreSQL: values per statement (one array parameter; bounds a statement's work)


def per_statement(conn: AsyncConnection) -> int:
    """How many values one statement takes through :func:`one_of` or :func:`select_in` on this store."""
    return ARRAY_CHUNK if conn.dialect.name == "postgresql" else CHUNK


def one_of(conn: AsyncConnection, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column`` is one of ``values`` (at most :func:`per_statement`). PostgreSQL: ``= ANY($1)`` over one array, so
    the statement's text, and asyncpg's prepared statement, are the same for any number of values (``IN ($1, …)``
    is a new text, prepared in one more round trip, for each length). SQLite: ``IN (…)``."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=_array(column)))
    return column.in_(list(values))


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def select_in(conn: AsyncConnection, query: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """Rows whose ``column`` (or pair of columns, for pairs of values) is one of ``values``.

    PostgreSQL: one statement with array parameters (``= ANY($1)``; pairs joined against ``unnest``, which
    probes the two-column index per pair: :func:`hub.store.pairs_match`), so its text and prepared plan are the
    same for every batch. SQLite: chunks of expanding bind parameters (its limit on variables); a pair of columns
    is asked as ``first IN (…) AND second IN (…)``, answered from the two-column index, and the exact pairs are
    kept here.
    """
    values = list(values)
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        return await _select_in_arrays(conn, query, column, values)
    rows: list[Any] = []
    if not isinstance(column, tuple):
        statement = query.where(column.in_(bindparam("b_values", expanding=True)))
        for chunk in chunks(values):
            rows.extend((await conn.execute(statement, {"b_values": list(chunk)})).all())
        return rows
    first, second = column
    statement = query.where(first.in_(bindparam("b_first", expanding=True)),
                            second.in_(bindparam("b_second", expanding=True)))
    first_name, second_name = _result_name(query, first), _result_name(query, second)
    for chunk in chunks(values):
        wanted = set(chunk)
        result = await conn.execute(statement, {"b_first": sorted({a for a, _ in chunk}),
                                                "b_second": sorted({b for _, b in chunk})})
        rows.extend(row for row in result if (getattr(row, first_name), getattr(row, second_name)) in wanted)
    return rows


async def _select_in_arrays(conn: AsyncConnection, query: Any, column: Any, values: list[Any]) -> list[Any]:
    if not isinstance(column, tuple):
        statement = query.where(column == any_(bindparam("b_values", type_=_array(column))))
        return list((await conn.execute(statement, {"b_values": sorted(set(values))})).all())
    first, second = column
    statement = query.where(pairs_match(first, second, bindparam("b_first", type_=TEXTS),
                                        bindparam("b_second", type_=TEXTS)))
    firsts, seconds = pair_params(values)
    return list((await conn.execute(statement, {"b_first": firsts, "b_second": seconds})).all())


def _array(column: Any) -> Any:
    """The array parameter type for ``column``'s values: ``text[]`` for strings (never a cutting ``varchar(n)[]``)."""
    return TEXTS if isinstance(column.type, String) else postgresql.ARRAY(column.type)


def _result_name(query: Any, column: Any) -> str:
    """The name under which ``query`` returns ``column`` (its label, when it is labelled)."""
    for selected in query.selected_columns:
        if selected is column or getattr(selected, "element", None) is column:
            return selected.key
    raise ValueError(f"{column} is not among the selected columns")
