"""``eraseCustomer``: redact one customer's personal data from raw deliveries, events and exceptions.

Contract: personal values (see :mod:`hub.access.privacy`) in every raw delivery that mentions the email, or
that belongs to a transaction the email or ref names, are replaced by ``[erased]``; refs whose value
is the email become ``erased:sha256:…`` in ``refs`` and ``ref_keys`` alike (so the transaction stays
one); the contact index forgets the emails and the rewritten deliveries; ids, quantities, amounts and times are
untouched. It runs in one write transaction with its audit entry. On SQLite (``secure_delete=ON``) the WAL is
checkpointed afterwards so the old pages are overwritten in the database file and the WAL is truncated: the bytes
are gone, not just unlinked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.access import audit
from hub.access.contacts import keyed
from hub.access.privacy import EMAIL, emails_in, redact_body, redactor
from hub.errors import BadRequest
from hub.store import Store, contact_index
from hub.store import queries as q
from hub.store.tables import deliveries, events, exception_history, exceptions, ref_keys, refs

_SCAN_BATCH = 500


@dataclass(frozen=True, slots=True)
class ErasureReport:
    deliveries: int
    events: int
    refs: int
    exceptions: int
    transactions: list[str]


async def erase_customer(store: Store, *, email: str | None = None, ref: str | None = None,
                         actor: str, role: str) -> ErasureReport:
    """Erase the customer named by ``email`` and/or ``ref`` (BadRequest when neither or a malformed email)."""
    email = (email or "").strip().lower() or None
    ref = (ref or "").strip() or None
    if email is None and ref is None:
        raise BadRequest("give `email` or `ref`")
    if email is not None and not EMAIL.fullmatch(email):
        raise BadRequest(f"{email!r} is not an email address")
    async with store.write() as conn:
        report = await _erase(conn, email, ref)
        await audit.record(conn, actor=actor, role=role, action="eraseCustomer",
                           object=", ".join(x for x in (audit.fingerprint(email) if email else None,
                                                        f"ref:{ref}" if ref else None) if x),
                           detail={"deliveries": report.deliveries, "events": report.events, "refs": report.refs,
                                   "exceptions": report.exceptions, "transactions": report.transactions[:50]})
    if store.dialect == "sqlite":
        await checkpoint(store)
    return report


async def checkpoint(store: Store) -> None:
    """SQLite: fold the WAL into the database file (``secure_delete`` zeroed the old cells) and truncate it."""
    async with store.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


async def _erase(conn: AsyncConnection, email: str | None, ref: str | None) -> ErasureReport:
    emails: set[str] = {email} if email else set()
    tx_ids: set[str] = set()
    delivery_ids: set[str] = set()
    if ref is not None:
        tx_ids |= set((await q.resolve_ref(conn, ref)).tx_ids)
    if email is not None:
        delivery_ids |= await _deliveries_mentioning(conn, email)
        tx_ids |= set((await conn.execute(select(events.c.tx_id).join(refs, refs.c.event_id == events.c.id)
                                          .where(func.lower(refs.c.value) == email))).scalars())
        if delivery_ids:
            tx_ids |= set((await conn.execute(select(events.c.tx_id)
                                              .where(events.c.delivery_id.in_(delivery_ids)))).scalars())
    tx_ids.discard(None)  # type: ignore[arg-type]  # an unlinked event's: its delivery is in delivery_ids already
    if tx_ids:
        delivery_ids |= set((await conn.execute(select(events.c.delivery_id)
                                                .where(events.c.tx_id.in_(tx_ids)))).scalars())
    rows = (await conn.execute(select(deliveries.c.id, deliveries.c.body, deliveries.c.headers, deliveries.c.error)
                               .where(deliveries.c.id.in_(delivery_ids)))).all() if delivery_ids else []
    if ref is not None:  # the customer's emails are the ones their own deliveries carry
        for row in rows:
            emails |= emails_in(row.body.decode("utf-8", "replace"))
    erase = redactor(emails)
    for row in rows:
        await conn.execute(update(deliveries).where(deliveries.c.id == row.id).values(
            body=redact_body(row.body, emails), headers=erase(row.headers),
            error=erase(row.error) if row.error else row.error))
    event_count = ref_count = 0
    if tx_ids or delivery_ids:  # the transactions' events, and the unlinked ones of the deliveries rewritten
        event_rows = (await conn.execute(select(events.c.id, events.c.error).where(or_(
            events.c.tx_id.in_(tx_ids), events.c.delivery_id.in_(delivery_ids))))).all()
        event_count = len(event_rows)
        for row in event_rows:
            if row.error and erase(row.error) != row.error:
                await conn.execute(update(events).where(events.c.id == row.id).values(error=erase(row.error)))
    for value in emails:
        ref_count += await _pseudonymise_ref(conn, value)
    key = await contact_index.index_key(conn)  # the erased deliveries and emails are no longer searchable
    await contact_index.forget(conn, delivery_ids=delivery_ids, digests={keyed(f"email:{e}", key) for e in emails})
    exception_count = await _erase_exceptions(conn, tx_ids, erase) if tx_ids else 0
    return ErasureReport(deliveries=len(rows), events=event_count, refs=ref_count, exceptions=exception_count,
                         transactions=sorted(tx_ids))


async def _deliveries_mentioning(conn: AsyncConnection, email: str) -> set[str]:
    """Ids of deliveries whose raw body mentions the email (case-insensitively), scanned in keyset batches."""
    needle = email.encode()
    found: set[str] = set()
    last = ""
    while True:
        batch = (await conn.execute(select(deliveries.c.id, deliveries.c.body).where(deliveries.c.id > last)
                                    .order_by(deliveries.c.id).limit(_SCAN_BATCH))).all()
        if not batch:
            return found
        found |= {row.id for row in batch if needle in row.body.lower()}
        last = batch[-1].id


async def _pseudonymise_ref(conn: AsyncConnection, value: str) -> int:
    """Replace refs equal to ``value`` (any case) by a stable pseudonym in refs and ref_keys; how many refs."""
    pseudonym = "erased:" + audit.fingerprint(value)
    ref_rows = (await conn.execute(select(refs.c.event_id, refs.c.namespace, refs.c.value)
                                   .where(func.lower(refs.c.value) == value))).all()
    for row in ref_rows:
        await conn.execute(update(refs).where(refs.c.event_id == row.event_id, refs.c.namespace == row.namespace,
                                              refs.c.value == row.value).values(value=pseudonym))
    key_rows = (await conn.execute(select(ref_keys.c.namespace, ref_keys.c.value)
                                   .where(func.lower(ref_keys.c.value) == value))).all()
    for row in key_rows:
        await conn.execute(update(ref_keys).where(ref_keys.c.namespace == row.namespace,
                                                  ref_keys.c.value == row.value).values(value=pseudonym))
    return len(ref_rows)


async def _erase_exceptions(conn: AsyncConnection, tx_ids: set[str], erase: Any) -> int:
    rows = (await conn.execute(select(exceptions.c.id, exceptions.c.message, exceptions.c.evidence)
                               .where(exceptions.c.tx_id.in_(tx_ids)))).all()
    changed = 0
    for row in rows:
        message, evidence = erase(row.message), erase(row.evidence)
        if message != row.message or json.dumps(evidence) != json.dumps(row.evidence):
            await conn.execute(update(exceptions).where(exceptions.c.id == row.id)
                               .values(message=message, evidence=evidence))
            changed += 1
    if rows:
        notes = (await conn.execute(select(exception_history.c.id, exception_history.c.note).where(
            exception_history.c.exception_id.in_([r.id for r in rows]), exception_history.c.note.is_not(None)))).all()
        for note in notes:
            if erase(note.note) != note.note:
                await conn.execute(update(exception_history).where(exception_history.c.id == note.id)
                                   .values(note=erase(note.note)))
    return changed
