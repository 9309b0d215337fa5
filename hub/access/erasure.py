"""``eraseCustomer``: redact one customer's personal data from raw deliveries, events and exceptions.

Contract: personal values (see :mod:`hub.access.privacy`) in every raw delivery that mentions the email, or
that belongs to a transaction the email or ref names, are replaced by ``[erased]``; refs whose value
is the email become ``erased:sha256:…`` in ``refs`` and ``ref_keys`` alike (so the transaction stays
one); the events' business attributes (and so their transactions') are erased by the same rule; the contact
index forgets the emails and the rewritten deliveries; ids, quantities, amounts and times are
untouched. It runs in one write transaction with its audit entry. On SQLite (``secure_delete=ON``) the WAL is
checkpointed afterwards so the old pages are overwritten in the database file and the WAL is truncated: the bytes
are gone, not just unlinked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hub.access import audit
from hub.access.contacts import keyed
from hub.access.privacy import EMAIL, emails_in, redact_body, redactor
from hub.errors import BadRequest
from hub.store import Connection, Store, contact_index, inbox_log
from hub.store import erasure as stored
from hub.store import queries as q
from hub.store.record import refresh_attributes

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
    if store.inbox_log_path is not None:  # every delivery acknowledged is erased too, whichever process moves the log
        await inbox_log.move(store)
    async with store.write() as conn:
        report = await _erase(conn, email, ref)
        if store.inbox_log_path is not None:
            await inbox_log.drop_moved_bodies(conn)  # not a moment later (the trim): the log's copies go now
        await audit.record(conn, actor=actor, role=role, action="eraseCustomer",
                           object=", ".join(x for x in (audit.fingerprint(email) if email else None,
                                                        f"ref:{ref}" if ref else None) if x),
                           detail={"deliveries": report.deliveries, "events": report.events, "refs": report.refs,
                                   "exceptions": report.exceptions, "transactions": report.transactions[:50]})
    if store.dialect == "sqlite":
        await stored.checkpoint(store)
    return report


async def _erase(conn: Connection, email: str | None, ref: str | None) -> ErasureReport:
    emails: set[str] = {email} if email else set()
    tx_ids: set[str] = set()
    delivery_ids: set[str] = set()
    if ref is not None:
        tx_ids |= set((await q.resolve_ref(conn, ref)).tx_ids)
    if email is not None:
        delivery_ids |= await _deliveries_mentioning(conn, email)
        tx_ids |= await stored.transactions_with_ref_value(conn, email)
        if delivery_ids:
            tx_ids |= await stored.transactions_of_deliveries(conn, delivery_ids)
    tx_ids.discard(None)  # type: ignore[arg-type]  # an unlinked event's: its delivery is in delivery_ids already
    if tx_ids:
        delivery_ids |= await stored.deliveries_of_transactions(conn, tx_ids)
    rows = await stored.raw_deliveries(conn, delivery_ids)
    if ref is not None:  # the customer's emails are the ones their own deliveries carry
        for row in rows:
            emails |= emails_in(row.body.decode("utf-8", "replace"))
    erase = redactor(emails)
    for row in rows:
        await stored.rewrite_delivery(conn, row.id, body=redact_body(row.body, emails), headers=erase(row.headers),
                                     error=erase(row.error) if row.error else row.error)
    event_count = ref_count = 0
    if tx_ids or delivery_ids:  # the transactions' events, and the unlinked ones of the deliveries rewritten
        event_rows = await stored.event_texts(conn, tx_ids, delivery_ids)
        event_count = len(event_rows)
        for row in event_rows:
            if row.error and erase(row.error) != row.error:
                await stored.set_event_error(conn, row.id, erase(row.error))
            if row.attributes and erase(row.attributes) != row.attributes:
                await stored.set_event_attributes(conn, row.id, erase(row.attributes))
        await refresh_attributes(conn, tx_ids)  # the transactions' attributes are their events', erased too
    for value in emails:
        ref_count += await _pseudonymise_ref(conn, value)
    key = await contact_index.index_key(conn)  # the erased deliveries and emails are no longer searchable
    await contact_index.forget(conn, delivery_ids=delivery_ids, digests={keyed(f"email:{e}", key) for e in emails})
    exception_count = await _erase_exceptions(conn, tx_ids, erase) if tx_ids else 0
    return ErasureReport(deliveries=len(rows), events=event_count, refs=ref_count, exceptions=exception_count,
                         transactions=sorted(tx_ids))


async def _deliveries_mentioning(conn: Connection, email: str) -> set[str]:
    """Ids of deliveries whose raw body mentions the email (case-insensitively), scanned in keyset batches."""
    needle = email.encode()
    found: set[str] = set()
    last = ""
    while True:
        batch = await stored.deliveries_after(conn, last, _SCAN_BATCH)
        if not batch:
            return found
        found |= {row.id for row in batch if needle in row.body.lower()}
        last = batch[-1].id


async def _pseudonymise_ref(conn: Connection, value: str) -> int:
    """Replace refs equal to ``value`` (any case) by a stable pseudonym in refs and ref_keys; how many refs."""
    return await stored.replace_ref_value(conn, value, "erased:" + audit.fingerprint(value))


async def _erase_exceptions(conn: Connection, tx_ids: set[str], erase: Any) -> int:
    rows = await stored.exception_texts(conn, tx_ids)
    changed = 0
    for row in rows:
        message, evidence = erase(row.message), erase(row.evidence)
        if message != row.message or json.dumps(evidence) != json.dumps(row.evidence):
            await stored.set_exception_text(conn, row.id, message, evidence)
            changed += 1
    if rows:
        for note in await stored.exception_notes(conn, [r.id for r in rows]):
            if erase(note.note) != note.note:
                await stored.set_note(conn, note.id, erase(note.note))
    return changed
