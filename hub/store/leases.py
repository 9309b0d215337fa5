"""Leases: one owner at a time for each named duty, across every hub process on one store.

A lease is a row (name, holder, until). :func:`take` gives it to ``holder`` when it is free, expired, or already
``holder``'s, and extends it to ``seconds`` from now; any other holder's unexpired lease stays as it is. The time
is the database's clock on PostgreSQL (machines' clocks never disagree about who holds what); SQLite has one
process, which uses its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model import utcnow
from hub.store import Store
from hub.store.tables import leases

__all__ = ["held", "release", "take"]


def _now(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "postgresql":
        return func.timezone("UTC", func.now())
    return literal(utcnow(), DateTime)


def _later(conn: AsyncConnection, seconds: float) -> Any:
    if conn.dialect.name == "postgresql":
        return func.timezone("UTC", func.now()) + func.make_interval(0, 0, 0, 0, 0, 0, literal(float(seconds)))
    return literal(utcnow() + timedelta(seconds=seconds), DateTime)


async def take(store: Store, names: Iterable[str], holder: str, seconds: float) -> set[str]:
    """Take or renew each named lease for ``holder`` for ``seconds``; returns the names ``holder`` now holds."""
    got: set[str] = set()
    async with store.write() as conn:
        for name in sorted(set(names)):
            statement = store.upsert(leases).values(name=name, holder=holder, until=_later(conn, seconds))
            statement = statement.on_conflict_do_update(
                index_elements=[leases.c.name],
                set_={"holder": statement.excluded.holder, "until": statement.excluded.until},
                where=(leases.c.holder == statement.excluded.holder) | (leases.c.until < _now(conn)),
            ).returning(leases.c.name)
            if (await conn.execute(statement)).first() is not None:
                got.add(name)
    return got


async def release(store: Store, names: Iterable[str], holder: str) -> None:
    """Give up ``holder``'s leases on ``names`` (stopping): another process may take them at once."""
    wanted = sorted(set(names))
    if wanted:
        async with store.write() as conn:
            await conn.execute(delete(leases).where(leases.c.name.in_(wanted), leases.c.holder == holder))


async def held(store: Store) -> list[tuple[str, str, datetime]]:
    """Every lease: (name, holder, until), by name — who runs each duty (expired ones included)."""
    async with store.read() as conn:
        rows = (await conn.execute(select(leases.c.name, leases.c.holder, leases.c.until)
                                   .order_by(leases.c.name))).all()
    return [(row.name, row.holder, row.until) for row in rows]
