"""Issue 13 ("Trust"), fuzzed: hostile values inside otherwise valid, correctly signed deliveries of every adapter.

Templates are the vendors' published payloads (``tests/fixtures``) and the documented shapes of the ``json`` and
``cloudevents`` adapters (``/ingest`` too); hypothesis puts NaN, Infinity, huge and tiny numbers, lone
surrogates, NUL, absurd times, over-long strings and wrong types where the adapters read ids, times,
quantities and amounts (and anywhere else), and sends them raw-UTF-8 or escaped, with or without a garbage
``traceparent``. Over HTTP, on SQLite and PostgreSQL, every delivery is acknowledged (``/ingest``: or
refused 400), normalizing ends (no batch fails), every delivery is ``done`` or ``dead``, nothing unsafe was
stored, the evaluator's tick runs, and a good event sent after them is traced.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from collectors import amazon_sp, easypost, json_mapping, shopify, square, stripe
from collectors.standard_webhooks import sign as sw_sign
from hub.ingest.values import EARLIEST, LATEST, MAX_AMOUNT, MAX_QTY
from hub.model import utcnow
from hub.store.tables import deliveries, events
from tests.collectors.test_amazon_sp import fba_inventory, order_change
from tests.collectors.test_square import count, inventory_event, payment, payment_event
from tests.paths import FIXTURES
from tests.support import OPERATOR_KEY, cloudevent, gql, moved, running_app

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SQUARE_KEY, SQUARE_URL = "sq0wsk_fuzz-key", "https://hub.example.com/hooks/pos"
HEX_SECRET = "erp-hex-secret"
SOURCES = [
    {"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": "shpss_app_secret"},
    {"name": "stripe", "kind": "payment", "adapter": "stripe", "secret": "whsec_stripe_endpoint",
     "refs": {"data.object.metadata.order_id": "shop:order"}},
    {"name": "pos", "kind": "pos", "adapter": "square", "secret": SQUARE_KEY,
     "options": {"notification_url": SQUARE_URL}},
    {"name": "easypost", "kind": "carrier", "adapter": "easypost", "secret": "sécret"},
    {"name": "amazon", "kind": "marketplace", "adapter": "amazon-sp", "secret": "eb-connection-key"},
    {"name": "erp", "kind": "erp", "adapter": "json", "secret": HEX_SECRET,
     "options": {"signature": "hmac-sha256-hex", "mapping": {
         "id": "id", "type": "type", "occurred_at": "at", "error": "error",
         "refs": [{"path": "so", "namespace": "erp:sales_order"}, {"path": "order", "namespace": "shop:order"}],
         "lines": {"path": "lines", "sku": "sku", "qty": "qty", "location": "location", "state": "state"},
         "amount": {"value": "total", "currency": "currency", "kind": "total"}}}},
    {"name": "ce", "kind": "other", "adapter": "cloudevents", "secret": SW_SECRET},
]


def _fixture(folder: str, name: str) -> Any:
    return json.loads((FIXTURES / folder / name).read_text())


STRIPE = _fixture("stripe", "fixtures3.json")["resources"]


@dataclass(frozen=True)
class Template:
    """One valid delivery of one adapter: where to post it, its body, how to make it unique and how to sign it."""

    name: str
    source: str
    body: dict[str, Any]
    fresh: Callable[[dict[str, Any], str], None]  # sets a unique id, so each example's delivery is a new one
    sign: Callable[[bytes, str], dict[str, str]]


def _set(path: str) -> Callable[[dict[str, Any], str], None]:
    def apply(body: dict[str, Any], unique: str) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = unique
    return apply


def _shopify(topic: str) -> Callable[[bytes, str], dict[str, str]]:
    return lambda body, unique: {"x-shopify-hmac-sha256": shopify.sign("shpss_app_secret", body),
                                 "x-shopify-topic": topic, "x-shopify-event-id": unique}


def _stripe(body: bytes, unique: str) -> dict[str, str]:
    return {"stripe-signature": stripe.sign("whsec_stripe_endpoint", body, int(time.time()))}


def _square(body: bytes, unique: str) -> dict[str, str]:
    return {"x-square-hmacsha256-signature": square.sign(SQUARE_KEY, SQUARE_URL, body)}


def _easypost(body: bytes, unique: str) -> dict[str, str]:
    return {"x-hmac-signature": easypost.sign("sécret", body)}


def _amazon(body: bytes, unique: str) -> dict[str, str]:
    return amazon_sp.sign("eb-connection-key")


def _erp(body: bytes, unique: str) -> dict[str, str]:
    return {"x-signature": "sha256=" + json_mapping.sign(HEX_SECRET, body)}


def _standard_webhooks(body: bytes, unique: str) -> dict[str, str]:
    now = int(time.time())
    return {"webhook-id": unique, "webhook-timestamp": str(now),
            "webhook-signature": sw_sign(SW_SECRET, unique, now, body)}


def _ingest(body: bytes, unique: str) -> dict[str, str]:
    return {"authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents+json"}


def _no_id(body: dict[str, Any], unique: str) -> None:
    """Shopify's event id is a header (set by the signer), not in the body."""


