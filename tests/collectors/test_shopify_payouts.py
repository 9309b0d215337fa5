"""Shopify Payments payouts on Shopify's published Payout and balance Transaction examples
(tests/fixtures/shopify/payouts.json, payouts_transactions.json): the adapter's settlement events, the
``shopify-payouts`` poller against a local Shopify (real uvicorn on loopback, Link-paged), and the whole path in
the app — the payout polled, its orders' webhooks signed Shopify's way, the payout related to the orders it paid."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from collectors import shopify
from collectors.poller import Poller, plan_polls
from hub.config import Source, parse
from hub.errors import ConfigError
from hub.ingest.polling import load_poll_state
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Delivery, Ref
from hub.store import Store
from hub.store.tables import deliveries
from tests.collectors.polling_server import Upstream
from tests.paths import FIXTURES
from tests.support import gql, running_app

SECRET = "shpss_payouts_app_secret"
PAYOUTS = json.loads((FIXTURES / "shopify" / "payouts.json").read_text())["payouts"]
TRANSACTIONS = json.loads((FIXTURES / "shopify" / "payouts_transactions.json").read_text())["transactions"]
PAID = 623721858  # the payout the transactions belong to
BACKFILL = 20 * 365 * 86400.0  # the published examples are from 2019: read that far back


def payout(payout_id: int) -> dict[str, Any]:
    return copy.deepcopy(next(p for p in PAYOUTS if p["id"] == payout_id))


def source(**options: Any) -> Source:
    return Source(name="payments", kind="payment", adapter="shopify", secrets=(SECRET,), options=options)


def parse_payout(body: dict[str, Any], src: Source | None = None, **headers: str) -> list:
    raw = json.dumps(body).encode()
    item = Delivery(id="d1", source="payments", received_at=datetime(2026, 1, 1), body=raw,
                    headers={"x-shopify-topic": "payouts/paid", "x-shopify-event-id": "e-1", **headers})
    return shopify.parse(item, src or source())


# --- the adapter ------------------------------------------------------------------------------------------------


def test_a_paid_payout_is_settled_net_with_its_gross_and_fees_from_the_summary() -> None:
    events = parse_payout(payout(PAID))
    assert [(e.source_event_id, e.type, e.amount) for e in events] == [
        ("e-1", "settlement.paid", Amount(Decimal("41.90"), "USD", "settlement")),
        # charges 44.52 + refunds -3.54 + adjustments 2.13; fees 1.32 - 0.23 + 0.12: 43.11 - 1.21 = 41.90
        ("e-1:gross", "settlement.paid", Amount(Decimal("43.11"), "USD", "gross")),
        ("e-1:fee", "settlement.paid", Amount(Decimal("1.21"), "USD", "fee"))]
    assert all(e.refs == [Ref("payments:payout", str(PAID))] for e in events)
    assert events[0].occurred_at == datetime(2019, 11, 12)


@pytest.mark.parametrize("status", ["scheduled", "in_transit", "failed"])
def test_a_payout_not_yet_paid_settles_nothing_but_stays_on_the_payout(status: str) -> None:
    (event,) = parse_payout(next(p for p in PAYOUTS if p["status"] == status))
    assert event.type == UNKNOWN_TYPE and event.amount is None
    assert event.refs[0].namespace == "payments:payout"


def test_the_balance_transactions_relate_the_payout_to_every_order_it_settled() -> None:
    detail = {**payout(PAID), "transactions": TRANSACTIONS}
    event, *lines = parse_payout(detail, source(order_source="shop"),
                                 **{"x-crosstrace-polled": "shopify-payout-detail"})
    assert event.type == "settlement.paid" and event.amount is None  # the money is on the payout's own events
    assert event.refs == [Ref("payments:payout", str(PAID)), Ref("shop:order", "217130470", RELATED),
                          Ref("shop:order", "625362839", RELATED)]
    # per order, the sum of its balance transactions (charges, refunds, adjustments, disputes) gross of fees
    assert [(e.refs[1].value, e.amount) for e in lines] == [
        ("217130470", Amount(Decimal("20.20"), "USD", "line")), ("625362839", Amount(Decimal("19.50"), "USD", "line"))]
    assert all(e.type == "settlement.paid" and e.refs[0] == event.refs[0] for e in lines)


@pytest.mark.parametrize(("change", "field"), [({"amount": "lots"}, "'amount'"), ({"currency": None}, "'currency'"),
                                               ({"id": None}, "'id'")])
def test_payout_drift_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(shopify.ParseError, match=field):
        parse_payout({**payout(PAID), **change})


def test_a_payout_webhook_on_a_source_that_polls_payouts_is_keyed_like_the_poll() -> None:
    polled = source(poll={"style": "shopify-payouts", "url": "https://demo.myshopify.com"})
    body = json.dumps(payout(PAID)).encode()
    assert shopify.dedup_key({"x-shopify-topic": "payouts/paid", "x-shopify-event-id": "e-9"}, body, polled) == \
        f"{PAID}:payout:paid"
    assert shopify.dedup_key({"x-shopify-topic": "payouts/paid", "x-shopify-event-id": "e-9"}, body, source()) == "e-9"


def test_bad_payout_poll_settings_name_the_key() -> None:
    for bad, match in (({"lookback_days": -1}, "lookback_days"), ({"since": "x"}, "unknown key 'since'")):
        raw = {"name": "payments", "kind": "payment", "adapter": "shopify",
               "options": {"poll": {"style": "shopify-payouts", "url": "https://demo.myshopify.com", **bad}}}
        with pytest.raises(ConfigError, match=match):
            plan_polls(parse({"sources": [raw]}, {}))


# --- the poller -------------------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12).timestamp()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def serve_payouts(upstream: Upstream) -> None:
    upstream.payouts = copy.deepcopy(PAYOUTS)
    upstream.payout_transactions = {PAID: copy.deepcopy(TRANSACTIONS)}


@pytest.mark.asyncio
async def test_the_poller_reads_paid_payouts_and_every_page_of_their_transactions(store: Store, upstream: Upstream
                                                                                  ) -> None:
    serve_payouts(upstream)
    upstream.faults["shopify"] = ["", "", "500"]  # a transactions page fails once: retried
    poll = {"style": "shopify-payouts", "url": upstream.url, "token": "shpat_test", "page_size": 2,
            "backfill_seconds": BACKFILL, "timeout_seconds": 5}
    raw = {"name": "payments", "kind": "payment", "adapter": "shopify", "options": {"poll": poll}}
    fake = FakeTime()
    async with httpx.AsyncClient() as client:
        poller = Poller(store, plan_polls(parse({"sources": [raw]}, {})), client, clock=fake.clock,
                        sleep=fake.sleep, rng=random.Random(3))
        first = await poller.poll_once("payments")
        assert first.ok, first.error
        async with store.read() as conn:
            rows = {r.dedup_key: r for r in await conn.execute(select(deliveries))}
        paid = [p["id"] for p in PAYOUTS if p["status"] == "paid"]
        assert set(rows) == {f"{i}:payout:paid" for i in paid} | {f"{i}:payout:transactions" for i in paid}
        detail = json.loads(rows[f"{PAID}:payout:transactions"].body)
        assert detail["transactions"] == TRANSACTIONS  # 25 of them, 13 pages of 2
        assert rows[f"{PAID}:payout:transactions"].headers["x-crosstrace-polled"] == "shopify-payout-detail"
        assert json.loads(rows[f"{PAID}:payout:paid"].body) == payout(PAID)
        queries = [q for api, q in upstream.requests if api == "shopify"]
        assert queries[0] == {"status": "paid", "date_min": "2006-11-06", "limit": "2"}
        # newest first, two a page: each paid payout's transactions are read before the next payouts page; the
        # third request (974708905's first page) failed once and was retried
        assert [q["payout_id"] for q in queries if "payout_id" in q] == ["710174591", "974708905", "974708905",
                                                                          str(PAID)]
        assert sum(1 for q in queries if "page_info" in q) == 12 + 1  # PAID's 13 pages of 2; the 2nd payouts page
        state = await load_poll_state(store, "payments")
        assert state is not None and state.cursor == "2019-12-12"

        fake.now += 60
        second = await poller.poll_once("payments")  # re-reads 3 days before the cursor: nothing new
        assert second.ok and second.new_items == 0
        assert [q for api, q in upstream.requests if api == "shopify"][len(queries)] == {
            "status": "paid", "date_min": "2019-12-09", "limit": "2"}


# --- the whole path over HTTP -----------------------------------------------------------------------------------

TRACE = """query($ref: String!) { transaction(ref: $ref) { id kind
  events { type amount { value currency kind } } related { id kind } exceptions { type } } }"""


@pytest.mark.asyncio
async def test_a_polled_payout_settles_and_relates_to_the_orders_its_webhooks_placed(store_url: str,
                                                                                     upstream: Upstream) -> None:
    serve_payouts(upstream)
    order = json.loads((FIXTURES / "shopify" / "order.json").read_text())["order"]
    order.update(id=217130470, name="#1217", fulfillments=[])  # the order the payout's charges settled
    sources = [{"name": "shop", "kind": "commerce", "adapter": "shopify", "secret": SECRET},
               {"name": "payments", "kind": "payment", "adapter": "shopify", "secret": SECRET,
                "options": {"order_source": "shop",
                            "poll": {"style": "shopify-payouts", "url": upstream.url, "token": "shpat_test",
                                     "backfill_seconds": BACKFILL, "interval_seconds": 3600}}}]
    async with running_app(store_url, extra={"sources": sources}) as (client, hub):
        body = json.dumps(order).encode()
        response = await client.post("/hooks/shop", content=body, headers={
            "content-type": "application/json", "x-shopify-topic": "orders/create", "x-shopify-event-id": "e-o",
            "x-shopify-hmac-sha256": shopify.sign(SECRET, body)})
        assert response.status_code == 202
        deadline = time.monotonic() + 30
        while not ((state := await load_poll_state(hub.started().store, "payments")) and state.last_success_at):
            assert time.monotonic() < deadline, "the payouts poller did not finish a run"
            await asyncio.sleep(0.02)
        # The same payout as a webhook, after the poll stored it: a repeat of one fact, not a second settlement.
        body = json.dumps(payout(PAID)).encode()
        response = await client.post("/hooks/payments", content=body, headers={
            "content-type": "application/json", "x-shopify-topic": "payouts/paid", "x-shopify-event-id": "e-p",
            "x-shopify-hmac-sha256": shopify.sign(SECRET, body)})
        assert response.status_code == 200
        await hub.normalizer.run_until_idle()
        await hub.evaluator.tick(hub.evaluator.now())
        settled = (await gql(client, TRACE, ref=f"payments:payout:{PAID}"))["data"]["transaction"]
        placed = (await gql(client, TRACE, ref="shop:order:217130470"))["data"]["transaction"]
    assert settled["kind"] == "settlement"
    assert sorted((e["amount"] or {}).get("kind", "-") + " " + (e["amount"] or {}).get("value", "") for e in
                  settled["events"]) == ["- ", "fee 1.21", "gross 43.11", "line 19.50", "line 20.20",
                                         "settlement 41.90"]
    assert all(e["type"] == "settlement.paid" for e in settled["events"])
    # gross less fees is what was paid out; but the payout pays order 625362839, which the hub never saw, and
    # order 217130470 whose payment the hub never saw (only its orders/create): issue 17's payout reconciliation
    assert sorted(e["type"] for e in settled["exceptions"]) == ["amount_mismatch", "settlement_unmatched"]
    assert {"id": settled["id"], "kind": "settlement"} in placed["related"]
