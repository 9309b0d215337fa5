"""Stored maintenance windows (announced through GraphQL or the CLI): add, end, and those that end after a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import maintenance_windows


async def add(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(maintenance_windows.insert(), [row])


async def end(conn: AsyncConnection, window_id: str, at: datetime) -> Any:
    """End a window at ``at`` (never later than it would have); the row, or None when there is no such window."""
    row = (await conn.execute(select(maintenance_windows).where(maintenance_windows.c.id == window_id))).first()
    if row is not None and row.ends_at > at:
        await conn.execute(update(maintenance_windows).where(maintenance_windows.c.id == window_id)
                           .values(ends_at=max(at, row.starts_at)))
        row = (await conn.execute(select(maintenance_windows).where(maintenance_windows.c.id == window_id))).first()
    return row


async def ending_after(conn: AsyncConnection, at: datetime) -> list[Any]:
    """Windows that end after ``at`` (current and announced ones; a range on ix_maintenance_windows_ends)."""
    return list((await conn.execute(select(maintenance_windows).where(maintenance_windows.c.ends_at > at)
                                    .order_by(maintenance_windows.c.starts_at, maintenance_windows.c.id))).all())