def _stripe_event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(STRIPE["event"]), "type": kind, "data": {"object": copy.deepcopy(obj)}}


TEMPLATES = [
    Template("shopify order", "shop", _fixture("shopify", "order.json")["order"], _no_id, _shopify("orders/create")),
    Template("shopify fulfillment", "shop", _fixture("shopify", "fulfillment.json")["fulfillment"], _no_id,
             _shopify("fulfillments/create")),
    Template("shopify refund", "shop", _fixture("shopify", "refund.json")["refund"], _no_id,
             _shopify("refunds/create")),
    Template("shopify inventory", "shop", _fixture("shopify", "inventory_level.json")["inventory_level"], _no_id,
             _shopify("inventory_levels/update")),
    Template("stripe capture", "stripe",
             _stripe_event("payment_intent.succeeded", {**STRIPE["payment_intent"], "status": "succeeded",
                                                        "metadata": {"order_id": "450789469"}}), _set("id"), _stripe),
    Template("stripe refund", "stripe", _stripe_event("refund.created", STRIPE["refund"]), _set("id"), _stripe),
    Template("square payment", "pos", payment_event("payment.created", payment()), _set("event_id"), _square),
    Template("square inventory", "pos", inventory_event(count("IN_STOCK"), count("RESERVED_FOR_SALE", "2")),
             _set("event_id"), _square),
    Template("easypost tracker", "easypost", _fixture("easypost", "event-body.json"), _set("id"), _easypost),
    Template("amazon order change", "amazon", order_change(), _set("NotificationMetadata.NotificationId"), _amazon),
    Template("amazon fba inventory", "amazon", fba_inventory(), _set("NotificationMetadata.NotificationId"), _amazon),
    Template("json erp", "erp", {"id": "e-1", "type": "erp.posted", "at": "2026-11-01T12:00:00Z", "so": "SO-1",
                                 "order": "450789469", "lines": [{"sku": "SKU-1", "qty": 2, "location": "WH-1",
                                                                  "state": "reserved"}],
                                 "total": "49.90", "currency": "EUR", "error": None}, _set("id"), _erp),
    Template("cloudevents", "ce", cloudevent("ce", "order.placed", [("shop:order", "450789469")],
                                             lines=[{"sku": "SKU-1", "location": "WH-1", "qty": 1}],
                                             amount={"value": "49.90", "currency": "EUR", "kind": "total"},
                                             status="ok", error=None), _set("id"), _standard_webhooks),
    Template("ingest", "ingest", cloudevent("erp", "inventory.adjusted", [("erp:adjustment", "ADJ-1")],
                                            lines=[{"sku": "SKU-1", "location": "WH-1", "qty": -2}],
                                            amount={"value": "12.00", "currency": "EUR", "kind": "total"}),
             _set("id"), _ingest),
]
GOOD = TEMPLATES[-2]  # cloudevents over /hooks

# Where adapters read what matters (ids, times, quantities, amounts, refs); hostile values land there half the time.
_READ = re.compile(r"id$|_at$|time|amount|quantit|qty|price|total|currency|sku|status|state|type|value|code|"
                   r"namespace|available|fulfillable|created|error|number|location|kind|so$|order$", re.IGNORECASE)


def _leaves(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _leaves(value, (*prefix, key))] or [prefix]
    if isinstance(node, list):
        return [p for index, value in enumerate(node) for p in _leaves(value, (*prefix, index))] or [prefix]
    return [prefix]


LEAVES = {t.name: [p for p in _leaves(t.body) if p] for t in TEMPLATES}
READ_LEAVES = {name: [p for p in paths if _READ.search(str(p[-1]))] for name, paths in LEAVES.items()}

