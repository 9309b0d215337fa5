"""The spine over HTTP (httpx ASGITransport): inbox first, statuses, dead letters, replay, GraphQL trace."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from hub.store.tables import deliveries, events
from tests.support import (
    OPERATOR_KEY,
    VIEWER_KEY,
    WMS_SECRET,
    cloudevent,
    dumps,
    gql,
    moved,
    running_app,
    signed_headers,
)

TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind systems
  refs { namespace value role }
  events { id source type occurredAt receivedAt lagSeconds status error outOfOrder unknownType deliveryId
           refs { namespace value role } } } }"""


async def delivery_count(hub) -> int:  # type: ignore[no-untyped-def]
    await moved(hub)
    async with hub.store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()


@pytest.mark.asyncio
async def test_three_systems_stitch_into_one_transaction(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        ingest = [cloudevent("shop", "order.placed", [("shop:order", "5012345678"), ("shop:order_name", "#1001")],
                             id="o-1", amount={"value": "49.90", "currency": "EUR"})]
        response = await client.post("/ingest", content=dumps(ingest), headers={
            "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
        assert response.status_code == 202, response.text
        erp = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1042"), ("shop:order", "5012345678")],
                               id="e-1", time_="2026-11-01T12:05:00Z"))
        assert (await client.post("/hooks/erp", content=erp, headers=signed_headers(erp))).status_code == 202
        wms = dumps(cloudevent("wms", "shipment.shipped", [("wms:shipment", "SH-77"), ("erp:sales_order", "SO-1042"),
                                                           ("stripe:payout", "po_1", "related")],
                               id="w-1", time_="2026-11-01T13:00:00Z"))
        assert (await client.post("/hooks/wms", content=wms,
                                  headers=signed_headers(wms, WMS_SECRET))).status_code == 202
        await hub.normalizer.run_until_idle()

        by_tracking = await gql(client, TRACE, ref="SH-77")
        tx = by_tracking["data"]["transaction"]
        assert [(e["source"], e["type"]) for e in tx["events"]] == [
            ("shop", "order.placed"), ("erp", "erp.posted"), ("wms", "shipment.shipped")]
        assert [e["lagSeconds"] for e in tx["events"]] == [None, 300.0, 3300.0]
        assert tx["systems"] == ["erp", "shop", "wms"] and tx["kind"] == "order"
        assert {"namespace": "stripe:payout", "value": "po_1", "role": "related"} in tx["refs"]
        for ref in ("5012345678", "#1001", "erp:sales_order:SO-1042", tx["id"]):
            assert (await gql(client, TRACE, ref=ref))["data"]["transaction"]["id"] == tx["id"]
        assert (await gql(client, TRACE, ref="nothing-like-this"))["data"]["transaction"] is None


@pytest.mark.asyncio
async def test_webhook_statuses_and_dedup(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        body = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")]))
        headers = signed_headers(body, msg_id="msg_same")
        first = await client.post("/hooks/erp", content=body, headers=headers)
        again = await client.post("/hooks/erp", content=body, headers=headers)
        assert (first.status_code, again.status_code) == (202, 200)
        assert first.json() == again.json() and first.json()["delivery"].startswith("dlv_")

        forged = dict(headers, **{"webhook-signature": "v1,AAAA" + headers["webhook-signature"][7:]})
        stale = signed_headers(body, timestamp=int(time.time()) - 301)
        unsigned = {"content-type": "application/json"}
        for bad in (forged, stale, unsigned):
            response = await client.post("/hooks/erp", content=body, headers=bad)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert await delivery_count(hub) == 1
        assert hub.metrics.value("crosstrace_deliveries_rejected_total", source="erp", reason="signature") == 3

        assert (await client.post("/hooks/nope", content=body, headers=headers)).status_code == 404
        assert (await client.post("/hooks/erp", content=body,
                                  headers=dict(headers, **{"content-type": "text/html"}))).status_code == 415
        huge = b'{"x": "' + b"a" * (70 * 1024) + b'"}'
        response = await client.post("/hooks/erp", content=huge, headers=signed_headers(huge))
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        assert (await client.get("/hooks/erp")).status_code == 405


@pytest.mark.asyncio
@pytest.mark.parametrize("body, reason", [
    (b'{"specversion": "1.0", "id": "x", ', "malformed JSON"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper"),
    (dumps({"specversion": "1.0", "source": "erp", "type": "erp.posted"}), "'id'"),
    (dumps({"specversion": "1.0", "id": "x", "source": "erp", "type": "erp.posted",
            "data": {"refs": [{"namespace": "erp:so", "value": 42}]}}), "refs[0].value"),
])
async def test_signed_but_unparseable_is_stored_acknowledged_and_dead_lettered(store_url: str, body: bytes,
                                                                             reason: str) -> None:
    async with running_app(store_url) as (client, hub):
        response = await client.post("/hooks/erp", content=body, headers=signed_headers(body))
        assert response.status_code == 202
        await hub.normalizer.run_until_idle()
        data = await gql(client, '{ deliveries(filter: {state: "dead"}, first: 10) { nodes { id state error body } } '
                                 '  exceptions(first: 10) { nodes { type subject status } } }')
        dead = data["data"]["deliveries"]["nodes"]
        assert [d["id"] for d in dead] == [response.json()["delivery"]] and reason in dead[0]["error"]
        assert dead[0]["body"] == body.decode()
        assert data["data"]["exceptions"]["nodes"] == [
            {"type": "dead_letter", "subject": dead[0]["id"], "status": "open"}]


@pytest.mark.asyncio
async def test_replay_after_fix_rederives_without_duplicates(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        good = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-9")], id="e-9"))
        response = await client.post("/hooks/erp", content=good, headers=signed_headers(good))
        await hub.normalizer.run_until_idle()
        mutation = 'mutation($id: ID!) { replayDelivery(id: $id) { count deliveryIds } }'
        denied = await gql(client, mutation, key=VIEWER_KEY, id=response.json()["delivery"])
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        for _ in range(2):
            replayed = await gql(client, mutation, key=OPERATOR_KEY, id=response.json()["delivery"])
            assert replayed["data"]["replayDelivery"]["count"] == 1
            await hub.normalizer.run_until_idle()
        tx = (await gql(client, TRACE, ref="SO-9"))["data"]["transaction"]
        assert len(tx["events"]) == 1 and tx["events"][0]["deliveryId"] == response.json()["delivery"]


@pytest.mark.asyncio
async def test_ingest_errors_name_the_index_and_field(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        batch = "application/cloudevents-batch+json"
        auth = {"authorization": f"Bearer {OPERATOR_KEY}", "content-type": batch}
        ok = cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")])
        cases = [
            ({"content-type": batch}, dumps([ok]), 401),
            ({"authorization": "Bearer ct_wrong", "content-type": batch}, dumps([ok]), 401),
            ({"authorization": f"Bearer {VIEWER_KEY}", "content-type": batch}, dumps([ok]), 403),
            (auth, b"{not json", 400),
            (dict(auth, **{"content-type": "text/csv"}), dumps([ok]), 415),
        ]
        for headers, body, status in cases:
            response = await client.post("/ingest", content=body, headers=headers)
            assert response.status_code == status, (headers, response.text)
            assert set(response.json()) == {"error"} and set(response.json()["error"]) == {"code", "message"}
        missing = dict(ok)
        del missing["specversion"]
        response = await client.post("/ingest", content=dumps([ok, missing]), headers=auth)
        assert response.status_code == 400 and "event[1]" in response.text and "specversion" in response.text
        bad_ref = cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-1")])
        bad_ref["data"]["refs"][0]["value"] = 1042
        response = await client.post("/ingest", content=dumps([ok, ok, bad_ref]), headers=auth)
        assert response.status_code == 400 and "event[2].data.refs[0].value" in response.text
        unknown = cloudevent("erp", "erp.teleported", [("erp:sales_order", "SO-2")])
        response = await client.post("/ingest", content=dumps(unknown), headers=dict(
            auth, **{"content-type": "application/cloudevents+json"}))
        assert response.status_code == 202
        await hub.normalizer.run_until_idle()
        event = (await gql(client, TRACE, ref="SO-2"))["data"]["transaction"]["events"][0]
        assert (event["type"], event["unknownType"]) == ("erp.teleported", True)


@pytest.mark.asyncio
async def test_health_metrics_and_error_shape(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        assert (await client.get("/healthz")).json()["status"] == "ok"
        text = (await client.get("/metrics")).text
        assert "crosstrace_normalize_pending 0" in text
        missing = await client.get("/no/such/page")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.asyncio
async def test_a_delivery_sent_again_before_it_is_normalized_counts_on_its_event(store_url: str) -> None:
    """The sender retries while the first copy still waits in the inbox: the event is born with the repeats."""
    async with running_app(store_url) as (client, hub):
        await hub.normalizer.stop()  # hold normalization so every repeat lands before the event exists
        early = dumps(cloudevent("erp", "erp.posted", [("erp:sales_order", "SO-EARLY")], id="e-early"))
        statuses = [(await client.post("/hooks/erp", content=early, headers=signed_headers(early, msg_id="m-early")))
                    .status_code for _ in range(3)]
        assert statuses == [202, 200, 200]
        await hub.normalizer.run_until_idle()
        await client.post("/hooks/erp", content=early, headers=signed_headers(early, msg_id="m-early"))  # and once more
        await moved(hub)
        async with hub.started().store.read() as conn:
            counted = (await conn.execute(select(events.c.duplicates)
                                          .where(events.c.source_event_id == "e-early"))).scalar_one()
    assert counted == 3
