"""Issue 13 ("Trust"): correctly signed deliveries carrying hostile values are dead-lettered naming the field,
never passed on to the store, and a good event posted after them is traced. Over HTTP, on SQLite and PostgreSQL.

Before the boundary (``hub.ingest.values``) each of these failed its whole normalizer batch, on every retry.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from hub.store.tables import deliveries
from tests.support import OPERATOR_KEY, VIEWER_KEY, cloudevent, dumps, gql, running_app, signed_headers
from tests.web.app import login

INGEST = {"authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents+json"}


def _raw(ref_value_json: str, id_: str) -> bytes:
    """A CloudEvent whose ref value is written by hand, so the JSON escape (``\\ud800``, ``\\u0000``) is as sent."""
    return dumps(cloudevent("erp", "order.placed", [("erp:order", "@@")], id=id_)).replace(
        b'"@@"', ref_value_json.encode())


def _capture(order: str) -> dict[str, Any]:
    return cloudevent("erp", "payment.captured", [("erp:order", order)],
                      amount={"value": "49.90", "currency": "EUR", "kind": "capture"})


def _amount(order: str, value: str) -> list[dict[str, Any]]:
    """A capture and, on the same order, an order total of ``value``."""
    return [_capture(order), cloudevent("erp", "order.placed", [("erp:order", order)],
                                        amount={"value": value, "currency": "EUR", "kind": "total"})]


# name → (body, words the dead letter's error must hold: the field, and why)
HOSTILE: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "lone surrogate in a ref": (_raw('"SO-\\ud800"', "h-surrogate"), ("refs[0].value", "surrogate")),
    "NUL in a ref": (_raw('"SO-\\u0000-1"', "h-nul"), ("refs[0].value", "NUL")),
    "quantity NaN": (dumps(cloudevent("erp", "inventory.adjusted", [("erp:adjustment", "ADJ-1")],
                                      lines=[{"sku": "SKU-1", "location": "WH-1", "qty": "NaN"}])),
                     ("lines[0].qty", "not a number")),
    "amount NaN": (dumps(_amount("O-NAN", "NaN")), ("event[1]", "amount.value")),
    "amount sNaN": (dumps(_amount("O-SNAN", "sNaN")), ("event[1]", "amount.value")),
    "amount Infinity": (dumps(_amount("O-INF", "Infinity")), ("event[1]", "amount.value")),
    "amount 1e400": (dumps(_amount("O-BIG", "1e400")), ("event[1].amount.value", "beyond")),
    "time 9999": (dumps(cloudevent("erp", "order.placed", [("erp:order", "O-9999")], time_="9999-12-31T23:59:59Z")),
                  ("occurred_at", "9999-12-31", "outside 1970–2200")),
    "time before 1970": (dumps(cloudevent("erp", "order.placed", [("erp:order", "O-1969")],
                                          time_="1969-12-31T23:59:59Z")), ("occurred_at", "outside 1970–2200")),
    "time with an offset past year 9999": (dumps(cloudevent("erp", "order.placed", [("erp:order", "O-OFF")],
                                                            time_="9999-12-31T23:59:59-05:00")), ("time",)),
    "ref longer than its column": (dumps(cloudevent("erp", "order.placed", [("erp:order", "R" * 201)])),
                                   ("refs[0].value", "201 characters")),
    "event id longer than its column": (dumps(cloudevent("erp", "order.placed", [("erp:order", "O-ID")],
                                                         id="i" * 201)), ("source_event_id", "201 characters")),
    "sku longer than its column": (dumps(cloudevent("erp", "inventory.snapshot", [("erp:count", "C-1")],
                                                    lines=[{"sku": "S" * 101, "location": "WH-1", "qty": 1}])),
                                   ("lines[0].sku", "101 characters")),
    "currency with a surrogate": (b'{"specversion": "1.0", "id": "h-cur", "source": "erp", "type": "payment.captured",'
                                  b' "data": {"refs": [{"namespace": "erp:order", "value": "O-CUR"}],'
                                  b' "amount": {"value": "1", "currency": "E\\udfffR"}}}',
                                  ("amount.currency", "surrogate")),
    "error text with a NUL": (dumps(cloudevent("erp", "sync.failed", [("erp:order", "O-ERR")], status="failed",
                                               error="boom\u0000")), ("error", "NUL")),
}


async def _dead_letters(hub) -> dict[str, tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    async with hub.store.read() as conn:
        rows = (await conn.execute(select(deliveries.c.id, deliveries.c.state, deliveries.c.error))).all()
    return {row.id: (row.state, row.error) for row in rows}


@pytest.mark.asyncio
async def test_each_hostile_value_is_dead_lettered_naming_the_field_and_a_good_event_is_traced(store_url: str) -> None:
    async with running_app(store_url) as (client, hub):
        posted: dict[str, str] = {}
        for name, (body, _) in HOSTILE.items():
            response = await client.post("/hooks/erp", content=body, headers=signed_headers(body))
            assert response.status_code == 202, (name, response.text)
            posted[name] = response.json()["delivery"]
        good = dumps(cloudevent("erp", "order.placed", [("erp:order", "GOOD-1")]))
        assert (await client.post("/hooks/erp", content=good, headers=signed_headers(good))).status_code == 202

        await hub.normalizer.run_until_idle()  # before the boundary: raised, and the batch stayed pending

        states = await _dead_letters(hub)
        assert not [i for i, (state, _) in states.items() if state == "pending"]
        for name, (_, words) in HOSTILE.items():
            state, error = states[posted[name]]
            assert state == "dead", (name, error)
            assert all(word in (error or "") for word in words), (name, error)
        traced = await gql(client, '{ transaction(ref: "GOOD-1") { events { type } } }')
        assert traced["data"]["transaction"]["events"] == [{"type": "order.placed"}]
        # The dead letters are readable and replayable like any other: the evidence wrote, the queue shows them.
        dead = await gql(client, '{ deliveries(filter: {state: "dead"}, first: 50) { nodes { id error body } } }')
        assert {n["id"] for n in dead["data"]["deliveries"]["nodes"]} == set(posted.values())
        exceptions = await gql(client, '{ exceptions(filter: {type: ["dead_letter"]}, first: 50) { totalCount } }')
        assert exceptions["data"]["exceptions"]["totalCount"] == len(HOSTILE)
        masked = await gql(client, '{ deliveries(first: 50) { nodes { body headers error } } }', key=VIEWER_KEY)
        assert "errors" not in masked and len(masked["data"]["deliveries"]["nodes"]) == len(HOSTILE) + 1
        assert (await login(client, VIEWER_KEY)).status_code == 303  # the UI, masked as a viewer sees it
        for page in ["/exceptions", *(f"/deliveries/{delivery}" for delivery in posted.values())]:
            assert (await client.get(page)).status_code == 200, page


@pytest.mark.asyncio
async def test_an_invalid_traceparent_is_dropped_not_stored_and_the_event_kept(store_url: str) -> None:
    """W3C Trace Context: an invalid traceparent is ignored. A 300-character one overflowed PostgreSQL's VARCHAR(64)."""
    async with running_app(store_url) as (client, hub):
        for number, traceparent in enumerate(["00-" + "a" * 300, "not a traceparent", "ff-" + "a" * 32 + "-" + "b" * 16
                                              + "-01", "00-" + "0" * 32 + "-" + "b" * 16 + "-01"]):
            body = dumps(cloudevent("erp", "order.placed", [("erp:order", f"TP-{number}")]))
            headers = {**signed_headers(body), "traceparent": traceparent}
            assert (await client.post("/hooks/erp", content=body, headers=headers)).status_code == 202
        await hub.normalizer.run_until_idle()
        for number in range(4):
            traced = await gql(client, f'{{ transaction(ref: "TP-{number}") {{ events {{ traceparent }} }} }}')
            assert traced["data"]["transaction"]["events"] == [{"traceparent": None}]


