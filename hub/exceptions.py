"""Exceptions (DESIGN §4): raised by rules, never two open for the same rule and subject."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.ids import new_id
from hub.model import utcnow
from hub.store.tables import exceptions


async def raise_exception(conn: AsyncConnection, *, rule: str, type: str, severity: str, subject: str,
                          message: str, evidence: dict[str, Any], tx_id: str | None = None,
                          system: str | None = None) -> str:
    """Open an exception, or refresh the evidence of the one already open for ``rule`` + ``subject``."""
    open_key = f"{rule}|{subject}"
    now = utcnow()
    existing = (await conn.execute(select(exceptions.c.id).where(exceptions.c.open_key == open_key))).first()
    if existing is not None:
        await conn.execute(update(exceptions).where(exceptions.c.id == existing.id)
                           .values(evidence=evidence, message=message, updated_at=now, tx_id=tx_id))
        return existing.id
    exception_id = new_id("exc")
    await conn.execute(exceptions.insert().values(
        id=exception_id, type=type, severity=severity, rule=rule, subject=subject, tx_id=tx_id, system=system,
        status="open", open_key=open_key, message=message, evidence=evidence, opened_at=now, updated_at=now))
    return exception_id


async def clear_exception(conn: AsyncConnection, *, rule: str, subject: str) -> str | None:
    """Resolve the open exception for ``rule`` + ``subject`` because its evidence cleared."""
    open_key = f"{rule}|{subject}"
    now = utcnow()
    existing = (await conn.execute(select(exceptions.c.id).where(exceptions.c.open_key == open_key))).first()
    if existing is None:
        return None
    await conn.execute(update(exceptions).where(exceptions.c.id == existing.id)
                       .values(status="resolved", open_key=None, resolved_at=now, updated_at=now))
    return existing.id
