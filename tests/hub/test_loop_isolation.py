"""Issue 13: one bad row never stops a loop. The evaluator skips a transaction its rules cannot evaluate, the
alerts tick skips a rule it cannot measure, the notifier records an endpoint that raises as a failed attempt,
retention skips a source it cannot purge; everything else in the same tick goes on. Real stores (SQLite file
and PostgreSQL), a real receiver."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hub.access.retention import Housekeeper, Retention
from hub.correlation.plan import CorrelationSettings
from hub.ingest.inbox import EVALUATE_NOW
from hub.model import Event, Ref, utcnow
from hub.store import Store
from hub.store.record import Incoming, record_events
from hub.store.tables import deliveries, exceptions, tx_due
from tests.hub.test_exception_rules import T0, FakeClock, at, ingest
from tests.hub.test_notify import NOTIFY_SECRET, Receiver, outbox_rows, receiving
from tests.support import cloudevent, running_app

START = T0.replace(tzinfo=None)
LAST_INSTANT = datetime(9999, 12, 31, 23, 59, 59)  # its SLA due time is past what a datetime holds


async def record(hub, *items: tuple[str, str, datetime]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Store order.placed events as they were stored before any validation existed; due for evaluation now."""
    settings = CorrelationSettings(frozenset(), 50)
    async with hub.store.write() as conn:
        result = await record_events(hub.store, conn, [
            Incoming(Event(source="shop", source_event_id=ident, type="order.placed", occurred_at=occurred,
                           refs=[Ref("shop:order", order)]), f"dlv_{ident}", START)
            for ident, order, occurred in items], settings)
        await conn.execute(tx_due.insert(), [{"tx_id": tx, "due_at": EVALUATE_NOW} for tx in result.transactions])
        rows = await conn.execute(select(tx_due.c.tx_id))
        return {tx: tx for tx in rows.scalars()}


async def open_rules(hub) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with hub.store.read() as conn:
        return sorted((r.rule, r.subject) for r in await conn.execute(
            select(exceptions.c.rule, exceptions.c.subject).where(exceptions.c.status == "open")))


@pytest.mark.asyncio
async def test_the_evaluator_skips_a_transaction_it_cannot_evaluate_and_evaluates_the_rest(
        store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        await hub.evaluator.stop()  # the ticks below are the only ones: a background tick on the fake clock's time
        # could otherwise reschedule the failing transaction after this test's tick did (a race seen once in CI)
        await record(hub, ("a", "LATE-1", START), ("b", "FAR", LAST_INSTANT), ("c", "LATE-2", START))
        now = START + timedelta(minutes=45)
        result = await hub.evaluator.tick(now)
        assert (result.due, result.evaluated) == (3, 2)
        overdue = [subject for rule, subject in await open_rules(hub) if rule == "flow.overdue"]
        assert len(overdue) == 2  # both late orders, in the same tick as the one that failed
        async with hub.store.read() as conn:
            later = {r.due_at for r in await conn.execute(select(tx_due).where(tx_due.c.due_at > now))}
        assert later == {now + timedelta(minutes=10)}  # the failing one is looked at again later, not every tick
        assert "evaluating transaction" in caplog.text and "OverflowError" in caplog.text
        assert (await hub.evaluator.tick(now)).due == 0  # it does not hold the loop in a busy retry


@pytest.mark.asyncio
async def test_an_alert_rule_that_cannot_be_measured_does_not_stop_the_others(
        store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    alerts = [{"name": "absurd-window", "metric": "events", "type": "order.placed", "window_minutes": 10 ** 10,
               "above": 0},
              {"name": "many-orders", "metric": "events", "type": "order.placed", "window_minutes": 60, "above": 1}]
    async with running_app(store_url, clock=FakeClock(), extra={"alerts": alerts}) as (client, hub):
        await record(hub, ("a", "O-1", START), ("b", "O-2", START + timedelta(minutes=1)))
        with caplog.at_level(logging.ERROR):
            values = await hub.alerts.tick(START + timedelta(minutes=5))
        assert list(values) == ["many-orders"] and values["many-orders"].value == 2
        assert ("alert.many-orders", "many-orders") in await open_rules(hub)
        assert "alert absurd-window could not be evaluated" in caplog.text


@pytest.mark.asyncio
async def test_an_endpoint_that_raises_is_a_failed_attempt_and_the_other_endpoints_are_served(store_url: str) -> None:
    receiver = Receiver(failures=0)
    clock = FakeClock()
    async with receiving(receiver) as base:
        targets = [{"name": "typo", "url": "http://127.0.0.1:99999/ops", "secret": NOTIFY_SECRET},  # port > 65535
                   {"name": "ops", "url": f"{base}/ops", "secret": NOTIFY_SECRET}]
        async with running_app(store_url, clock=clock, extra={"notifications": targets}) as (client, hub):
            await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", "SO-1")], time_=at(0),
                                                 error="timeout"))
            await hub.notifier.run_once()  # the background sender may have been first: the lock makes it one round
            assert [m["type"] for m in receiver.accepted] == ["exception.opened"]
            rows = {row.target: row for row in await outbox_rows(hub)}
            assert (rows["ops"].state, rows["ops"].attempts) == ("delivered", 1)
            typo = rows["typo"]
            assert (typo.state, typo.attempts) == ("pending", 1) and typo.last_error
            assert typo.next_attempt_at > clock.naive()  # retried with backoff, like an endpoint that is down


@pytest.mark.asyncio
async def test_a_source_whose_purge_fails_does_not_keep_the_others_from_being_purged(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    now = utcnow()
    async with store.write() as conn:
        await conn.execute(deliveries.insert(), [
            {"id": f"dlv_{source}", "source": source, "dedup_key": "k", "received_at": now - timedelta(days=10),
             "headers": {}, "body": b"{}", "state": "done"} for source in ("erp", "legacy", "shop")])
    # 10⁶ days before now is before year 1: that source's cutoff cannot be computed
    keeper = Housekeeper(store, Retention(default_days=5, sources={"legacy": 10 ** 6}), lambda: now)
    report = await keeper.run_once()
    assert report.deliveries == 2
    async with store.read() as conn:
        assert list((await conn.execute(select(deliveries.c.id))).scalars()) == ["dlv_legacy"]
    assert "purging legacy failed" in caplog.text and "OverflowError" in caplog.text