@pytest.mark.asyncio
async def test_ingest_refuses_hostile_values_at_the_door_naming_the_field(store_url: str) -> None:
    """``/ingest`` answers our own clients 400 for what a webhook would dead-letter: nothing unusable is stored."""
    async with running_app(store_url) as (client, hub):
        for name, (body, words) in HOSTILE.items():
            response = await client.post("/ingest", content=body, headers=INGEST)
            assert response.status_code == 400, (name, response.text)
            message = response.json()["error"]["message"]
            assert all(word in message for word in words), (name, message)
        assert await _dead_letters(hub) == {}
        good = dumps(cloudevent("erp", "order.placed", [("erp:order", "GOOD-2")]))
        assert (await client.post("/ingest", content=good, headers=INGEST)).status_code == 202
        await hub.normalizer.run_until_idle()
        traced = await gql(client, '{ transaction(ref: "GOOD-2") { events { type } } }')
        assert traced["data"]["transaction"]["events"] == [{"type": "order.placed"}]


@pytest.mark.asyncio
@pytest.mark.parametrize("event_id", ["evt_\u0000nul", "evt_\ud800surrogate"])
async def test_a_sender_delivery_id_with_nul_or_a_surrogate_is_stored_and_acknowledged(store_url: str,
                                                                                       event_id: str) -> None:
    """The dedup key comes from the body (Stripe's event ``id``): an unstorable one failed the inbox's group commit,
    so this sender and every other one in the same commit got 503s. It is hashed like an over-long key."""
    from collectors import stripe
    from tests.collectors.test_receiver_adapters import SOURCES

    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        body = json.dumps({"id": event_id, "type": "payment_intent.succeeded", "created": 1767225600,
                           "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 4990,
                                               "amount_received": 4990, "currency": "eur"}}}).encode()
        headers = {"stripe-signature": stripe.sign("whsec_stripe_endpoint", body, int(time.time())),
                   "content-type": "application/json"}
        first = await client.post("/hooks/stripe", content=body, headers=headers)
        again = await client.post("/hooks/stripe", content=body, headers=headers)
        assert (first.status_code, again.status_code) == (202, 200), first.text
        assert first.json() == again.json()
        await hub.normalizer.run_until_idle()
        state, error = (await _dead_letters(hub))[first.json()["delivery"]]
        assert state == "dead" and "source_event_id" in (error or ""), error
