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

from hub.model import utcnow
from hub.store import Connection, Store
from hub.store.audit import insert_entry

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


async def record(conn: Connection, *, actor: str, role: str, action: str, object: str = "",
                 result: str = "ok", detail: dict[str, Any] | None = None, at: datetime | None = None) -> None:
    """Append one entry inside the caller's write transaction."""
    await insert_entry(conn, at=at or utcnow(), actor=actor[:100], role=role[:10], action=action[:60],
                       object=object[:MAX_OBJECT], result=result[:20],
                       detail=json.dumps(detail, sort_keys=True, default=str) if detail else None)


async def append(store: Store, **entry: Any) -> None:
    """Append one entry in its own write transaction (for actions that are not store writes themselves)."""
    async with store.write() as conn:
        await record(conn, **entry)


def entry_of(row: Any) -> AuditEntry:
    return AuditEntry(row.id, row.at, row.actor, row.role, row.action, row.object, row.result,
                      json.loads(row.detail) if row.detail else None)
