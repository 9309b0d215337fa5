"""Business attributes holding personal data (issue 18 item 2): masked below admin in GraphQL and the web, erased
by ``eraseCustomer`` and recomputed when retention purges the events that stated them, on both stores."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hub.store.tables import events, transaction_attributes
from tests.support import ADMIN_KEY, ERP_SECRET, VIEWER_KEY, cloudevent, dumps, gql, running_app, signed_headers
from tests.web.app import login

EMAIL, NAME = "ana.lima@example.org", "Ana Lima"
SOURCES = [{"name": name, "kind": kind, "adapter": "cloudevents", "secret": ERP_SECRET,
            "attributes": {"data.channel": "channel", "data.buyer": "customer_name", "data.contact": "contact"}}
           for name, kind in (("shop", "commerce"), ("erp", "erp"))]
ATTRIBUTES = '{ transaction(ref: "1001") { attributes { name value } } }'
GROUPED = """{ metrics { counts(subject: TRANSACTIONS, groupBy: [], attribute: "customer_name") { attribute count }
  orders(attribute: "customer_name") { group orders } cycleTimes(attribute: "customer_name") { group }
  cancellations(attribute: "customer_name") { group } slaAttainment(attribute: "customer_name") { group } } }"""


async def _post(client: Any, hub: Any, event: dict[str, Any]) -> None:
    body = dumps(event)
    response = await client.post(f"/hooks/{event['source']}", content=body,
                                 headers=signed_headers(body))
    assert response.status_code == 202, response.text
    await hub.normalizer.run_until_idle()


async def _shop_order(client: Any, hub: Any, at: str = "2026-11-01T12:00:00Z") -> None:
    await _post(client, hub, cloudevent("shop", "order.placed", [("shop:order", "1001")], id="s1", channel="web",
                                        buyer=NAME, contact=EMAIL, time_=at))


async def _stored(hub: Any) -> tuple[list[Any], dict[str, str]]:
    async with hub.started().store.read() as conn:
        stated = (await conn.execute(select(events.c.attributes))).scalars().all()
        kept = dict((await conn.execute(select(transaction_attributes.c.name, transaction_attributes.c.value))).all())
    return list(stated), kept


@pytest.mark.asyncio
async def test_personal_attribute_values_are_masked_below_admin(store_url: str) -> None:
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        await _shop_order(client, hub)
        admin = (await gql(client, ATTRIBUTES))["data"]["transaction"]["attributes"]
        assert admin == [{"name": "channel", "value": "web"}, {"name": "contact", "value": EMAIL},
                         {"name": "customer_name", "value": NAME}]
        viewer = await gql(client, ATTRIBUTES, key=VIEWER_KEY)
        assert viewer["data"]["transaction"]["attributes"] == [
            {"name": "channel", "value": "web"}, {"name": "contact", "value": "a•••@•••.org"},
            {"name": "customer_name", "value": "•••"}]  # by its name, as a ref by its namespace
        assert (await login(client, VIEWER_KEY)).status_code == 303
        page = (await client.get("/")).text
        assert "channel: web" in page and EMAIL not in page and NAME not in page


@pytest.mark.asyncio
async def test_erasure_redacts_the_customers_attribute_values(store_url: str) -> None:
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        await _shop_order(client, hub)
        erased = await gql(client, "mutation($e: String) { eraseCustomer(email: $e) { events } }", e=EMAIL)
        assert erased["data"]["eraseCustomer"] == {"events": 1}, erased
        stated, kept = await _stored(hub)
        assert stated == [{"channel": "web", "customer_name": "[erased]", "contact": "[erased]"}]
        assert kept == {"channel": "web", "customer_name": "[erased]", "contact": "[erased]"}


@pytest.mark.asyncio
async def test_retention_drops_attributes_only_purged_events_stated(store_url: str) -> None:
    offset = [0.0]
    extra = {"sources": SOURCES, "retention": {"sources": {"shop": 30}}}
    async with running_app(store_url, clock=lambda: time.time() + offset[0], extra=extra) as (client, hub):
        await _shop_order(client, hub)
        await _post(client, hub, cloudevent("erp", "erp.posted", [("erp:so", "SO-1"), ("shop:order", "1001")],
                                            id="e1", time_="2026-11-01T13:00:00Z", channel="b2b"))
        assert (await _stored(hub))[1] == {"channel": "b2b", "customer_name": NAME, "contact": EMAIL}
        offset[0] = 31 * 86400.0
        purged = await gql(client, "mutation { purgeExpired { events } }")
        assert purged["data"]["purgeExpired"] == {"events": 1}, purged
        stated, kept = await _stored(hub)
        assert stated == [{"channel": "b2b"}] and kept == {"channel": "b2b"}
        assert (await gql(client, ATTRIBUTES))["data"]["transaction"]["attributes"] == [
            {"name": "channel", "value": "b2b"}]


@pytest.mark.asyncio
async def test_aggregates_grouped_by_a_personal_attribute_mask_its_values_below_admin(store_url: str) -> None:
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        await _shop_order(client, hub, at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
        admin = await gql(client, GROUPED)
        assert "errors" not in admin, admin
        assert admin["data"]["metrics"]["counts"] == [{"attribute": NAME, "count": 1}]
        assert admin["data"]["metrics"]["orders"] == [{"group": NAME, "orders": 1}]
        viewer = await gql(client, GROUPED, key=VIEWER_KEY)
        assert viewer["data"]["metrics"]["counts"] == [{"attribute": "•••", "count": 1}]
        assert viewer["data"]["metrics"]["orders"] == [{"group": "•••", "orders": 1}]
        assert NAME not in str(viewer)
        assert (await login(client, ADMIN_KEY)).status_code == 303  # the dashboard's tiles: the admin sees the name
        assert NAME in (await client.get("/dashboard", params={"by": "customer_name"})).text
        client.cookies.clear()
        assert (await login(client, VIEWER_KEY)).status_code == 303
        page = await client.get("/dashboard", params={"by": "customer_name"})
        assert page.status_code == 200 and NAME not in page.text and "•••" in page.text
