"""Pre-store correlated orders set-based (``INSERT … SELECT`` over a generated series), on SQLite or PostgreSQL.

Each order is what the hub itself stores for the three events of ``bench.common.order_event`` (shop
``order.placed``, erp ``erp.posted``, wms ``shipment.shipped``): three ``events`` rows, six ``refs``, four
``ref_keys`` and one ``transactions`` row (on PostgreSQL also three ``event_keys``), under order numbers from
``first`` on (the ingest figures send orders from 0, so their refs never meet these). A million events take a
minute or two, not an hour through HTTP.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store import Store

FIRST = 10_000_000  # eight digits, as lpad and SO-%08d need
_CHUNK = 100_000  # orders per statement: bounded transactions on both stores


def _series(dialect: str) -> str:
    if dialect == "postgresql":
        return "SELECT g AS o FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g"
    return "WITH RECURSIVE s(o) AS (SELECT :lo UNION ALL SELECT o + 1 FROM s WHERE o < :hi) SELECT o FROM s"


def _pad(dialect: str, width: int) -> str:
    """``o`` zero-padded to ``width`` digits, as ``f"{o:0{width}d}"``."""
    if dialect == "postgresql":
        return f"lpad(o::text, {width}, '0')"
    return f"printf('%0{width}d', o)"


def _statements(dialect: str) -> list[str]:
    series, o10, o8 = _series(dialect), _pad(dialect, 10), _pad(dialect, 8)
    true, false = ("true", "false") if dialect == "postgresql" else ("1", "0")
    now = "CAST('2026-01-01 00:00:00' AS TIMESTAMP)" if dialect == "postgresql" else "'2026-01-01 00:00:00.000000'"
    systems = "'[\"erp\", \"shop\", \"wms\"]'"
    event = ("INSERT INTO events (id, source, source_event_id, type, occurred_at, received_at, tx_id, delivery_id, "
             "status, unknown_type, out_of_order, duplicates) SELECT 'evt_pre' || {stage} || '_' || o, '{source}', "
             "'{source}-' || o || '-{stage}', '{type}', {now}, {now}, 'tx_pre' || o, 'dlv_pre' || o, 'ok', "
             f"{false}, {false}, 0 FROM ({series}) AS s")
    ref = ("INSERT INTO refs (event_id, namespace, value, role) SELECT 'evt_pre' || {stage} || '_' || o, "
           f"'{{namespace}}', {{value}}, 'identity' FROM ({series}) AS s")
    key = (f"INSERT INTO ref_keys (namespace, value, tx_id, events, demoted) SELECT '{{namespace}}', {{value}}, "
           f"'tx_pre' || o, {{events}}, {false} FROM ({series}) AS s")
    shop, name, sales, shipment = f"'50' || {o10}", "'#' || (o + 1000)", f"'SO-' || {o8}", f"'SH-' || {o8}"
    statements = [
        event.format(stage=0, source="shop", type="order.placed", now=now),
        event.format(stage=1, source="erp", type="erp.posted", now=now),
        event.format(stage=2, source="wms", type="shipment.shipped", now=now),
        ref.format(stage=0, namespace="shop:order", value=shop), ref.format(stage=0, namespace="shop:order_name",
                                                                            value=name),
        ref.format(stage=1, namespace="erp:sales_order", value=sales), ref.format(stage=1, namespace="shop:order",
                                                                                  value=shop),
        ref.format(stage=2, namespace="wms:shipment", value=shipment), ref.format(stage=2, namespace="erp:sales_order",
                                                                                  value=sales),
        key.format(namespace="shop:order", value=shop, events=2), key.format(namespace="shop:order_name", value=name,
                                                                             events=1),
        key.format(namespace="erp:sales_order", value=sales, events=2),
        key.format(namespace="wms:shipment", value=shipment, events=1),
        ("INSERT INTO transactions (id, kind, first_at, last_at, updated_at, events, systems, open_exceptions) "
         f"SELECT 'tx_pre' || o, 'order', {now}, {now}, {now}, 3, {systems}, 0 FROM ({series}) AS s"),
    ]
    if dialect == "postgresql":  # deliveries and events are partitioned there: their keys are in event_keys
        keys = ("INSERT INTO event_keys (source, source_event_id, event_id) SELECT '{source}', "
                "'{source}-' || o || '-{stage}', 'evt_pre' || {stage} || '_' || o FROM ({series}) AS s")
        statements += [keys.format(stage=stage, source=source, series=series)
                       for stage, source in enumerate(("shop", "erp", "wms"))]
    return statements


async def prestore(store: Store, events: int, first: int = FIRST) -> int:
    """Store ``events // 3`` orders (three events each) with their refs, keys and transactions; returns the events."""
    orders = events // 3
    statements = [text(s) for s in _statements(store.dialect)]
    for lo in range(first, first + orders, _CHUNK):
        hi = min(first + orders, lo + _CHUNK) - 1
        async with store.write() as conn:
            for statement in statements:
                await conn.execute(statement, {"lo": lo, "hi": hi})
    async with store.write() as conn:
        await analyze(conn)
    return orders * 3


async def analyze(conn: AsyncConnection) -> None:
    """Fresh planner statistics, as autovacuum (PostgreSQL) or ``PRAGMA optimize`` (SQLite) would keep them."""
    await conn.execute(text("ANALYZE"))
