"""The ``web_sessions`` table: open, find, end and expire web UI sessions (the policy is in ``hub.access.sessions``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import web_sessions


async def insert_session(conn: AsyncConnection, *, id_sha256: str, key_sha256: str, csrf_token: str,
                         created_at: datetime, expires_at: datetime) -> None:
    """Store a new session, and drop the ones that expired by ``created_at`` (so the table never grows stale)."""
    await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= created_at))
    await conn.execute(web_sessions.insert().values(id_sha256=id_sha256, key_sha256=key_sha256,
                                                    csrf_token=csrf_token, created_at=created_at,
                                                    expires_at=expires_at))


async def live_session(conn: AsyncConnection, id_sha256: str, now: datetime) -> Any | None:
    """The session row with that id hash that has not expired by ``now``, else None."""
    return (await conn.execute(select(web_sessions).where(web_sessions.c.id_sha256 == id_sha256,
                                                          web_sessions.c.expires_at > now))).first()


async def delete_session(conn: AsyncConnection, id_sha256: str) -> int:
    return (await conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == id_sha256))).rowcount


async def delete_sessions_of_keys(conn: AsyncConnection, key_sha256s: list[str]) -> int:
    """End every session opened with one of these keys (by the key's SHA-256): the key was revoked."""
    if not key_sha256s:
        return 0
    return (await conn.execute(delete(web_sessions).where(web_sessions.c.key_sha256.in_(key_sha256s)))).rowcount
