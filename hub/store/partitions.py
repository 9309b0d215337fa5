"""PostgreSQL: ``deliveries`` and ``events`` partitioned by month on their ids (docs/scaling.md §4).

Ids are ULIDs (:mod:`hub.ids`): a month's partition holds the ids minted in that month, its bounds the id prefix
of the month's first millisecond, so the primary key ``(id)`` contains the partition key and a lookup by id
prunes to one partition. Besides the monthly partitions: ``<table>_initial``, the table as it was before it was
partitioned (``FROM (MINVALUE)``, attached without copying), and ``<table>_default``, the DEFAULT partition
(migration 0027): every id has a home, a hand-made one (``dlv_test``, ``dlv_0200``) or one minted beyond the last
month created (the duty did not run, the clock jumped). Attaching a partition beside a DEFAULT one scans the
default, so a month is created standalone, its rows moved out of the default, then attached (:func:`add_month`).
SQLite keeps plain tables.
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
    ids end at (None for ``<table>_other`` of 0023 and for the DEFAULT partition, which has no bounds)."""

    name: str
    lower: str | None
    upper: str | None
    ends: datetime | None
    default: bool = False


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
    """The statement creating ``table``'s partition of ``month`` (its first day) as plain ``PARTITION OF`` (0023:
    no DEFAULT partition yet; beside one, :func:`add_month`)."""
    return (f'CREATE TABLE IF NOT EXISTS "{month_name(table, month)}" PARTITION OF {table} '
            f"FOR VALUES FROM ('{bound(table, month)}') TO ('{bound(table, next_month(month))}')")


def create_other(table: str, lower: str | None = None) -> str:
    """The statement creating 0023's partition for ids that are not time-shaped (from ``lower``, by default
    ``<prefix>_1``); 0027 replaces it with the DEFAULT partition."""
    return (f'CREATE TABLE IF NOT EXISTS "{table}_other" PARTITION OF {table} '
            f"FOR VALUES FROM ('{lower or PREFIXES[table] + '_1'}') TO (MAXVALUE)")


def default_name(table: str) -> str:
    return f"{table}_default"


def create_default(table: str) -> str:
    """The statement creating ``table``'s DEFAULT partition: the home of every id no other partition takes."""
    return f'CREATE TABLE IF NOT EXISTS "{default_name(table)}" PARTITION OF {table} DEFAULT'


def missing_months(covered_until: datetime, now: datetime, ahead: int = AHEAD_MONTHS) -> list[datetime]:
    """The months (first days) from ``covered_until`` (where the time partitions end) through ``ahead`` months
    after ``now``'s, gap-free."""
    until = month_start(now)
    for _ in range(ahead + 1):
        until = next_month(until)
    months = []
    month = covered_until
    while month < until:
        months.append(month)
        month = next_month(month)
    return months


_LIST = text("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
             "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:parent) ORDER BY c.relname")


def parse(table: str, name: str, expression: str) -> Partition:
    """A partition from its name and ``pg_get_expr`` of its bounds (``FOR VALUES FROM (…) TO (…)`` or
    ``DEFAULT``)."""
    if expression.strip() == "DEFAULT":
        return Partition(name, None, None, None, default=True)
    found = _BOUNDS.search(expression)
    if found is None:
        raise ValueError(f"partition {name} of {table}: unexpected bounds {expression!r}")
    lower, upper = (None if value in ("MINVALUE", "MAXVALUE") else value.strip("'") for value in found.groups())
    time_shaped = upper is not None and not upper.startswith(f"{PREFIXES[table]}_1")
    return Partition(name, lower, upper, bound_time(table, upper) if time_shaped and upper else None)


async def partitions(conn: AsyncConnection, table: str) -> list[Partition]:
    """``table``'s partitions, oldest first (those without a time, e.g. the DEFAULT one, last); none when it is not
    partitioned."""
    found = [parse(table, name, expression)
             for name, expression in await conn.execute(_LIST, {"parent": table})]
    return sorted(found, key=lambda p: (p.ends is None, p.ends or datetime.max))


async def _covered_until(conn: AsyncConnection, table: str) -> tuple[datetime | None, bool]:
    """Where ``table``'s time partitions end (None: not partitioned) and whether it has a DEFAULT partition."""
    found = await partitions(conn, table)
    ends = [p.ends for p in found if p.ends is not None]
    return (max(ends) if ends else None), any(p.default for p in found)


async def create_ahead(conn: AsyncConnection, now: datetime, ahead: int = AHEAD_MONTHS) -> list[str]:
    """Create the monthly partitions missing up to ``ahead`` months after ``now``'s, moving the rows of each out of
    the DEFAULT partition (:func:`add_month`); returns their names.

    Nothing is locked when none is missing (the catalog is read first). Otherwise the locks are taken in one
    order, parents before their DEFAULT partitions (as a writer routing a row takes them), deliveries before
    events, and the catalog read again under them: a second process doing the same waits, then finds the months."""
    missing = {}
    for table in PREFIXES:
        covered_until, _ = await _covered_until(conn, table)
        if covered_until is not None and missing_months(covered_until, now, ahead):
            missing[table] = covered_until
    if not missing:
        return []
    for table in missing:
        await conn.execute(text(f"LOCK TABLE ONLY {table} IN SHARE UPDATE EXCLUSIVE MODE"))
    for table in missing:
        if (await _covered_until(conn, table))[1]:
            await conn.execute(text(f'LOCK TABLE ONLY "{default_name(table)}" IN ACCESS EXCLUSIVE MODE'))
    created = []
    for table in missing:
        covered_until, has_default = await _covered_until(conn, table)
        for month in missing_months(covered_until, now, ahead) if covered_until else []:
            created.append(await add_month(conn, table, month, has_default))
    return created


async def add_month(conn: AsyncConnection, table: str, month: datetime, has_default: bool = True) -> str:
    """Create ``table``'s partition of ``month`` beside its DEFAULT one: a standalone table like the parent, the
    month's rows moved into it out of the default, then attached (the attach scans the default, now without them,
    and the new table, holding only them). Run under :func:`create_ahead`'s locks; returns the partition's name."""
    name, lower, upper = month_name(table, month), bound(table, month), bound(table, next_month(month))
    await conn.execute(text(f'CREATE TABLE "{name}" (LIKE {table} INCLUDING ALL)'))
    if has_default:
        await conn.execute(text(
            f'WITH moved AS (DELETE FROM "{default_name(table)}" WHERE id >= :lower AND id < :upper RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM moved'), {"lower": lower, "upper": upper})
    await conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION \"{name}\" "
                            f"FOR VALUES FROM ('{lower}') TO ('{upper}')"))
    return name
