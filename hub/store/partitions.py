"""PostgreSQL: ``deliveries`` and ``events`` partitioned by month on their ids (docs/scaling.md §4).

Ids are ULIDs (:mod:`hub.ids`): a month's partition holds the ids minted in that month, its bounds the id prefix
of the month's first millisecond, so the primary key ``(id)`` contains the partition key and a lookup by id
prunes to one partition. Besides the monthly partitions: ``<table>_initial``, the table as it was before it was
partitioned (``FROM (MINVALUE)``, attached without copying), and ``<table>_other`` for ids that are not
time-shaped (``<prefix>_1`` on: after every ULID minted before the year 3084, e.g. a hand-made ``dlv_test``).
There is no DEFAULT partition: creating a partition beside one scans it. SQLite keeps plain tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.ids import time_of_prefix, time_prefix

PREFIXES = {"deliveries": "dlv", "events": "evt"}
"""The partitioned tables and the prefix of their ids."""
AHEAD_MONTHS = 3
_BOUNDS = re.compile(r"FROM \((.+)\) TO \((.+)\)")


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition: ids from ``lower`` (None: MINVALUE) to ``upper`` (None: MAXVALUE); ``ends``: the time its
    ids end at (None for ``<table>_other``, which holds no time-shaped ids)."""

    name: str
    lower: str | None
    upper: str | None
    ends: datetime | None


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)


def next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(month=month.month + 1)


def bound(table: str, moment: datetime) -> str:
    """The smallest id of ``table`` minted at or after ``moment`` (naive UTC)."""
    epoch_ms = int((moment - datetime(1970, 1, 1)).total_seconds() * 1000)
    return f"{PREFIXES[table]}_{time_prefix(epoch_ms)}"


def bound_time(table: str, value: str) -> datetime:
    """The moment an id bound made by :func:`bound` stands for."""
    epoch_ms = time_of_prefix(value[len(PREFIXES[table]) + 1:])
    return datetime(1970, 1, 1) + timedelta(milliseconds=epoch_ms)


def month_name(table: str, month: datetime) -> str:
    return f"{table}_{month:%Y_%m}"


def create_month(table: str, month: datetime) -> str:
    """The statement creating ``table``'s partition of ``month`` (its first day)."""
    return (f'CREATE TABLE IF NOT EXISTS "{month_name(table, month)}" PARTITION OF {table} '
            f"FOR VALUES FROM ('{bound(table, month)}') TO ('{bound(table, next_month(month))}')")


def create_other(table: str) -> str:
    """The statement creating ``table``'s partition for ids that are not time-shaped."""
    return (f'CREATE TABLE IF NOT EXISTS "{table}_other" PARTITION OF {table} '
            f"FOR VALUES FROM ('{PREFIXES[table]}_1') TO (MAXVALUE)")


def months_to_create(table: str, covered_until: datetime, now: datetime, ahead: int = AHEAD_MONTHS) -> list[str]:
    """Statements creating the months from ``covered_until`` (a month's first day: where the time partitions end)
    through ``ahead`` months after ``now``'s, gap-free."""
    until = month_start(now)
    for _ in range(ahead + 1):
        until = next_month(until)
    statements = []
    month = covered_until
    while month < until:
        statements.append(create_month(table, month))
        month = next_month(month)
    return statements


_LIST = text("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
             "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:parent) ORDER BY c.relname")


def parse(table: str, name: str, expression: str) -> Partition:
    """A partition from its name and ``pg_get_expr`` of its bounds (``FOR VALUES FROM (…) TO (…)``)."""
    found = _BOUNDS.search(expression)
    if found is None:
        raise ValueError(f"partition {name} of {table}: unexpected bounds {expression!r}")
    lower, upper = (None if value in ("MINVALUE", "MAXVALUE") else value.strip("'") for value in found.groups())
    time_shaped = upper is not None and not upper.startswith(f"{PREFIXES[table]}_1")
    return Partition(name, lower, upper, bound_time(table, upper) if time_shaped and upper else None)


async def partitions(conn: AsyncConnection, table: str) -> list[Partition]:
    """``table``'s partitions, oldest first (``<table>_other`` last); none when it is not partitioned."""
    found = [parse(table, name, expression)
             for name, expression in await conn.execute(_LIST, {"parent": table})]
    return sorted(found, key=lambda p: (p.ends is None, p.ends or datetime.max))


async def create_ahead(conn: AsyncConnection, now: datetime, ahead: int = AHEAD_MONTHS) -> list[str]:
    """Create the monthly partitions missing up to ``ahead`` months after ``now``'s; returns their names.

    Nothing is locked when none is missing (the catalog is read first)."""
    created = []
    for table in PREFIXES:
        ends = [p.ends for p in await partitions(conn, table) if p.ends is not None]
        if not ends:
            continue  # not partitioned (the migration has not run, or SQLite)
        for statement in months_to_create(table, max(ends), now, ahead):
            await conn.execute(text(statement))
            created.append(statement.split('"')[1])
    return created
