"""The store's contract (``hub/store/__init__.py``), each promise checked through the store functions directly,
on an SQLite file and on the real PostgreSQL (the ``store`` fixture of tests/conftest.py)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from hub.correlation.plan import CorrelationSettings
from hub.ids import new_id
from hub.model import DEFAULT_JUNK_VALUES, Delivery, Event, Ref
from hub.store import Store
from hub.store.inbox import Pending, append_deliveries, insert_new, mark_dead, mark_done, requeue, take_pending
from hub.store.paging import DELIVERY_ORDER, TRANSACTION_ORDER, Key, PageRequest, keyset_page
from hub.store.queries import DeliveryFilter, TransactionFilter, delivery_query, transaction_query
from hub.store.record import Incoming, record_events
from hub.store.tables import deliveries, events, ref_keys, refs, transactions
from hub.store.trace import get_trace

T0 = datetime(2026, 11, 1, 12, 0, 0)
SETTINGS = CorrelationSettings(junk_values=frozenset(DEFAULT_JUNK_VALUES), placeholder_threshold=3)
UNLIMITED = 1 << 30


def delivery(source: str, key: str, body: bytes = b"{}") -> dict[str, Any]:
    return {"id": new_id("dlv"), "source": source, "dedup_key": key, "received_at": T0, "headers": {},
            "body": body, "content_type": "application/json", "state": "pending"}


async def rows_of(store: Store, table: Any, *order: Any) -> list[Any]:
    async with store.read() as conn:
        return list(await conn.execute(select(table).order_by(*order)))


async def reopened(store: Store) -> Store:
    """The same database opened afresh (a new engine, new connections): what survived is what was committed."""
    url = store.engine.url.render_as_string(hide_password=False)
    if store.dialect == "postgresql":
        async with store.read() as conn:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
        return await Store.open(url, search_path=schema)
    return await Store.open(url)


# 1. Append deliveries: durable and idempotent before it returns.

@pytest.mark.asyncio
async def test_append_stores_each_dedup_key_once_and_answers_repeats_with_the_stored_id(store: Store) -> None:
    first, again_in_batch, other_source = delivery("shop", "k1"), delivery("shop", "k1"), delivery("erp", "k1")
    ids = await append_deliveries(store, [first, again_in_batch, other_source])
    assert ids == {("shop", "k1"): first["id"], ("erp", "k1"): other_source["id"]}
    later = delivery("shop", "k1", b'{"sent": "again"}')
    assert await append_deliveries(store, [later]) == {("shop", "k1"): first["id"]}
    stored = {(row.source, row.dedup_key): row for row in await rows_of(store, deliveries, deliveries.c.id)}
    assert set(stored) == {("shop", "k1"), ("erp", "k1")}
    assert stored[("shop", "k1")].id == first["id"] and stored[("shop", "k1")].body == b"{}"
    assert stored[("shop", "k1")].repeats == 2 and stored[("erp", "k1")].repeats == 0


@pytest.mark.asyncio
async def test_appended_deliveries_are_there_after_reopening(store: Store) -> None:
    rows = [delivery("shop", f"k{n}", f'{{"n": {n}}}'.encode()) for n in range(3)]
    await append_deliveries(store, rows)
    await store.close()  # nothing left in this engine: what follows reads what was committed
    again = await reopened(store)
    try:
        async with again.read() as conn:
            taken = await take_pending(conn, 10, UNLIMITED)
        assert [(p.delivery.id, p.delivery.body) for p in taken] == [(row["id"], row["body"]) for row in rows]
        assert await append_deliveries(again, [delivery("shop", "k0")]) == {("shop", "k0"): rows[0]["id"]}
    finally:
        await again.close()


# 2. Take pending work: each pending delivery once, never a done or dead one.

@pytest.mark.asyncio
async def test_take_pending_gives_each_pending_delivery_until_it_is_done_or_dead(store: Store) -> None:
    rows = [delivery("shop", f"k{n}") for n in range(6)]
    for row in rows:  # one commit each: ids (time-ordered) are the order they arrived in
        await append_deliveries(store, [row])
    ids = [row["id"] for row in rows]
    async with store.read() as conn:
        taken = [p.delivery.id for p in await take_pending(conn, 10, UNLIMITED)]
        assert taken == ids  # oldest first, each once
        assert [p.delivery.id for p in await take_pending(conn, 2, UNLIMITED)] == ids[:2]
    async with store.write() as conn:
        await mark_done(conn, ids[:2], T0)
        await mark_dead(conn, ids[2], "cannot be parsed", T0)
    async with store.read() as conn:
        assert [p.delivery.id for p in await take_pending(conn, 10, UNLIMITED)] == ids[3:]
    async with store.write() as conn:
        await mark_done(conn, ids[3:], T0)
    async with store.read() as conn:
        assert await take_pending(conn, 10, UNLIMITED) == []


@pytest.mark.asyncio
async def test_take_pending_stays_within_the_body_budget_but_always_takes_one(store: Store) -> None:
    rows = [delivery("shop", f"k{n}", b"x" * 100) for n in range(3)]
    for row in rows:
        await append_deliveries(store, [row])
    async with store.read() as conn:
        assert [p.delivery.id for p in await take_pending(conn, 10, 250)] == [rows[0]["id"], rows[1]["id"]]
        assert [p.delivery.id for p in await take_pending(conn, 10, 10)] == [rows[0]["id"]]


@pytest.mark.asyncio
async def test_requeued_deliveries_are_taken_again_and_a_polled_append_stores_each_key_once(store: Store) -> None:
    rows = [delivery("shop", "k0"), delivery("erp", "k1")]
    async with store.write() as conn:  # a poller's append, in the transaction that moves its cursor
        assert await insert_new(conn, rows) == {("shop", "k0"): rows[0]["id"], ("erp", "k1"): rows[1]["id"]}
        assert await insert_new(conn, [delivery("shop", "k0")]) == {}
    async with store.write() as conn:
        await mark_dead(conn, rows[0]["id"], "cannot be parsed", T0)
        await mark_done(conn, [rows[1]["id"]], T0)
    assert await requeue(store, T0, state="dead") == [rows[0]["id"]]
    async with store.read() as conn:
        assert [p.delivery.id for p in await take_pending(conn, 10, UNLIMITED)] == [rows[0]["id"]]
    assert await requeue(store, T0, ids=[rows[1]["id"]], state=None) == [rows[1]["id"]]
    async with store.read() as conn:
        assert [p.delivery.id for p in await take_pending(conn, 10, UNLIMITED)] == [rows[0]["id"], rows[1]["id"]]


@pytest.mark.asyncio
async def test_take_pending_gives_the_raw_delivery_and_how_often_it_was_processed(store: Store) -> None:
    row = {**delivery("shop", "k0", b'{"a": 1}'), "headers": {"webhook-id": "msg_1"}}
    await append_deliveries(store, [row])
    async with store.write() as conn:
        await mark_dead(conn, row["id"], "cannot be parsed", T0)
    assert await requeue(store, T0, state="dead") == [row["id"]]
    async with store.read() as conn:
        assert await take_pending(conn, 10, UNLIMITED) == [Pending(Delivery(
            id=row["id"], source="shop", received_at=T0, headers={"webhook-id": "msg_1"}, body=b'{"a": 1}',
            content_type="application/json"), attempts=1)]


# 3. Record a normalized batch: idempotent.

def event(source: str, ident: str, type_: str, *refs_: tuple[str, str], minute: int = 0) -> Event:
    return Event(source=source, source_event_id=ident, type=type_, occurred_at=T0 + timedelta(minutes=minute),
                 refs=[Ref(*r) for r in refs_])


BATCH = [event("shop", "e1", "order.placed", ("shop:order", "1001"), ("shop:customer", "c9")),
         event("erp", "e2", "order.accepted", ("shop:order", "1001"), ("erp:so", "SO-1"), minute=5),
         event("wms", "e3", "shipment.created", ("erp:so", "SO-1"), ("wms:shipment", "SH-7"), minute=30),
         event("shop", "e4", "order.placed", ("shop:order", "1002"), minute=40)]


async def record(store: Store, batch: list[Event], delivery_id: str) -> Any:
    async with store.write() as conn:
        return await record_events(store, conn, [Incoming(e, delivery_id, T0) for e in batch], SETTINGS,
                                   whole=[delivery_id])


async def snapshot(store: Store) -> dict[str, list[Any]]:
    """Every row recording writes, but ``transactions.updated_at`` (when it was last recomputed)."""
    tx_columns = [c for c in transactions.c if c.name != "updated_at"]
    async with store.read() as conn:
        return {"events": list(await conn.execute(select(events).order_by(events.c.id))),
                "refs": list(await conn.execute(select(refs).order_by(*refs.c))),
                "ref_keys": list(await conn.execute(select(ref_keys).order_by(*ref_keys.c))),
                "transactions": list(await conn.execute(select(*tx_columns).order_by(transactions.c.id)))}


@pytest.mark.asyncio
async def test_recording_a_batch_twice_leaves_the_same_rows(store: Store) -> None:
    first = await record(store, BATCH, "dlv_1")
    assert first.stored == 4
    once = await snapshot(store)
    assert len(once["events"]) == 4 and len(once["transactions"]) == 2
    await record(store, BATCH, "dlv_1")  # the same delivery again (a crash before its commit, a replay)
    assert await snapshot(store) == once


@pytest.mark.asyncio
async def test_a_batch_sent_again_is_counted_never_stored_twice(store: Store) -> None:
    await record(store, BATCH, "dlv_1")
    once = await snapshot(store)
    again = await record(store, BATCH, "dlv_2")  # the same events in another delivery
    assert (again.stored, again.duplicates) == (0, 4)
    twice = await snapshot(store)
    assert twice["refs"] == once["refs"] and twice["ref_keys"] == once["ref_keys"]
    assert [(r.id, r.tx_id, r.delivery_id) for r in twice["events"]] == [(r.id, r.tx_id, r.delivery_id)
                                                                        for r in once["events"]]
    assert [r.duplicates for r in twice["events"]] == [1, 1, 1, 1]


# 4. get_trace(ref) -> Trace: the same trace by any ref that links to the transaction.

@pytest.mark.asyncio
async def test_get_trace_by_any_linked_ref_equals_the_trace_by_transaction_id(store: Store) -> None:
    await record(store, BATCH[2:3], "dlv_1")  # the shipment and the order apart, then the event that links them:
    await record(store, [BATCH[0], BATCH[3]], "dlv_2")  # two transactions merge, one id survives
    await record(store, BATCH[1:2], "dlv_3")
    async with store.read() as conn:
        by_order = await get_trace(conn, "shop:order:1001")
        assert by_order is not None
        tx_id = by_order.transaction.id
        by_id = await get_trace(conn, tx_id)
        assert by_id is not None and [e.source_event_id for e in by_id.events] == ["e1", "e2", "e3"]
        for ref in ("shop:customer:c9", "erp:so:SO-1", "wms:shipment:SH-7", "SO-1", "SH-7"):
            assert await get_trace(conn, ref) == by_id, ref
        merged_away = (await conn.execute(text("SELECT alias FROM tx_aliases"))).scalars().all()
        assert merged_away
        for alias in merged_away:
            assert await get_trace(conn, alias) == by_id, alias
        other = await get_trace(conn, "shop:order:1002")
        assert other is not None and other.transaction.id != tx_id
        assert await get_trace(conn, "shop:order:nope") is None


# 5. Finders with one keyset pager: every row once, in order, while rows arrive between pages.

async def add_transactions(store: Store, count: int, start: int) -> None:
    batch = [event("shop", f"p{n}", "order.placed", ("shop:order", f"P{n}")) for n in range(start, start + count)]
    await record(store, batch, f"dlv_p{start}")


async def add_deliveries(store: Store, count: int, start: int) -> None:
    await append_deliveries(store, [delivery("shop", f"p{n}") for n in range(start, start + count)])


FINDERS = {
    "transactions": (lambda: transaction_query(TransactionFilter()), TRANSACTION_ORDER, add_transactions),
    "deliveries": (lambda: delivery_query(DeliveryFilter()), DELIVERY_ORDER, add_deliveries),
}


async def walk(store: Store, finder: str, request: PageRequest, between: int) -> list[str]:
    """Page through the finder with ``request``'s size, adding ``between`` rows before each next page."""
    query, keys, add = FINDERS[finder]
    seen: list[str] = []
    added = 1000
    while True:
        async with store.read() as conn:
            page = await keyset_page(conn, query(), keys, request)
        forward = request.first is not None
        seen.extend(row.id for row in (page.rows if forward else reversed(page.rows)))
        if not (page.has_next if forward else page.has_previous):
            return seen
        await add(store, between, added)
        added += between
        request = (PageRequest(first=request.first, after=page.end_cursor) if forward
                   else PageRequest(last=request.last, before=page.start_cursor))


