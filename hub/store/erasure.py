"""What ``eraseCustomer`` reads and rewrites: the raw deliveries, events (errors, business attributes), refs and
exceptions naming a customer.

The rules (which values are personal, what replaces them) are :mod:`hub.access.erasure`'s; these functions
find the rows and write the redacted values back, inside the caller's write transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import Store, exception_counts, inbox_file
from hub.store.tables import deliveries, events, exception_history, exceptions, ref_keys, refs


async def checkpoint(store: Store) -> None:
    """SQLite: fold the WAL into the database file (``secure_delete`` zeroed the old cells) and truncate it; the same
    for the inbox's own log file."""
    async with store.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        if store.inbox_log_path is not None:
            await conn.execute(text(f"PRAGMA {inbox_file.SCHEMA}.wal_checkpoint(TRUNCATE)"))


async def deliveries_after(conn: AsyncConnection, last: str, limit: int) -> list[Any]:
    """The next ``limit`` deliveries (id, body) by id after ``last``: a keyset scan of the raw bodies."""
    return list((await conn.execute(select(deliveries.c.id, deliveries.c.body).where(deliveries.c.id > last)
                                    .order_by(deliveries.c.id).limit(limit))).all())


async def transactions_with_ref_value(conn: AsyncConnection, value: str) -> set[str | None]:
    """The transactions of events stating a ref whose lower-cased value is ``value`` (None: unlinked events)."""
    return set((await conn.execute(select(events.c.tx_id).join(refs, refs.c.event_id == events.c.id)
                                   .where(func.lower(refs.c.value) == value))).scalars())


async def transactions_of_deliveries(conn: AsyncConnection, delivery_ids: Collection[str]) -> set[str | None]:
    return set((await conn.execute(select(events.c.tx_id).where(events.c.delivery_id.in_(delivery_ids)))).scalars())


async def deliveries_of_transactions(conn: AsyncConnection, tx_ids: Collection[str]) -> set[str]:
    return set((await conn.execute(select(events.c.delivery_id).where(events.c.tx_id.in_(tx_ids)))).scalars())


async def raw_deliveries(conn: AsyncConnection, ids: Collection[str]) -> list[Any]:
    """The deliveries' id, body, headers and error."""
    if not ids:
        return []
    return list((await conn.execute(select(deliveries.c.id, deliveries.c.body, deliveries.c.headers,
                                           deliveries.c.error).where(deliveries.c.id.in_(ids)))).all())


async def rewrite_delivery(conn: AsyncConnection, delivery_id: str, *, body: bytes, headers: Any,
                           error: str | None) -> None:
    await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(body=body, headers=headers,
                                                                                      error=error))


async def event_texts(conn: AsyncConnection, tx_ids: Collection[str], delivery_ids: Collection[str]) -> list[Any]:
    """The events (id, error, attributes) of these transactions or deliveries."""
    return list((await conn.execute(select(events.c.id, events.c.error, events.c.attributes).where(or_(
        events.c.tx_id.in_(tx_ids), events.c.delivery_id.in_(delivery_ids))))).all())


async def set_event_error(conn: AsyncConnection, event_id: str, error: str) -> None:
    await conn.execute(update(events).where(events.c.id == event_id).values(error=error))


async def set_event_attributes(conn: AsyncConnection, event_id: str, attributes: dict[str, str]) -> None:
    await conn.execute(update(events).where(events.c.id == event_id).values(attributes=attributes))


async def replace_ref_value(conn: AsyncConnection, value: str, replacement: str) -> int:
    """Replace refs whose lower-cased value is ``value`` by ``replacement`` in refs and ref_keys; how many refs."""
    ref_rows = (await conn.execute(select(refs.c.event_id, refs.c.namespace, refs.c.value)
                                   .where(func.lower(refs.c.value) == value))).all()
    for row in ref_rows:
        await conn.execute(update(refs).where(refs.c.event_id == row.event_id, refs.c.namespace == row.namespace,
                                              refs.c.value == row.value).values(value=replacement))
    key_rows = (await conn.execute(select(ref_keys.c.namespace, ref_keys.c.value)
                                   .where(func.lower(ref_keys.c.value) == value))).all()
    for row in key_rows:
        await conn.execute(update(ref_keys).where(ref_keys.c.namespace == row.namespace,
                                                  ref_keys.c.value == row.value).values(value=replacement))
    return len(ref_rows)


async def exception_texts(conn: AsyncConnection, tx_ids: Collection[str]) -> list[Any]:
    """The exceptions (id, message, evidence) of these transactions."""
    return list((await conn.execute(select(exceptions.c.id, exceptions.c.message, exceptions.c.evidence)
                                    .where(exceptions.c.tx_id.in_(tx_ids)))).all())


async def set_exception_text(conn: AsyncConnection, exception_id: str, message: str, evidence: Any) -> None:
    """Write the redacted text back; the counters move with the evidence (the backlog reads its amount and
    currency)."""
    row = (await conn.execute(select(exceptions).where(exceptions.c.id == exception_id))).one()
    await conn.execute(update(exceptions).where(exceptions.c.id == exception_id)
                       .values(message=message, evidence=evidence))
    deltas: Counter[exception_counts.Key] = Counter()
    exception_counts.move(deltas, row, evidence=evidence)
    await exception_counts.apply(conn, deltas)


async def exception_notes(conn: AsyncConnection, exception_ids: Collection[str]) -> list[Any]:
    """The history entries (id, note) of these exceptions that have a note."""
    return list((await conn.execute(select(exception_history.c.id, exception_history.c.note).where(
        exception_history.c.exception_id.in_(exception_ids), exception_history.c.note.is_not(None)))).all())


async def set_note(conn: AsyncConnection, history_id: int, note: str) -> None:
    await conn.execute(update(exception_history).where(exception_history.c.id == history_id).values(note=note))
