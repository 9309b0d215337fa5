"""Replay after an adapter changed how it names events: the re-derived events replace the delivery's old ones.

Amazon's events were keyed ``NotificationId`` and are now ``NotificationType:NotificationId`` (published examples
share one id across types). A delivery stored before that change, replayed after it, must still yield one event
per fact, not the old one plus the new one.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from hub.ingest.normalize import ReplayFilter, replay
from hub.store.tables import event_keys, events, transactions
from tests.paths import FIXTURES
from tests.support import running_app

AMAZON = {"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": "eb-connection-key"}
BODY = (FIXTURES / "amazon-sp" / "OrderChangeNotification.example.json").read_bytes()
NOTIFICATION_ID = "d0e9e693-c3ad-4373-979f-ed4ec98dd746"


@pytest.mark.asyncio
async def test_replaying_a_delivery_whose_event_key_changed_keeps_one_event(store_url: str) -> None:
    async with running_app(store_url, extra={"sources": [AMAZON]}) as (client, hub):
        response = await client.post("/hooks/amazon", content=BODY, headers={
            "content-type": "application/json", "x-crosstrace-secret": "eb-connection-key"})
        assert response.status_code == 202, response.text
        delivery = response.json()["delivery"]
        await hub.normalizer.run_until_idle()
        store = hub.started().store
        async with store.write() as conn:  # as an earlier version stored it: keyed on the NotificationId alone
            await conn.execute(update(events).where(events.c.delivery_id == delivery)
                               .values(source_event_id=NOTIFICATION_ID))
            if store.dialect == "postgresql":  # where the key is stored in event_keys too
                await conn.execute(update(event_keys).where(event_keys.c.source == "amazon")
                                   .values(source_event_id=NOTIFICATION_ID))
        for _ in range(2):
            assert await replay(store, ReplayFilter(ids=(delivery,), state=None)) == [delivery]
            await hub.normalizer.run_until_idle()
            async with store.read() as conn:
                rows = (await conn.execute(select(events.c.source_event_id, events.c.type, events.c.tx_id)
                                           .where(events.c.source == "amazon"))).all()
                summaries = (await conn.execute(select(transactions.c.id, transactions.c.events))).all()
            assert [(r.source_event_id, r.type) for r in rows] == [(f"ORDER_CHANGE:{NOTIFICATION_ID}", "order.updated")]
            assert [(s.id, s.events) for s in summaries] == [(rows[0].tx_id, 1)]
