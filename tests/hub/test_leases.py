"""One owner for each periodic duty (issue 15 item 4): leases in the store, their failover, and a poller's
checkpoint that never goes backwards."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import select

from hub.ingest.polling import CheckpointMoved, commit_poll
from hub.leases import Leases
from hub.store import Store
from hub.store import leases as stored
from hub.store.tables import deliveries, poll_state
from tests.support import running_app

NOW = datetime(2026, 11, 1, 12)


@pytest.mark.asyncio
async def test_a_lease_has_one_holder_until_it_lapses_or_is_released(store: Store) -> None:
    assert await stored.take(store, ["evaluator", "alerts"], "a", 0.5) == {"evaluator", "alerts"}
    assert await stored.take(store, ["evaluator", "notifier"], "b", 0.5) == {"notifier"}  # a's stand
    assert await stored.take(store, ["evaluator"], "a", 0.5) == {"evaluator"}  # renewed by its holder
    await asyncio.sleep(1.1)  # a died: nobody renews
    assert await stored.take(store, ["evaluator", "alerts"], "b", 5) == {"evaluator", "alerts"}
    assert await stored.take(store, ["evaluator"], "a", 5) == set()
    await stored.release(store, ["evaluator"], "a")  # not a's: nothing happens
    assert await stored.take(store, ["evaluator"], "a", 5) == set()
    await stored.release(store, ["evaluator"], "b")
    assert await stored.take(store, ["evaluator"], "a", 5) == {"evaluator"}
    assert [(name, holder) for name, holder, _ in await stored.held(store)] == [
        ("alerts", "b"), ("evaluator", "a"), ("notifier", "b")]


@pytest.mark.asyncio
async def test_a_keeper_trusts_its_lease_only_as_long_as_it_lasts(store: Store) -> None:
    now = [100.0]
    keeper = Leases(store, "a", ["evaluator"], lease_seconds=15, clock=lambda: now[0])
    other = Leases(store, "b", ["evaluator"], lease_seconds=15, clock=lambda: now[0])
    assert await keeper.renew() == {"evaluator"} and keeper.held("evaluator")
    assert await other.renew() == set() and not other.held("evaluator")
    now[0] += 16  # no renewal got through (the store was unreachable): it stops running the duty
    assert not keeper.held("evaluator")
    await keeper.stop()  # held nothing any more: releases nothing, and b still waits for the lapse
    assert await other.renew() == set()


@pytest.mark.asyncio
async def test_a_checkpoint_never_goes_backwards(store: Store) -> None:
    item = {"dedup_key": "p-1", "body": b"{}", "headers": {}}
    await commit_poll(store, "shop", [item], "c1", NOW, expect=None)
    await commit_poll(store, "shop", [], "c2", NOW, expect="c1")  # the holder's next page
    with pytest.raises(CheckpointMoved):  # a run that read c1 before another process moved it on
        await commit_poll(store, "shop", [{**item, "dedup_key": "p-2"}], "c1-next", NOW, expect="c1")
    async with store.read() as conn:
        assert (await conn.execute(select(poll_state.c.cursor))).scalar_one() == "c2"
        assert (await conn.execute(select(deliveries.c.dedup_key))).scalars().all() == ["p-1"]


@pytest.mark.asyncio
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_duties_move_to_another_process_when_their_holder_stops(store_url: str) -> None:
    extra = {"cluster": {"lease_seconds": 1.5}}
    async with running_app(store_url, extra=extra) as (first_client, first):
        async with running_app(store_url, extra=extra) as (second_client, second):
            assert first.leases is not None and second.leases is not None
            assert first.leases.holding() == ["alerts", "evaluator", "notifier", "retention"]
            assert second.leases.holding() == []
            for client, hub, held in ((first_client, first, 1), (second_client, second, 0)):  # /metrics per process
                metrics = (await client.get("/metrics")).text
                assert f'crosstrace_node_info{{node="{hub.node}"}} 1' in metrics
                assert f'crosstrace_duty_held{{duty="evaluator",node="{hub.node}"}} {held}' in metrics
        async with running_app(store_url, extra=extra) as (_, third):
            assert third.leases is not None and third.leases.holding() == []
            await first.leases.stop()  # released on the way out: taken at the next renewal, within a second
            async with asyncio.timeout(10):
                while third.leases.holding() != ["alerts", "evaluator", "notifier", "retention"]:
                    await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_a_duty_runs_only_while_its_gate_says_this_process_holds_it() -> None:
    import logging

    from hub.periodic import Heartbeats, Periodic

    ran: list[int] = []
    holding = [False]

    async def step() -> bool:
        ran.append(1)
        return False

    heartbeats = Heartbeats(min_seconds=0.01)
    loop = Periodic("duty", step, logging.getLogger("test"))
    loop.start(0.01, heartbeats=heartbeats, gate=lambda: holding[0])
    await asyncio.sleep(0.1)
    assert ran == [] and "duty" in heartbeats.ages()  # standing by, not stalled
    holding[0] = True
    await asyncio.sleep(0.1)
    await loop.stop()
    assert ran


@pytest.mark.asyncio
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_a_subscriber_on_one_process_sees_an_exception_another_opened(store_url: str) -> None:
    from tests.support import cloudevent, dumps, signed_headers

    async with running_app(store_url) as (client, first), running_app(store_url) as (_, second):
        events = second.broadcaster.subscribe()
        waiting = asyncio.create_task(anext(events))
        await asyncio.sleep(0.1)  # subscribed before the exception opens
        body = dumps(cloudevent("erp", "sync.failed", [("erp:sales_order", "SO-RELAY")], error="ERP down"))
        assert (await client.post("/hooks/erp", content=body, headers=signed_headers(body))).status_code == 202
        async with asyncio.timeout(20):
            change = await waiting
        assert change.action == "opened" and change.type == "failed"
        async with second.started().store.read() as conn:  # the same exception, as the other process stored it
            from hub.store import exception_queries as xq

            assert change.exception_id in await xq.exceptions_by_id(conn, [change.exception_id])
        await events.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_a_key_revoked_on_one_process_is_refused_by_the_others(store_url: str) -> None:
    from hub.access.keys import create_key, revoke_key

    async def accepted(client, key: str) -> bool:  # type: ignore[no-untyped-def]
        response = await client.post("/graphql", json={"query": "{ sources { name } }"},
                                     headers={"authorization": f"Bearer {key}"})
        return "errors" not in response.json() and bool(response.json()["data"]["sources"])

    async with running_app(store_url) as (_, first), running_app(store_url) as (client, second):
        key, _ = await create_key(first.started().store, "bi-tool", "viewer")
        async with asyncio.timeout(20):  # every process reloads the stored keys every 2 s
            while not await accepted(client, key):
                await asyncio.sleep(0.2)
        await revoke_key(first.started().store, "bi-tool")
        async with asyncio.timeout(20):
            while await accepted(client, key):
                await asyncio.sleep(0.2)
