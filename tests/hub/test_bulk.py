"""hub.store.bulk: rows written on the driver read back as SQLAlchemy wrote them, join the caller's transaction,
and fail as SQLAlchemy's own statements fail (a refused row is the data's fault, not the store's)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError

from hub.store import Store, is_transient
from hub.store.bulk import _processor, add_to, insert_rows
from hub.store.tables import events, ref_keys, transactions
from tests.conftest import pg_execute

T0 = datetime(2026, 11, 2, 9, 30, 0, 123456)


def event_row(n: int, **changes: object) -> dict[str, object]:
    return {"id": f"evt_{n}", "source": "shop", "source_event_id": f"e-{n}", "type": "order.placed",
            "occurred_at": T0, "received_at": T0, "tx_id": "tx_1", "delivery_id": "dlv_1", "status": "ok",
            "error": None, "traceparent": None, "lines": [{"sku": "A", "qty": "2"}], "amount_value": "9.90",
            "amount_currency": "EUR", "amount_kind": "total", "unknown_type": False, "out_of_order": n % 2 == 1,
            "duplicates": 0, "attributes": {"channel": "web"} if n else None, **changes}


@pytest.mark.asyncio
async def test_rows_read_back_as_written_and_upserts_and_counts_apply(store: Store) -> None:
    async with store.write() as conn:
        await insert_rows(conn, events, [event_row(0), event_row(1)])
        await insert_rows(conn, ref_keys, [{"namespace": "shop:order", "value": v, "tx_id": "tx_1", "events": 1,
                                            "demoted": False} for v in ("1", "2")])
        await add_to(conn, ref_keys, "events", ("namespace", "value"), {("shop:order", "2"): 3, ("shop:order", "1"): 0})
        summary = {"id": "tx_1", "kind": "order", "first_at": T0, "last_at": T0, "updated_at": T0, "events": 1,
                   "systems": ["shop"], "open_exceptions": 0}
        await insert_rows(conn, transactions, [summary], conflict=["id"], update=["events", "systems"])
        await insert_rows(conn, transactions, [{**summary, "events": 2, "systems": ["erp", "shop"], "kind": "x"}],
                          conflict=["id"], update=["events", "systems"])
    async with store.read() as conn:
        stored = [dict(row._mapping) for row in await conn.execute(select(events).order_by(events.c.id))]
        counts = dict((await conn.execute(select(ref_keys.c.value, ref_keys.c.events))).all())
        tx = (await conn.execute(select(transactions))).one()
    assert [{name: row[name] for name in event_row(0)} for row in stored] == [event_row(0), event_row(1)]
    assert counts == {"1": 1, "2": 4}
    assert (tx.kind, tx.events, tx.systems, tx.first_at) == ("order", 2, ["erp", "shop"], T0)


@pytest.mark.asyncio
async def test_a_refused_row_fails_the_transaction_as_data(store: Store) -> None:
    async with store.write() as conn:
        await insert_rows(conn, events, [event_row(0)])
    with pytest.raises(DBAPIError) as raised:
        async with store.write() as conn:
            await insert_rows(conn, events, [event_row(1)])
            await insert_rows(conn, events, [event_row(2, id="evt_0")])  # id already stored
    assert not is_transient(raised.value)
    async with store.read() as conn:  # the whole transaction rolled back, its first insert too
        assert list((await conn.execute(select(events.c.id))).scalars()) == ["evt_0"]


@pytest.mark.asyncio
@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # only PostgreSQL writes over a server connection
async def test_a_lost_server_during_copy_is_transient(store: Store) -> None:
    """The normalizer retries (never dead-letters) a batch whose COPY met a terminated backend."""
    with pytest.raises(DBAPIError) as raised:
        async with store.write() as conn:
            # asked of the driver: no statement of SQLAlchemy's has begun the transaction, the COPY's path begins it
            pid = await (await conn.get_raw_connection()).driver_connection.fetchval("SELECT pg_backend_pid()")
            await pg_execute(f"SELECT pg_terminate_backend({pid})")
            await insert_rows(conn, events, [event_row(0)])
    assert is_transient(raised.value), raised.value


@pytest.mark.asyncio
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_a_server_lost_inside_a_begun_transaction_fails_the_copy_as_transient_and_the_store_goes_on(
        store: Store) -> None:
    """The COPY itself meets the terminated backend: its error is the COPY's, transient, and the dead connection is
    never handed out again (the next write works)."""
    with pytest.raises(DBAPIError) as raised:
        async with store.write() as conn:
            await conn.execute(select(events.c.id).limit(1))  # SQLAlchemy's statement begins the transaction
            pid = await (await conn.get_raw_connection()).driver_connection.fetchval("SELECT pg_backend_pid()")
            await pg_execute(f"SELECT pg_terminate_backend({pid})")
            await insert_rows(conn, events, [event_row(0)])
    assert is_transient(raised.value) and raised.value.statement == "COPY events", raised.value
    async with store.write() as conn:
        await insert_rows(conn, events, [event_row(1)])
    async with store.read() as conn:
        assert list((await conn.execute(select(events.c.id))).scalars()) == ["evt_1"]


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(st.datetimes(), st.datetimes(timezones=st.timezones()), st.dates()))
def test_sqlite_datetimes_convert_to_sqlalchemys_text(value: object) -> None:
    """bulk writes a naive datetime's SQLite text with ``isoformat``: the very text SQLAlchemy's DateTime writes
    (and anything else through SQLAlchemy's own conversion)."""
    dialect = sqlite.dialect()
    impl = DateTime().dialect_impl(dialect)
    assert _processor(impl, dialect)(value) == impl.bind_processor(dialect)(value)
