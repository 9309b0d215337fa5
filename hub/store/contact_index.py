"""The contact index's SQL: keyed hashes of customers' emails and phones per delivery (see hub.access.contacts)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import contact_index, events, hub_secrets

KEY_NAME = "contact_index"


async def index_key(conn: AsyncConnection) -> bytes:
    """The hub's secret that keys the index (made by migration 0012)."""
    return bytes((await conn.execute(select(hub_secrets.c.value).where(hub_secrets.c.name == KEY_NAME))).scalar_one())


async def add(conn: AsyncConnection, digests: Iterable[tuple[str, str]]) -> None:
    """Index ``(digest, delivery_id)`` pairs (a delivery normalized again adds nothing twice)."""
    rows = [{"digest": d, "delivery_id": delivery_id} for d, delivery_id in dict.fromkeys(digests)]
    if not rows:
        return
    query = select(contact_index.c.digest, contact_index.c.delivery_id).where(
        contact_index.c.delivery_id.in_({r["delivery_id"] for r in rows}))
    known = {tuple(row) for row in (await conn.execute(query)).all()}
    fresh = [r for r in rows if (r["digest"], r["delivery_id"]) not in known]
    if fresh:
        await conn.execute(contact_index.insert(), fresh)


async def transactions_of(conn: AsyncConnection, digest: str) -> list[str]:
    """The transactions whose events came in deliveries carrying the contact, newest first."""
    query = (select(events.c.tx_id).join(contact_index, contact_index.c.delivery_id == events.c.delivery_id)
             .where(contact_index.c.digest == digest, events.c.tx_id.is_not(None)).distinct())
    return sorted((await conn.execute(query)).scalars(), reverse=True)


async def forget(conn: AsyncConnection, *, delivery_ids: Iterable[str] = (), digests: Iterable[str] = ()) -> int:
    """Delete the index rows of these deliveries and of these digests; how many went."""
    gone = 0
    for column, values in ((contact_index.c.delivery_id, set(delivery_ids)), (contact_index.c.digest, set(digests))):
        if values:
            gone += (await conn.execute(delete(contact_index).where(column.in_(values)))).rowcount or 0
    return gone
