"""Objects by global id (``node(id:)``): the id's prefix names the table (``tx_``, ``evt_``, ``exc_``, ``dlv_``)."""

from __future__ import annotations

from typing import Any

from hub.store import exception_queries as xq
from hub.store import queries as q

KINDS = {"tx": "transaction", "evt": "event", "exc": "exception", "dlv": "delivery"}


def kind_of(node_id: str) -> str | None:
    """``transaction``, ``event``, ``exception`` or ``delivery`` by the id's prefix; None for another id."""
    prefix, sep, _ = node_id.partition("_")
    return KINDS.get(prefix) if sep else None


async def find_node(conn: Any, node_id: str) -> tuple[str, Any] | None:
    """``(kind, row)`` for the object with this id, or None. An event comes as ``(EventRecord, demoted keys)``."""
    kind = kind_of(node_id)
    if kind == "transaction":
        row = (await q.transactions_by_id(conn, [node_id])).get(node_id)
    elif kind == "exception":
        row = (await xq.exceptions_by_id(conn, [node_id])).get(node_id)
    elif kind == "delivery":
        row = await q.get_delivery(conn, node_id)
    elif kind == "event":
        record = (await q.events_by_id(conn, [node_id])).get(node_id)  # an unlinked event has no transaction
        if record is None:
            return None
        keys = sorted({(ns, v) for ns, v, role in record.refs if role == "identity"})
        row = (record, await q.demoted_keys(conn, keys))
    else:
        return None
    return (kind, row) if row is not None else None
