"""Nested GraphQL reads cost a fixed number of SQL statements, however many transactions and events."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.support import OPERATOR_KEY, cloudevent, dumps, gql, running_app

NESTED = """{ transactions(first: 50) { nodes { id refs { value } events { id refs { namespace value role } }
  related { id } exceptions { id } } } }"""


async def statements_for(client, hub, query: str) -> int:  # type: ignore[no-untyped-def]
    count = 0

    def counter(*_args) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1

    engine = hub.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        result = await gql(client, query)
        assert "errors" not in result, result
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


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
        few = await statements_for(client, hub, NESTED)
        await load(range(3, 40))
        many = await statements_for(client, hub, NESTED)
    # One statement per loader (a new pooled connection may add one): with N+1 it would be 40 × 4 and more.
    assert few <= 8 and many <= 8, f"{few} statements for 3 transactions, {many} for 40"
