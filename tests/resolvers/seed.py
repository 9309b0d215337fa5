"""Rows written straight into a real store (SQLAlchemy Core), for aggregate and export tests that need exact
times: the HTTP ingest path stamps ``received_at`` with the wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub.store import Store
from hub.store.exception_counts import rebuild as rebuild_counts
from hub.store.tables import deliveries, events, exceptions, refs, transactions

T0 = datetime(2026, 10, 24, 21, 30)  # 23:30 in Berlin (CEST), the evening before the DST change


def event(n: int, tx: str, source: str, type_: str, occurred: datetime, lag_s: float = 1.0, **extra: Any) -> dict:
    return {"id": f"evt_{n:04d}", "source": source, "source_event_id": f"se-{n}", "type": type_,
            "occurred_at": occurred, "received_at": occurred + timedelta(seconds=lag_s), "tx_id": tx,
            "delivery_id": f"dlv_{n:04d}", "status": "ok", "lines": [], "error": None, "amount_value": None,
            "amount_currency": None, "amount_kind": None, **extra}


def transaction(tx: str, kind: str, first: datetime, last: datetime, systems: list[str], n: int) -> dict:
    return {"id": tx, "kind": kind, "first_at": first, "last_at": last, "updated_at": last, "events": n,
            "systems": systems}


def exception(n: int, type_: str, status: str, opened: datetime, system: str = "erp", tx: str | None = None,
              evidence: dict | None = None, kind: str = "order") -> dict:
    return {"id": f"exc_{n:04d}", "type": type_, "severity": "error", "rule": type_.replace("_", "."),
            "subject": f"s{n}", "key": f"k{n}", "tx_id": tx, "tx_kind": kind, "system": system,
            "system_kind": "erp", "status": status, "open_key": None if status == "resolved" else f"k{n}",
            "message": f"m{n}", "evidence": evidence or {}, "opened_at": opened, "updated_at": opened,
            "resolved_at": opened if status == "resolved" else None}


def delivery(n: int, source: str, state: str, received: datetime) -> dict:
    return {"id": f"dlv_{n:04d}", "source": source, "dedup_key": f"d{n}", "received_at": received,
            "headers": {}, "body": b"{}", "content_type": "application/json", "state": state}


async def write(store: Store, *, delivery_rows: list[dict] = (), event_rows: list[dict] = (),  # type: ignore[assignment]
                tx_rows: list[dict] = (), exception_rows: list[dict] = (),  # type: ignore[assignment]
                ref_rows: list[dict] = ()) -> None:  # type: ignore[assignment]
    async with store.write() as conn:
        for table, rows in ((deliveries, delivery_rows), (events, event_rows), (transactions, tx_rows),
                            (exceptions, exception_rows), (refs, ref_rows)):
            if rows:
                await conn.execute(table.insert(), list(rows))
        if exception_rows:  # written around hub.exceptions.lifecycle, as a bulk load is: count them as the hub would
            await rebuild_counts(conn)
