"""Exports of the lists (transactions, events, exceptions, deliveries) as streams of flat rows.

Rows come in id order, read in keyset batches of :data:`BATCH` with a fresh read connection per batch, so an
export of millions of rows holds neither a connection nor the rows in memory. Filters mirror the GraphQL ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from hub.store import Store, inbox_log
from hub.store.exports import ExportFilter, export_batch

__all__ = ["BATCH", "COLUMNS", "LISTS", "ExportFilter", "export_rows"]
BATCH = 1000
COLUMNS: dict[str, list[str]] = {
    "transactions": ["id", "kind", "first_at", "last_at", "events", "systems", "open_exceptions"],
    "events": ["id", "tx_id", "source", "source_event_id", "type", "occurred_at", "received_at", "status", "error",
               "amount_value", "amount_currency", "amount_kind", "refs", "lines", "delivery_id"],
    "exceptions": ["id", "type", "severity", "rule", "subject", "tx_id", "tx_kind", "system", "queue", "status",
                   "message", "assignee", "opened_at", "updated_at", "resolved_at", "resolved_by"],
    "deliveries": ["id", "source", "received_at", "state", "error", "attempts", "repeats", "content_type", "size"],
}
LISTS = tuple(COLUMNS)


async def export_rows(store: Store, name: str, flt: ExportFilter) -> AsyncIterator[dict[str, Any]]:
    """Every matching row of list ``name`` as a dict with :data:`COLUMNS` keys, in id order.

    Events carry ``refs`` as ``[{"namespace", "value", "role"}]``. ``KeyError`` for an unknown list.
    """
    if name not in COLUMNS:
        raise KeyError(name)
    if name == "deliveries":
        await inbox_log.caught_up(store)  # every acknowledged delivery is exported
    after: str | None = None
    sent = 0
    while flt.limit is None or sent < flt.limit:
        size = BATCH if flt.limit is None else min(BATCH, flt.limit - sent)
        async with store.read() as conn:
            rows = await export_batch(conn, name, flt, after, size)
        for row in rows:
            yield row
        sent += len(rows)
        if len(rows) < size:
            return
        after = rows[-1]["id"]
