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
Two flavours of the standard: JSON (:func:`ocel_json`) and SQLite (:func:`write_sqlite`, built from the JSON).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from datetime import datetime
from typing import Any

from sqlalchemy import select

from hub.access.privacy import mask_ref, mask_text
from hub.store import Store
from hub.store.tables import events, refs, transactions

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

    window = []
    if since is not None:
        window.append(events.c.occurred_at >= since)
    if until is not None:
        window.append(events.c.occurred_at < until)
    async with store.read() as conn:
        rows = (await conn.execute(select(events).where(*window).order_by(events.c.occurred_at, events.c.id)
                                   .limit(MAX_EVENTS + 1))).all()
        if len(rows) > MAX_EVENTS:
            raise ValueError(f"more than {MAX_EVENTS} events in the window: narrow since/until")
        stated = (await conn.execute(
            select(refs.c.event_id, refs.c.namespace, refs.c.value, refs.c.role)
            .select_from(refs.join(events, events.c.id == refs.c.event_id)).where(*window)
            .order_by(refs.c.event_id, refs.c.namespace, refs.c.value))).all()
        tx_ids = sorted({row.tx_id for row in rows if row.tx_id is not None})  # an unlinked event has none
        txs = {}
        for start in range(0, len(tx_ids), 1000):
            chunk = tx_ids[start:start + 1000]
            for tx in await conn.execute(select(transactions).where(transactions.c.id.in_(chunk))):
                txs[tx.id] = tx
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


def _map_names(names: list[str]) -> dict[str, str]:
    """OCEL SQLite ``ocel_type_map``: the type name reduced to letters and digits, made unique."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9]", "", name) or "type"
        candidate, n = base, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{base}{n}"
        used.add(candidate.lower())
        result[name] = candidate
    return result


_SQL_TYPES = {"string": "TEXT", "time": "TIMESTAMP", "integer": "INTEGER", "float": "REAL", "boolean": "BOOLEAN"}


def write_sqlite(doc: dict[str, Any], path: str) -> None:
    """Write an OCEL 2.0 JSON document as an OCEL 2.0 SQLite database at ``path`` (the standard's tables:
    event, event_map_type, event_<type>, object, object_map_type, object_<type>, event_object, object_object).
    Parameters are bound; table and column names come from the type maps and declared attributes only."""
    db = sqlite3.connect(path)
    try:
        cur = db.cursor()
        cur.execute("CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        cur.execute("CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)")
        cur.execute("CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT)")
        cur.execute("CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT)")
        cur.execute("CREATE TABLE event_object (ocel_event_id TEXT, ocel_object_id TEXT, ocel_qualifier TEXT, "
                    "PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier))")
        cur.execute("CREATE TABLE object_object (ocel_source_id TEXT, ocel_target_id TEXT, ocel_qualifier TEXT, "
                    "PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier))")
        event_maps = _map_names([t["name"] for t in doc["eventTypes"]])
        object_maps = _map_names([t["name"] for t in doc["objectTypes"]])
        event_attrs: dict[str, list[str]] = {}
        for kind in doc["eventTypes"]:
            mapped, names = event_maps[kind["name"]], [a["name"] for a in kind["attributes"]]
            event_attrs[kind["name"]] = names
            cur.execute("INSERT INTO event_map_type VALUES (?, ?)", (kind["name"], mapped))
            columns = "".join(f', "{a["name"]}" {_SQL_TYPES[a["type"]]}' for a in kind["attributes"])
            cur.execute(f'CREATE TABLE "event_{mapped}" (ocel_id TEXT PRIMARY KEY, ocel_time TIMESTAMP{columns})')
        object_attrs: dict[str, list[str]] = {}
        for kind in doc["objectTypes"]:
            mapped, names = object_maps[kind["name"]], [a["name"] for a in kind["attributes"]]
            object_attrs[kind["name"]] = names
            cur.execute("INSERT INTO object_map_type VALUES (?, ?)", (kind["name"], mapped))
            columns = "".join(f', "{a["name"]}" {_SQL_TYPES[a["type"]]}' for a in kind["attributes"])
            cur.execute(f'CREATE TABLE "object_{mapped}" (ocel_id TEXT, ocel_time TIMESTAMP, '
                        f"ocel_changed_field TEXT{columns})")
        for event in doc["events"]:
            cur.execute("INSERT INTO event VALUES (?, ?)", (event["id"], event["type"]))
            names = event_attrs[event["type"]]
            values = {a["name"]: a["value"] for a in event["attributes"]}
            marks = ", ".join("?" for _ in range(len(names) + 2))
            cur.execute(f'INSERT INTO "event_{event_maps[event["type"]]}" VALUES ({marks})',
                        (event["id"], event["time"], *(values.get(n) for n in names)))
            cur.executemany("INSERT OR IGNORE INTO event_object VALUES (?, ?, ?)",
                            [(event["id"], r["objectId"], r["qualifier"]) for r in event["relationships"]])
        for obj in doc["objects"]:
            cur.execute("INSERT INTO object VALUES (?, ?)", (obj["id"], obj["type"]))
            names = object_attrs[obj["type"]]
            marks = ", ".join("?" for _ in range(len(names) + 3))
            # The first row holds every attribute's initial value (ocel_changed_field NULL), per the standard.
            first = {a["name"]: a["value"] for a in obj["attributes"]}
            at = min((a["time"] for a in obj["attributes"]), default="1970-01-01T00:00:00Z")
            cur.execute(f'INSERT INTO "object_{object_maps[obj["type"]]}" VALUES ({marks})',
                        (obj["id"], at, None, *(first.get(n) for n in names)))
            cur.executemany("INSERT OR IGNORE INTO object_object VALUES (?, ?, ?)",
                            [(obj["id"], r["objectId"], r["qualifier"]) for r in obj["relationships"]])
        db.commit()
    finally:
        db.close()
