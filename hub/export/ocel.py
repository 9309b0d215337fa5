"""OCEL 2.0 export (https://www.ocel-standard.org/): crosstrace's object-centric event log of a time window.

- Events: canonical events that occurred in ``[since, until)``; the event type is the canonical type
  (``order.placed``), attributes are source, source_event_id, received_at, status, error and amount.
- Objects: transactions (object type = the transaction kind: ``order``, ``transfer``…; attributes ``systems``
  and ``event_count``) and refs (object type = the ref namespace, ``shop:order``; attribute ``value``). A ref's
  object id is ``ref_`` + a hash of namespace and value, so ids never carry personal data.
- E2O: each event → its transaction (qualifier ``transaction``) and → each ref it states (qualifier = the
  role, ``identity`` or ``related``). O2O: transaction → its refs (``identified by`` / ``related to``).
- ``masked``: every text a caller below admin reads (source event ids, errors, ref values) goes through the one
  rule set of :mod:`hub.access.privacy`.
Two flavours of the standard: JSON (:func:`ocel_json`) and SQLite (``write_sqlite``, built from the JSON by
:mod:`hub.store.ocel_sqlite`: only the store speaks SQL).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from hub.access.privacy import mask_ref, mask_text
from hub.store import Store
from hub.store.exports import events_in_window, refs_in_window, transactions_in_chunks
from hub.store.ocel_sqlite import write_sqlite

__all__ = ["MAX_EVENTS", "ocel_json", "ref_object_id", "write_sqlite"]

MAX_EVENTS = 200_000
_EVENT_ATTRIBUTES = [("source", "string"), ("source_event_id", "string"), ("received_at", "time"),
                     ("status", "string"), ("error", "string"), ("amount", "float"), ("currency", "string"),
                     ("amount_kind", "string")]
_TX_ATTRIBUTES = [("systems", "string"), ("event_count", "integer")]
_QUALIFIERS = {"identity": "identified by", "related": "related to"}


def _time(value: datetime) -> str:
    return value.isoformat(timespec="microseconds") + "Z"


def ref_object_id(namespace: str, value: str) -> str:
    return "ref_" + hashlib.sha256(f"{namespace}\x00{value}".encode()).hexdigest()[:20]


async def ocel_json(store: Store, since: datetime | None, until: datetime | None,
                    masked: bool = False) -> dict[str, Any]:
    """The OCEL 2.0 JSON document of the window (naive UTC bounds); ``masked`` for callers who may not see personal
    data. ``ValueError`` above :data:`MAX_EVENTS`."""
    def hide(text: str) -> str:
        return mask_text(text) if masked else text

    def hide_ref(namespace: str, value: str) -> str:
        return mask_ref(namespace, value) if masked else value

    async with store.read() as conn:
        rows = await events_in_window(conn, since, until, MAX_EVENTS + 1)
        if len(rows) > MAX_EVENTS:
            raise ValueError(f"more than {MAX_EVENTS} events in the window: narrow since/until")
        stated = await refs_in_window(conn, since, until)
        txs = await transactions_in_chunks(conn, sorted({row.tx_id for row in rows if row.tx_id is not None}))
    by_event: dict[str, list[Any]] = {}
    for ref in stated:
        by_event.setdefault(ref.event_id, []).append(ref)

    objects: dict[str, dict[str, Any]] = {}
    event_types: set[str] = set()
    out_events = []
    for row in rows:
        event_types.add(row.type)
        tx = txs.get(row.tx_id)
        if tx is not None and tx.id not in objects:
            objects[tx.id] = {"id": tx.id, "type": tx.kind, "attributes": [
                {"name": "systems", "time": _time(tx.first_at), "value": ",".join(tx.systems or [])},
                {"name": "event_count", "time": _time(tx.first_at), "value": int(tx.events)}], "relationships": []}
        relationships = [{"objectId": row.tx_id, "qualifier": "transaction"}] if tx is not None else []
        for ref in by_event.get(row.id, []):
            object_id = ref_object_id(ref.namespace, ref.value)
            if object_id not in objects:
                value = hide_ref(ref.namespace, ref.value)
                objects[object_id] = {"id": object_id, "type": ref.namespace, "attributes": [
                    {"name": "value", "time": _time(row.occurred_at), "value": value}], "relationships": []}
            relationships.append({"objectId": object_id, "qualifier": ref.role})
            if tx is not None:
                link = {"objectId": object_id, "qualifier": _QUALIFIERS.get(ref.role, ref.role)}
                if link not in objects[tx.id]["relationships"]:
                    objects[tx.id]["relationships"].append(link)
        attributes = [{"name": "source", "value": row.source},
                      {"name": "source_event_id", "value": hide(row.source_event_id)},
                      {"name": "received_at", "value": _time(row.received_at)},
                      {"name": "status", "value": row.status}]
        if row.error:
            attributes.append({"name": "error", "value": hide(row.error)})
        if row.amount_value is not None:
            attributes += [{"name": "amount", "value": float(row.amount_value)},
                           {"name": "currency", "value": row.amount_currency or ""},
                           {"name": "amount_kind", "value": row.amount_kind or "total"}]
        out_events.append({"id": row.id, "type": row.type, "time": _time(row.occurred_at), "attributes": attributes,
                           "relationships": relationships})

    object_types = sorted({o["type"] for o in objects.values()})
    tx_kinds = {tx.kind for tx in txs.values()}
    return {
        "eventTypes": [{"name": name, "attributes": [{"name": n, "type": t} for n, t in _EVENT_ATTRIBUTES]}
                       for name in sorted(event_types)],
        "objectTypes": [{"name": name, "attributes": [{"name": n, "type": t} for n, t in (
            _TX_ATTRIBUTES if name in tx_kinds else [("value", "string")])]} for name in object_types],
        "events": out_events,
        "objects": list(objects.values()),
    }
