"""No orphans: an event with no identity ref joins no transaction and is counted by ONE ``unlinked`` exception per
source and type — in the queue, on the dashboard, findable by id — which resolves itself once a fixed mapping
and a replay link the events.

Real deliveries over HTTP: CloudEvents signed per Standard Webhooks, and Amazon's published TRANSACTION_UPDATE
example (a ServiceFee posting names no order: its ``RelatedIdentifiers`` are optional in Amazon's schema) sent
as the EventBridge API destination does.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from collectors import amazon_sp
from hub.access.retention import Retention, purge
from hub.ingest.normalize import ReplayFilter, replay
from tests.paths import FIXTURES
from tests.support import ERP_SECRET, OPERATOR_KEY, cloudevent, dumps, gql, running_app, signed_headers
from tests.web import seed
from tests.web.app import web_app

AMAZON = {"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": "eb-key"}
ERP = {"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET}
QUEUE = """{ exceptions(filter: {type: ["unlinked"]}, first: 10) { totalCount nodes {
  type status severity subject message evidence history { action } } }
  exceptionCounts(groupBy: [TYPE, SOURCE, STATUS]) { type source status count }
  transactions(first: 50) { totalCount } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on Event { id type source } } }"


def unlinked(number: int) -> dict:
    """An ERP event of a type nobody mapped, carrying its order number only in a field no mapping reads."""
    return cloudevent("erp", "erp.invoice_sent", [], id=f"inv-{number}", order_number=f"SO-{number}")


def service_fee() -> bytes:
    payload = json.loads((FIXTURES / "amazon-sp" / "TransactionUpdateNotification.example.json").read_text())
    body = payload["Payload"]["TransactionUpdateNotification"]
    body["TransactionType"] = "ServiceFee"
    del body["RelatedIdentifiers"]
    return json.dumps(payload).encode()


async def post_erp(client, event: dict) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/hooks/erp", content=dumps(event), headers=signed_headers(dumps(event)))
    assert response.status_code == 202


@pytest.mark.asyncio
async def test_events_without_identity_are_one_counted_exception_per_source_and_type(store_url: str) -> None:
    async with running_app(store_url, extra={"sources": [ERP, AMAZON]}) as (client, hub):
        for number in range(3):
            await post_erp(client, unlinked(number))
        await post_erp(client, cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-9")], id="linked"))
        await post_erp(client, cloudevent("erp", "inventory.snapshot", [], id="count",  # stands alone, as before
                                          lines=[{"sku": "SKU-1", "location": "WH-1", "qty": 3, "state": "on_hand"}]))
        response = await client.post("/hooks/amazon", content=service_fee(),
                                     headers={**amazon_sp.sign("eb-key"), "content-type": "application/json"})
        assert response.status_code == 202
        await hub.normalizer.run_until_idle()

        data = (await gql(client, QUEUE))["data"]
        assert data["transactions"]["totalCount"] == 2  # the linked ERP posting and the stock count only
        found = {x["subject"]: x for x in data["exceptions"]["nodes"]}
        assert set(found) == {"erp:erp.invoice_sent", "amazon:order.updated"}
        invoices = found["erp:erp.invoice_sent"]
        assert (invoices["type"], invoices["status"], invoices["severity"]) == ("unlinked", "open", "warning")
        assert invoices["evidence"]["count"] == 3 and len(invoices["evidence"]["latest_events"]) == 3
        assert "3 erp.invoice_sent events from erp" in invoices["message"]
        assert [h["action"] for h in invoices["history"]] == ["opened"]  # one exception, not one per event
        assert found["amazon:order.updated"]["evidence"]["count"] == 1
        assert {"type": "unlinked", "source": "erp", "status": "open", "count": 1} in data["exceptionCounts"]
        event_id = invoices["evidence"]["latest_events"][0]
        node = (await gql(client, NODE, id=event_id))["data"]["node"]
        assert node == {"id": event_id, "type": "erp.invoice_sent", "source": "erp"}  # still findable
        # the reads that walk events by transaction take them in their stride
        ocel = await client.get("/export/ocel.json", headers={"authorization": f"Bearer {OPERATOR_KEY}"})
        assert ocel.status_code == 200 and len(ocel.json()["events"]) == 6
        await post_erp(client, cloudevent("erp", "erp.note", [("erp:customer", "C-7", "related")], id="note"))
        await hub.normalizer.run_until_idle()
        assert (await gql(client, "{ transaction(ref: \"C-7\") { id } }"))["data"]["transaction"] is None

        await post_erp(client, unlinked(3))
        await hub.normalizer.run_until_idle()
        data = (await gql(client, QUEUE))["data"]
        invoices = next(x for x in data["exceptions"]["nodes"] if x["subject"] == "erp:erp.invoice_sent")
        assert invoices["evidence"]["count"] == 4 and data["exceptions"]["totalCount"] == 3  # + erp.note

    # The mapping is fixed (the order number names the ERP order) and the deliveries replayed: all are linked.
    mapped = {**ERP, "refs": {"data.order_number": "erp:sales_order"}}
    async with running_app(store_url, extra={"sources": [mapped, AMAZON]}) as (client, hub):
        assert len(await replay(hub.started().store, ReplayFilter(source="erp", state="done"))) == 7
        await hub.normalizer.run_until_idle()
        data = (await gql(client, QUEUE))["data"]
        invoices = next(x for x in data["exceptions"]["nodes"] if x["subject"] == "erp:erp.invoice_sent")
        assert invoices["status"] == "resolved" and invoices["history"][-1]["action"] == "resolved"
        assert data["transactions"]["totalCount"] == 6  # SO-0 … SO-3, SO-9 and the stock count
        trace = (await gql(client, "{ transaction(ref: \"SO-2\") { events { type } } }"))["data"]["transaction"]
        assert trace["events"] == [{"type": "erp.invoice_sent"}]


@pytest.mark.asyncio
async def test_dashboard_counts_unlinked_events_per_source_and_links_the_queue(store_url: str) -> None:
    async with web_app(store_url) as (client, hub):
        for number in range(2):
            path, body, headers = seed.signed("erp", unlinked(number))
            assert (await client.post(path, content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        page = (await client.get("/dashboard")).text
        assert re.search(r'<a class="bad" href="/exceptions\?type=unlinked&source=erp">2</a>', page)
        assert '<a href="/exceptions?type=unlinked">unlinked</a>' in page
        queue = (await client.get("/exceptions", params={"type": "unlinked"})).text
        assert "2 erp.invoice_sent events from erp" in queue


@pytest.mark.asyncio
async def test_purging_old_unlinked_events_lowers_the_count_and_resolves_when_none_is_left(store_url: str) -> None:
    async with running_app(store_url, extra={"sources": [ERP]}) as (client, hub):
        for number in range(2):
            await post_erp(client, unlinked(number))
        await hub.normalizer.run_until_idle()
        store = hub.started().store
        assert (await purge(store, Retention(default_days=1), datetime.now(UTC).replace(tzinfo=None))).events == 0
        later = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=2)
        assert (await purge(store, Retention(default_days=1), later)).events == 2
        data = (await gql(client, QUEUE))["data"]
        [gone] = data["exceptions"]["nodes"]
        assert gone["status"] == "resolved" and gone["evidence"]["count"] == 2  # the last count it had
