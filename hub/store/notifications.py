"""The notification outbox and the cursor that feeds it from exception history (:mod:`hub.exceptions.notify`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import exception_history, exceptions, notification_cursor, notification_outbox


async def cursor_at(conn: AsyncConnection, name: str) -> int | None:
    """The history id the cursor ``name`` has read up to, or None when it was never placed."""
    return (await conn.execute(select(notification_cursor.c.history_id)
                               .where(notification_cursor.c.name == name))).scalar_one_or_none()


async def place_cursor(conn: AsyncConnection, name: str, history_id: int, *, new: bool = False) -> None:
    """Move the cursor ``name`` to ``history_id`` (``new``: create it there)."""
    if new:
        await conn.execute(notification_cursor.insert().values(name=name, history_id=history_id))
    else:
        await conn.execute(update(notification_cursor).where(notification_cursor.c.name == name)
                           .values(history_id=history_id))


async def last_history_id(conn: AsyncConnection) -> int:
    """The newest exception history entry's id (0 when there is none)."""
    return (await conn.execute(select(func.max(exception_history.c.id)))).scalar_one() or 0


async def history_after(conn: AsyncConnection, history_id: int, limit: int) -> list[Any]:
    """History entries after ``history_id``, oldest first, each with its exception's columns and ``history_id``,
    ``history_action``, ``actor``, ``note``, ``at``."""
    h = exception_history.c
    return list((await conn.execute(
        select(exceptions, h.id.label("history_id"), h.action.label("history_action"), h.actor, h.note, h.at)
        .join(exceptions, exceptions.c.id == h.exception_id).where(h.id > history_id)
        .order_by(h.id).limit(limit))).all())


async def add_to_outbox(conn: AsyncConnection, messages: list[dict[str, Any]]) -> None:
    if messages:
        await conn.execute(notification_outbox.insert(), messages)


async def due_messages(conn: AsyncConnection, now: datetime, limit: int) -> list[Any]:
    """Pending outbox rows due by ``now``, the longest due first."""
    outbox = notification_outbox.c
    return list((await conn.execute(select(notification_outbox).where(
        outbox.state == "pending", outbox.next_attempt_at <= now)
        .order_by(outbox.next_attempt_at, outbox.id).limit(limit))).all())


async def update_message(conn: AsyncConnection, message_id: str, **values: Any) -> None:
    await conn.execute(update(notification_outbox).where(notification_outbox.c.id == message_id).values(**values))
