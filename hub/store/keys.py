"""The ``api_keys`` table: insert, find, revoke and page stored keys (their SHA-256, never a key).

The policy (key shape, roles, the in-memory ring) is :mod:`hub.access.keys`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import api_keys


async def insert_key(conn: AsyncConnection, *, prefix: str, name: str, role: str, sha256: str,
                     created_at: datetime) -> None:
    await conn.execute(api_keys.insert().values(prefix=prefix, name=name, role=role, sha256=sha256,
                                                created_at=created_at))


def key_query(revoked: bool | None = None) -> Select[Any]:
    """Stored keys (their hashes, never a key): all, only revoked ones (True) or only live ones (False)."""
    query = select(api_keys)
    if revoked is not None:
        query = query.where(api_keys.c.revoked_at.is_not(None) if revoked else api_keys.c.revoked_at.is_(None))
    return query


async def all_keys(conn: AsyncConnection) -> list[Any]:
    """Every stored key row, revoked ones included, oldest first."""
    return list((await conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.prefix))).all())


async def live_keys_by_prefix(conn: AsyncConnection, prefix: str) -> list[Any]:
    return list((await conn.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None),
                                                           api_keys.c.prefix == prefix))).all())


async def live_keys_by_name(conn: AsyncConnection, name: str) -> list[Any]:
    return list((await conn.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None),
                                                           api_keys.c.name == name))).all())


async def revoke_keys(conn: AsyncConnection, prefixes: list[str], at: datetime) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.prefix.in_(prefixes)).values(revoked_at=at))
