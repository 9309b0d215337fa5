"""``get_trace``/``get_traces`` read on the driver (hub.store.driver) give the ``Trace`` a straightforward read through
SQLAlchemy gives, on randomized stitched transactions, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select

from hub.correlation.plan import CorrelationSettings
from hub.model import DEFAULT_JUNK_VALUES, IDENTITY, RELATED, Amount, Event, Line, Ref
from hub.store import Store
from hub.store import exception_queries as xq
from hub.store import queries as q
from hub.store.record import Incoming, record_events
from hub.store.tables import exception_history, exceptions, ref_keys, transactions, tx_aliases
from hub.store.trace import AmbiguousRef, Trace, TransactionRecord, get_trace, get_traces

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456)
SETTINGS = CorrelationSettings(junk_values=frozenset(DEFAULT_JUNK_VALUES), placeholder_threshold=3)
SOURCES = ("shop", "erp", "wms", "stripe")


def random_event(rng: random.Random, n: int) -> Event:
    """An event stating a few refs from small pools (so transactions stitch and merge; a shared customer is demoted
    as a placeholder), sometimes a related payout (or the payout itself), lines, amounts, an error, a trace parent
    or no time at all."""
    refs = {Ref("shop:order", str(rng.randrange(12))), Ref("erp:so", f"SO-{rng.randrange(12)}")}
    if rng.random() < 0.3:
        refs.add(Ref("shop:customer", rng.choice(("c1", "Zoë ✓", "o'brien"))))
    if rng.random() < 0.3:
        refs.add(Ref("stripe:payout", f"po_{rng.randrange(3)}", RELATED))
    chosen = rng.sample(sorted(refs, key=str), k=rng.randint(1, len(refs)))
    if rng.random() < 0.15:  # a payout of its own, which the orders' related refs link to
        chosen = [Ref("stripe:payout", f"po_{rng.randrange(3)}")]
    failed = rng.random() < 0.2
    return Event(
        source=rng.choice(SOURCES), source_event_id=f"e{n}", type=rng.choice(("order.placed", "shipment.shipped")),
        occurred_at=None if rng.random() < 0.1 else T0 + timedelta(minutes=rng.randrange(600), microseconds=n),
        refs=chosen, lines=[Line(f"SKU-{i}", Decimal(rng.randint(1, 5)), rng.choice((None, "DC-1")))
                            for i in range(rng.randrange(3))],
        amount=Amount(Decimal(f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"), "EUR") if rng.random() < 0.5
        else None,
        amount_parts=[Amount(Decimal("1.50"), "EUR", "tax")] if rng.random() < 0.3 else [],
        status="failed" if failed else "ok", error="timeout: ünïcode" if failed else None,
        traceparent=f"00-{n:032x}-{n:016x}-01" if rng.random() < 0.3 else None)


async def record_random(store: Store, rng: random.Random, batches: int) -> None:
    n = 0
    for batch in range(batches):
        items = []
        for _ in range(rng.randint(3, 12)):
            items.append(Incoming(random_event(rng, n), f"dlv_{batch}", T0 + timedelta(seconds=batch)))
            n += 1
        if batch and rng.random() < 0.5:  # a repeat: counted as a duplicate on the stored event
            items.append(Incoming(random_event(random.Random(batch), 0), f"dlv_{batch}", T0))
        async with store.write() as conn:
            await record_events(store, conn, items, SETTINGS, whole=[f"dlv_{batch}"])


def transaction_record(row: Any) -> TransactionRecord:
    return TransactionRecord(id=row.id, kind=row.kind, first_at=row.first_at, last_at=row.last_at,
                             updated_at=row.updated_at, events=row.events, systems=list(row.systems or []),
                             open_exceptions=row.open_exceptions)


async def reference_trace(conn: Any, tx_id: str) -> Trace:
    """The trace read piece by piece with the SQLAlchemy finders of ``hub.store.queries``."""
    row = (await q.transactions_by_id(conn, [tx_id]))[tx_id]
    events = (await q.events_by_transaction(conn, [tx_id])).get(tx_id, [])
    demoted = await q.demoted_keys(conn, [(ns, v) for e in events for ns, v, role in e.refs if role == IDENTITY])
    related = (await q.related_transactions(conn, [tx_id])).get(tx_id, [])
    related_rows = await q.transactions_by_id(conn, related)
    opened = (await xq.exceptions_by_transaction(conn, [tx_id])).get(tx_id, [])
    history = await xq.history_of(conn, [x.id for x in opened]) if opened else {}
    return Trace(transaction_record(row), events, demoted, [transaction_record(related_rows[r]) for r in related],
                 list(opened), {x.id: list(history.get(x.id, [])) for x in opened})


def unlinked(trace: Trace) -> Trace:
    return Trace(trace.transaction, trace.events, trace.demoted)


async def add_exceptions(store: Store, tx_ids: list[str]) -> None:
    async with store.write() as conn:
        for n, tx_id in enumerate(tx_ids):
            await conn.execute(insert(exceptions).values(
                id=f"exc_{n}", type="late", severity="warning", rule="late", subject=tx_id, tx_id=tx_id,
                message="late", evidence={"step": n}, opened_at=T0, updated_at=T0))
            await conn.execute(insert(exception_history).values(exception_id=f"exc_{n}", at=T0, actor="system",
                                                                action="opened"))


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", [1, 2])
async def test_driver_reads_give_the_reference_trace(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    await record_random(store, rng, batches=8)
    async with store.read() as conn:
        tx_ids = list((await conn.execute(select(transactions.c.id).order_by(transactions.c.id))).scalars())
    await add_exceptions(store, tx_ids[::3])
    async with store.read() as conn:
        keys = (await conn.execute(select(ref_keys).where(ref_keys.c.tx_id.is_not(None)))).all()
        aliases = (await conn.execute(select(tx_aliases))).all()
        expected = {tx_id: await reference_trace(conn, tx_id) for tx_id in tx_ids}
        assert len(tx_ids) > 1 and any(t.related for t in expected.values()) and any(
            t.demoted for t in expected.values()) and any(t.exceptions for t in expected.values())
        assert await get_traces(conn, tx_ids) == expected
        assert await get_traces(conn, tx_ids, linked=False) == {tx: unlinked(t) for tx, t in expected.items()}
        for tx_id in tx_ids:
            assert await get_trace(conn, tx_id) == expected[tx_id]
            assert await get_trace(conn, tx_id, linked=False) == unlinked(expected[tx_id])
        for key in keys:
            assert await get_trace(conn, f"{key.namespace}:{key.value}") == expected[key.tx_id], key
        for alias in aliases:
            assert await get_trace(conn, alias.alias) == expected[alias.tx_id], alias
        by_value: dict[str, set[str]] = {}
        for key in keys:
            by_value.setdefault(key.value, set()).add(key.tx_id)
        for value, owners in by_value.items():
            if len(owners) > 1:
                with pytest.raises(AmbiguousRef):
                    await get_trace(conn, value)
            else:
                assert await get_trace(conn, value) == expected[owners.pop()], value
        assert await get_trace(conn, "shop:order:nope") is None and await get_traces(conn, ["tx_nope"]) == {}