def in_order(keys: list[Key], ids: list[str]) -> list[str]:
    return sorted(ids, reverse=keys[0].descending)


@pytest.mark.asyncio
@pytest.mark.parametrize("finder", list(FINDERS))
async def test_the_pager_walks_every_row_once_in_order_while_rows_arrive(store: Store, finder: str) -> None:
    query, keys, add = FINDERS[finder]
    await add(store, 11, 0)
    async with store.read() as conn:
        before = [row.id for row in await conn.execute(query())]
    assert len(before) == 11
    forward = await walk(store, finder, PageRequest(first=3), between=2)
    assert forward == in_order(keys, before)  # the newer rows sort before the cursor: none is seen, none shifts it
    async with store.read() as conn:
        now = [row.id for row in await conn.execute(query())]
    backward = await walk(store, finder, PageRequest(last=4), between=2)  # toward the newest: it meets new rows
    assert len(backward) == len(set(backward)) and set(now) < set(backward)
    assert backward == list(reversed(in_order(keys, backward)))


@pytest.mark.asyncio
@pytest.mark.parametrize("finder", list(FINDERS))
async def test_a_page_holds_plain_records_not_result_rows(store: Store, finder: str) -> None:
    """A finder's page gives plain frozen records with the selected columns' names, no SQLAlchemy row."""
    query, keys, add = FINDERS[finder]
    await add(store, 3, 0)
    async with store.read() as conn:
        page = await keyset_page(conn, query(), keys, PageRequest(first=2))
        columns = list((await conn.execute(query())).keys())
    assert len(page.rows) == 2 and page.has_next
    for row in page.rows:
        assert is_dataclass(row) and [field.name for field in fields(row)] == columns
