"""Nested GraphQL reads cost a fixed number of SQL statements, however many transactions and events."""

from __future__ import annotations

from unittest import mock

import pytest
from sqlalchemy import event

from hub.store import driver
from tests.support import ADMIN_KEY, OPERATOR_KEY, cloudevent, dumps, gql, running_app

NESTED = """{ transactions(first: 50) { nodes { id refs { namespace value } events { id refs { namespace value role } }
  related { id } exceptions { id } } } }"""


async def statements_for(client, hub, query: str, key: str = ADMIN_KEY) -> int:  # type: ignore[no-untyped-def]
    """The statements the query ran: through SQLAlchemy, and on the driver directly (hub.store.driver's plans)."""
    count = 0

    def counter(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        # not reads of the query: the caller's budget (PostgreSQL, one take per request), and the normalizer's loop
        # polling and trimming the SQLite inbox log (hub/store/inbox_log.py) on the same engine meanwhile
        if not any(name in statement for name in ("cost_budgets", "inbox_log.", "inbox_positions")):
            count += 1

    def counting(plan):  # type: ignore[no-untyped-def]
        nonlocal count
        try:
            step = next(plan)
            while True:
                count += 1
                step = plan.send((yield step))
        except StopIteration as done:
            return done.value

    run = driver.run

    async def run_counted(conn, make_plan):  # type: ignore[no-untyped-def]
        return await run(conn, lambda codec: counting(make_plan(codec)))

    engine = hub.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        with mock.patch.object(driver, "run", run_counted):
            result = await gql(client, query, key=key)
        assert "errors" not in result, result
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


async def fewest_statements(client, hub, query: str) -> int:  # type: ignore[no-untyped-def]
    """The query's statements, the fewer of two runs: the counter sees the whole engine, so a background
    loop's statement (evaluator, normalizer) or a new pooled connection's setup may land in one run. Two
    callers, each with its own cost budget, so the repeat is not throttled."""
    return min([await statements_for(client, hub, query, key) for key in (ADMIN_KEY, OPERATOR_KEY)])


@pytest.mark.asyncio
async def test_nested_transactions_query_is_constant_in_sql_statements(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        async def load(orders: range) -> None:
            batch = [cloudevent("erp", t, [("erp:so", f"SO-{n}"), ("stripe:payout", "po_1", "related")])
                     for n in orders for t in ("order.placed", "erp.posted", "shipment.shipped")]
            response = await client.post("/ingest", content=dumps(batch), headers={
                "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
            assert response.status_code == 202
            await hub.normalizer.run_until_idle()

        await load(range(3))
        few = await fewest_statements(client, hub, NESTED)
        await load(range(3, 40))
        many = await fewest_statements(client, hub, NESTED)
    # The page, then one batched get_traces (transactions+events+refs+demoted, related, exceptions, history):
    # with N+1 it would be 40 × 4 and more; before the one Trace it was 7 (a loader per nested field).
    assert few <= 6 and many <= 6, f"{few} statements for 3 transactions, {many} for 40"


TRACE = """{ transaction(ref: "SO-1") { id kind refs { namespace value role }
  events { id type refs { namespace value role } lines { sku qty } amount { value } }
  related { id kind } exceptions { id type history { action } } } }"""


async def ingest_with_payout(client, hub, batch: list) -> None:  # type: ignore[no-untyped-def]
    """Post ``batch`` and a payout settling ``po_1`` (a related transaction), then normalize and evaluate."""
    batch = [*batch, cloudevent("erp", "settlement.paid", [("stripe:payout", "po_1")])]
    response = await client.post("/ingest", content=dumps(batch), headers={
        "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()
    await hub.evaluator.tick()


@pytest.mark.asyncio
async def test_one_trace_is_read_in_a_fixed_handful_of_statements(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        batch = [cloudevent("erp", t, [("erp:so", "SO-1"), ("stripe:payout", "po_1", "related")], lines=[
            {"sku": "SKU-1", "qty": 2}], amount={"value": "9.90", "currency": "EUR", "kind": "total"})
                 for t in ("order.placed", "erp.posted", "sync.failed", "shipment.shipped")]
        await ingest_with_payout(client, hub, batch)
        count = await fewest_statements(client, hub, TRACE)
        answer = await gql(client, TRACE)
        tx = answer["data"]["transaction"]
        assert len(tx["events"]) == 4 and tx["related"] and tx["exceptions"], answer
    # resolve the ref, then get_trace: transaction+events+refs+demoted, related, exceptions, their history.
    # Before the one Trace: 9 over four connections (resolve, transaction, events, demoted, 2 related, their rows,
    # exceptions, history).
    assert 4 <= count <= 5, count


EVENTS_ONLY = """{ transaction(ref: "SO-1") { id refs { namespace value } events { id type } } }"""
BY_FRAGMENT = """{ transaction(ref: "SO-1") { id ...Linked } } fragment Linked on Transaction {
  ... on Transaction { related { id } } exceptions { id } }"""
TWICE = """{ a: transaction(ref: "SO-1") { id events { id } } b: transaction(ref: "SO-1") { related { id } } }"""


@pytest.mark.asyncio
async def test_a_trace_without_related_or_exceptions_skips_their_statements(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        batch = [cloudevent("erp", t, [("erp:so", "SO-1"), ("stripe:payout", "po_1", "related")])
                 for t in ("order.placed", "sync.failed")]
        await ingest_with_payout(client, hub, batch)
        # resolve the ref (1-2 seeks), then transaction+events+refs+demoted only
        assert 2 <= await fewest_statements(client, hub, EVENTS_ONLY) <= 3
        linked = (await gql(client, BY_FRAGMENT))["data"]["transaction"]
        assert linked["related"] and linked["exceptions"], linked  # asked through fragments: read
        both = (await gql(client, TWICE))["data"]
        assert len(both["a"]["events"]) == 2 and both["b"]["related"], both  # one field's choice never hides another's
