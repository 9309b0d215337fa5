"""The SQLite inbox log (a web-only receiver's own file): the inbox's promise, then moved into ``deliveries`` once.

SQLite only: on PostgreSQL a web-only receiver appends to ``deliveries`` itself (no write lock to share).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub.ingest.inbox import Inbox
from hub.ingest.inbox_transfer import InboxTransfer
from hub.ingest.normalize import ReplayFilter, replay
from hub.store import Store, inbox_log
from hub.store.inbox_log import InboxLog
from hub.store.tables import deliveries
from hub.telemetry import new_metrics
from tests.hub.test_inbox import submission
from tests.support import OPERATOR_KEY, cloudevent, dumps, gql, running_app, signed_headers
from tests.web.app import login


@pytest.mark.asyncio
async def test_the_log_dedups_and_its_entries_and_repeats_move_into_deliveries_once(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    assert store.inbox_log_path == tmp_path / "hub.db.inbox"
    log = InboxLog(store.inbox_log_path)
    inbox = Inbox(store, new_metrics(), log=log)
    inbox.start()
    transfer = InboxTransfer(store)
    try:
        receipts = await asyncio.gather(*(inbox.submit(**submission(f"k{n % 20}")) for n in range(60)))
        async with store.read() as conn:  # acknowledged into the log, not in the main file yet
            assert (await conn.execute(select(deliveries.c.id))).all() == []
        assert await transfer.run_once() == 20
        again = await inbox.submit(**submission("k3"))  # a repeat after its delivery moved
        assert await transfer.run_once() == 0  # no new entry; the repeat is counted
        assert await transfer.run_once() == 0  # and only once
    finally:
        await inbox.stop()
        log.close()
    ids = {f"k{n % 20}": r.delivery_id for n, r in enumerate(receipts) if r.new}
    assert len(ids) == 20 and not again.new and again.delivery_id == ids["k3"]
    async with store.read() as conn:
        rows = {r.dedup_key: r for r in (await conn.execute(select(deliveries))).all()}
    await store.close()
    assert {key: row.id for key, row in rows.items()} == ids
    assert all(row.state == "pending" and row.headers == {"x": "1"} and row.body == b"{}" for row in rows.values())
    assert sum(row.repeats for row in rows.values()) == 41 and rows["k3"].repeats == 3
    with sqlite3.connect(tmp_path / "hub.db.inbox") as conn:  # moved bodies leave the log (the main file has them)
        assert conn.execute("SELECT count(*) FROM entries WHERE body IS NOT NULL").fetchone()[0] == 0



async def acknowledged(client: httpx.AsyncClient, n: int) -> str:
    body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", f"SO-{n}")]))
    response = await client.post("/hooks/erp", content=body, headers=signed_headers(body))
    assert response.status_code == 202
    return response.json()["delivery"]


async def gql_data(client: httpx.AsyncClient, query: str, **variables: str) -> dict:
    return (await gql(client, query, OPERATOR_KEY, **variables))["data"]


@pytest.mark.asyncio
async def test_one_process_appends_to_the_log_and_every_read_of_delivery_state_sees_what_it_holds(
        tmp_path: Path) -> None:
    """``serve`` in one process: the receiver appends to the log (never to ``deliveries``), and each read of
    delivery state lists, finds, counts, shows, exports or replays a delivery the normalizer has not moved yet."""
    async with running_app(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}") as (client, hub):
        await hub.normalizer.stop()  # nothing moves the log in the background: only the reads below may
        first = await acknowledged(client, 0)
        async with hub.store.read() as conn:  # acknowledged into the log, not in the main file
            assert (await conn.execute(select(deliveries.c.id))).all() == []
        sources = await gql_data(client, "{ sources { name lastDeliveryAt } }")
        assert next(s for s in sources["sources"] if s["name"] == "erp")["lastDeliveryAt"] is not None

        listed = await acknowledged(client, 1)
        page = await gql_data(client, '{ deliveries(first: 10, filter: {source: "erp"}) { totalCount nodes { id } } }')
        assert page["deliveries"]["totalCount"] == 2 and page["deliveries"]["nodes"][0]["id"] == listed

        found = await acknowledged(client, 2)
        one = await gql_data(client, "query($id: ID!) { delivery(id: $id) { id state } }", id=found)
        assert one["delivery"] == {"id": found, "state": "pending"}

        await acknowledged(client, 3)
        counts = await gql_data(client, '{ metrics(since: "2000-01-01T00:00:00Z") { '
                                        "counts(subject: DELIVERIES, groupBy: [SOURCE]) { source count } } }")
        assert counts["metrics"]["counts"] == [{"source": "erp", "count": 4}]

        assert (await login(client, OPERATOR_KEY)).status_code == 303
        shown = await acknowledged(client, 4)
        assert (await client.get(f"/deliveries/{shown}")).status_code == 200

        exported = await acknowledged(client, 5)
        csv = await client.get("/export/deliveries.csv", headers={"authorization": f"Bearer {OPERATOR_KEY}"})
        assert csv.status_code == 200 and exported in csv.text, csv.text

        last = await acknowledged(client, 6)
        replayed = await replay(hub.store, ReplayFilter(source="erp", state="pending"))
        assert last in replayed and first in replayed and len(replayed) == 7


@pytest.mark.asyncio
async def test_one_process_a_transfer_that_fails_midway_moves_and_counts_nothing_and_the_next_moves_all_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transfer's positions are committed with its output: a crash after its rows went into ``deliveries``
    but before its commit leaves every entry and repeat to the next transfer, which moves them once."""
    async with running_app(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}") as (client, hub):
        await hub.normalizer.stop()
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")]))
        headers = signed_headers(body, msg_id="msg_1")
        first = await client.post("/hooks/erp", content=body, headers=headers)
        assert (await client.post("/hooks/erp", content=body, headers=headers)).status_code == 200  # a repeat
        other = await acknowledged(client, 2)

        async def crash(*_: object) -> None:
            raise RuntimeError("killed mid-transfer")
        with monkeypatch.context() as patched:
            patched.setattr(inbox_log.inbox, "count_repeat", crash)  # after the rows were inserted
            with pytest.raises(RuntimeError):
                await inbox_log.move(hub.store)
        async with hub.store.read() as conn:
            assert (await conn.execute(select(deliveries.c.id))).all() == []
            assert await inbox_log.moved(conn) == 0
        assert await inbox_log.move(hub.store)
        assert await inbox_log.move(hub.store) == 0  # and only once
        async with hub.store.read() as conn:
            rows = {row.id: row.repeats for row in (await conn.execute(select(deliveries))).all()}
        assert rows == {first.json()["delivery"]: 1, other: 0}


@pytest.mark.asyncio
async def test_two_processes_moving_the_log_at_once_count_each_repeat_once(tmp_path: Path) -> None:
    """``crosstrace replay`` runs a normalizer beside ``serve``: two movers of one log. A transfer reads the
    positions under the main file's write lock, so the second one finds the first one's output and adds nothing."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    serve, replay_cli = await Store.open(url), await Store.open(url)
    log = InboxLog(serve.inbox_log_path)
    inbox = Inbox(serve, new_metrics(), log=log)
    inbox.start()
    try:
        first = await inbox.submit(**submission("k"))
        for _ in range(20):
            await inbox.submit(**submission("k"))  # a repeat
            await asyncio.gather(inbox_log.move(serve), inbox_log.move(replay_cli))
    finally:
        await inbox.stop()
        log.close()
    async with serve.read() as conn:
        repeats = (await conn.execute(select(deliveries.c.repeats)
                                      .where(deliveries.c.id == first.delivery_id))).scalar_one()
    assert repeats == 20
    await serve.close()
    await replay_cli.close()
