"""Exception rows and their history, as :mod:`hub.exceptions.lifecycle` reads and writes them.

Every function runs inside the caller's transaction; counters are the lifecycle's job
(:mod:`hub.store.exception_counts`), history rows are written here only when the caller asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.lookups import one_of
from hub.store.tables import exception_history, exceptions, transactions


async def latest_by_key(conn: AsyncConnection, key: str) -> Any:
    """The newest exception ever raised for ``rule|subject`` (open or resolved), or None."""
    return (await conn.execute(select(exceptions).where(exceptions.c.key == key)
                               .order_by(exceptions.c.opened_at.desc()).limit(1))).first()


async def open_by_key(conn: AsyncConnection, key: str) -> Any:
    """The open (or acknowledged) exception for ``rule|subject``, or None."""
    return (await conn.execute(select(exceptions).where(exceptions.c.open_key == key))).first()


async def by_ids(conn: AsyncConnection, ids: Sequence[str]) -> list[Any]:
    return list((await conn.execute(select(exceptions).where(exceptions.c.id.in_(list(ids))))).all())


async def of_transactions(conn: AsyncConnection, tx_ids: Sequence[str], rules: Sequence[str]) -> list[Any]:
    """The exceptions of these transactions raised by these rules, oldest first."""
    return list((await conn.execute(select(exceptions).where(one_of(conn, exceptions.c.tx_id, tx_ids),
                                                             exceptions.c.rule.in_(rules))
                                    .order_by(exceptions.c.opened_at))).all())


async def insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await conn.execute(exceptions.insert(), rows)


async def change(conn: AsyncConnection, exception_id: str, **values: Any) -> None:
    """Set these columns of one exception."""
    await conn.execute(update(exceptions).where(exceptions.c.id == exception_id).values(**values))


async def add_history(conn: AsyncConnection, entries: list[dict[str, Any]]) -> None:
    """Append history entries (``exception_id, at, actor, action, note``)."""
    await conn.execute(exception_history.insert(), entries)


async def add_history_entry(conn: AsyncConnection, exception_id: str, actor: str, action: str, note: str | None,
                            at: datetime) -> None:
    await conn.execute(exception_history.insert().values(exception_id=exception_id, at=at, actor=actor,
                                                         action=action, note=note))


async def count_open_per_transaction(conn: AsyncConnection, tx_ids: Sequence[str]) -> None:
    """Set ``transactions.open_exceptions`` of these transactions to their number of unresolved exceptions: one
    statement that rewrites only the rows whose count changed (usually none: the summary wrote them just before)."""
    if tx_ids:
        await conn.execute(update(transactions).where(one_of(conn, transactions.c.id, tx_ids),
                                                      transactions.c.open_exceptions != _OPEN)
                           .values(open_exceptions=_OPEN))


_OPEN = (select(func.count()).where(exceptions.c.tx_id == transactions.c.id, exceptions.c.status != "resolved")
         .scalar_subquery())


async def due_for_escalation(conn: AsyncConnection, type_: str, escalating_before: datetime, below: int,
                             limit: int = 1000) -> list[Any]:
    """Unresolved exceptions of ``type_`` whose escalation clock started (opened, or last reopened) at or before
    ``escalating_before`` and escalated fewer than ``below`` steps, oldest first (a range on the partial index
    ix_exceptions_escalating)."""
    return list((await conn.execute(
        select(exceptions).where(exceptions.c.type == type_, exceptions.c.escalating_since <= escalating_before,
                                 exceptions.c.escalation < below,
                                 text("exceptions.status != 'resolved' AND exceptions.escalation < 3"))
        .order_by(exceptions.c.escalating_since, exceptions.c.id).limit(limit))).all())
