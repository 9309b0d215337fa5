"""The audit log: every operator and admin action (who, what, when, which object, result).

Entries never hold a secret: callers pass an object *reference* (ids, a key prefix, a hash of an
erased email) and a short detail; notes, keys and payloads are not recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.model import utcnow
from hub.store import Store
from hub.store.queries import decode_cursor, encode_cursor
from hub.store.tables import audit_log

MAX_OBJECT = 400


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    object: str
    result: str
    detail: dict[str, Any] | None


def fingerprint(value: str) -> str:
    """A stable, non-reversible reference to a personal value (an erased email): ``sha256:<12 hex>``."""
    return "sha256:" + hashlib.sha256(value.strip().lower().encode()).hexdigest()[:12]


async def record(conn: AsyncConnection, *, actor: str, role: str, action: str, object: str = "",
                 result: str = "ok", detail: dict[str, Any] | None = None, at: datetime | None = None) -> None:
    """Append one entry inside the caller's write transaction."""
    await conn.execute(audit_log.insert().values(
        at=at or utcnow(), actor=actor[:100], role=role[:10], action=action[:60], object=object[:MAX_OBJECT],
        result=result[:20], detail=json.dumps(detail, sort_keys=True, default=str) if detail else None))


async def append(store: Store, **entry: Any) -> None:
    """Append one entry in its own write transaction (for actions that are not store writes themselves)."""
    async with store.write() as conn:
        await record(conn, **entry)


async def entries(conn: AsyncConnection, first: int, after: str | None) -> tuple[list[AuditEntry], bool]:
    """Newest first, keyset-paged on id; returns the page and whether more follow. ValueError for a bad cursor."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(first + 1)
    if after:
        (last,) = decode_cursor(after, 1)
        if not last.isdigit():
            raise ValueError("cursor is not valid")
        query = query.where(audit_log.c.id < int(last))
    rows = (await conn.execute(query)).all()
    page = [AuditEntry(r.id, r.at, r.actor, r.role, r.action, r.object, r.result,
                       json.loads(r.detail) if r.detail else None) for r in rows[:first]]
    return page, len(rows) > first


def cursor_of(entry: AuditEntry) -> str:
    return encode_cursor(str(entry.id))