HOSTILE_VALUES = st.one_of(
    st.sampled_from(["\ud800", "SO-\udfff", "\x00", "A\x00B", "NaN", "sNaN", "-Infinity", "Infinity", "1e400",
                     "-1e400", "1e-400", "9" * 60, "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                     "1969-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "", "0", "n/a", "x" * 300, "é" * 201]),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, 10**30, 2**63, -1, 0,
                     True, None, 253402300800, -62135596801]),
    st.sampled_from([[], {}, [None], {"a": "\ud800"}, ["\x00"]]),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lu", "Nd", "Zs"]), max_size=12),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
)
TRACEPARENTS = st.one_of(st.none(), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
                         st.just("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))


@st.composite
def hostile_delivery(draw: st.DrawFn, template: Template) -> tuple[Template, bytes, str, str | None]:
    """The template with 1–3 values replaced by hostile ones, serialized escaped or as raw UTF-8, unique."""
    body = copy.deepcopy(template.body)
    unique = f"fz-{uuid.uuid4().hex}"
    template.fresh(body, unique)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = READ_LEAVES[template.name] if draw(st.booleans()) and READ_LEAVES[template.name] \
            else LEAVES[template.name]
        *parents, last = draw(st.sampled_from(paths))
        node: Any = body
        for part in parents:
            node = node[part]
        node[last] = draw(HOSTILE_VALUES)
    if draw(st.booleans()):
        raw = json.dumps(body).encode()  # \ud800 and \u0000 escaped, NaN/Infinity as Python's json writes them
    else:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")  # raw (invalid) UTF-8 bytes
    return template, raw, unique, draw(TRACEPARENTS)


async def _post(client, template: Template, raw: bytes, unique: str,  # type: ignore[no-untyped-def]
                traceparent: str | None) -> int:
    headers = {"content-type": "application/json", **template.sign(raw, unique)}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    ingest = template.source == "ingest"  # our own client: what a webhook would dead-letter is a 400 here
    response = await client.post("/ingest" if ingest else f"/hooks/{template.source}", content=raw, headers=headers)
    assert response.status_code in ((200, 202, 400) if ingest else (200, 202)), (template.name, raw[:300],
                                                                                  response.text)
    return response.status_code


async def _assert_nothing_unsafe_stored(hub) -> None:  # type: ignore[no-untyped-def]
    async with hub.store.read() as conn:
        pending = (await conn.execute(select(func.count()).select_from(deliveries)
                                      .where(deliveries.c.state != "done", deliveries.c.state != "dead"))).scalar_one()
        rows = (await conn.execute(select(events.c.occurred_at, events.c.amount_value, events.c.lines))).all()
    assert pending == 0
    for row in rows:
        assert EARLIEST <= row.occurred_at < LATEST
        if row.amount_value is not None:
            amount = Decimal(row.amount_value)
            assert amount.is_finite() and abs(amount) < MAX_AMOUNT
        for line in row.lines or []:
            qty = Decimal(line["qty"])
            assert qty.is_finite() and abs(qty) < MAX_QTY


@pytest.mark.asyncio
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.tuples(*(hostile_delivery(template) for template in TEMPLATES)))
async def test_hostile_values_in_every_adapter_end_done_or_dead_and_a_good_event_is_traced(
        store_url: str, batch: tuple[tuple[Template, bytes, str, str | None], ...]) -> None:
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        for template, raw, unique, traceparent in batch:
            await _post(client, template, raw, unique, traceparent)
        good_ref = f"GOOD-{uuid.uuid4().hex[:8]}"
        good = json.dumps(cloudevent("ce", "order.placed", [("ce:order", good_ref)])).encode()
        assert await _post(client, GOOD, good, f"good-{good_ref}", None) == 202

        await hub.normalizer.run_until_idle()  # a batch that fails raises here
        await hub.evaluator.tick(utcnow() + timedelta(days=30))  # every SLA falls due over what was stored

        await _assert_nothing_unsafe_stored(hub)
        traced = await gql(client, f'{{ transaction(ref: "{good_ref}") {{ events {{ type }} }} }}')
        assert traced["data"]["transaction"]["events"] == [{"type": "order.placed"}]


@pytest.mark.asyncio
async def test_the_templates_are_valid_deliveries_that_normalize(store_url: str) -> None:
    """The fuzz starts from deliveries the adapters accept: a template that were already refused would test nothing."""
    async with running_app(store_url, extra={"sources": SOURCES}) as (client, hub):
        posted = {}
        for template in TEMPLATES:
            body = copy.deepcopy(template.body)
            unique = f"ok-{uuid.uuid4().hex}"
            template.fresh(body, unique)
            raw = json.dumps(body).encode()
            assert await _post(client, template, raw, unique, None) == 202
            await moved(hub)
            async with hub.store.read() as conn:
                posted[template.name] = (await conn.execute(select(func.max(deliveries.c.id)))).scalar_one()
        await hub.normalizer.run_until_idle()
        async with hub.store.read() as conn:
            rows = {r.id: (r.state, r.error) for r in (await conn.execute(
                select(deliveries.c.id, deliveries.c.state, deliveries.c.error))).all()}
    assert {name: rows[delivery] for name, delivery in posted.items() if rows[delivery][0] != "done"} == {}
