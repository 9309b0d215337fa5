"""Payouts against the orders they pay, and money that never arrives (issue 17 items 1–3), over /ingest on SQLite and
PostgreSQL with a fake clock: each settlement exception opens with its evidence and resolves itself when the missing
side arrives."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from hub.errors import ConfigError
from tests.hub.test_exception_rules import T0, FakeClock, at, ingest, listed
from tests.support import cloudevent, config_for, running_app

DAY = 24 * 60
SETTLEMENT = {"settlement": {"missing_after_days": {"shop": 3}}}


def money(value: str, kind: str, currency: str = "EUR") -> dict:
    return {"amount": {"value": value, "currency": currency, "kind": kind}}


def order(number: str, total: str, minutes: float = 0) -> dict:
    return cloudevent("shop", "order.placed", [("shop:order", number)], time_=at(minutes), **money(total, "total"))


def capture(number: str, value: str, minutes: float = 1, kind: str = "capture") -> dict:
    return cloudevent("shop", "payment.captured", [("shop:order", number)], time_=at(minutes), **money(value, kind))


def payout(payout_id: str, minutes: float, orders: dict[str, str | None], gross: str, fee: str) -> list[dict]:
    """A payout as the adapters state it: paid, gross and fee, and one line per order it paid."""
    related = [("shop:order", number, "related") for number in orders]
    identity = [("shop:payout", payout_id)]
    net = f"{float(gross) - float(fee):.2f}"
    events = [cloudevent("shop", "settlement.paid", identity + related, time_=at(minutes), **money(net, "settlement")),
              cloudevent("shop", "settlement.paid", identity, time_=at(minutes), **money(gross, "gross")),
              cloudevent("shop", "settlement.paid", identity, time_=at(minutes), **money(fee, "fee"))]
    events += [cloudevent("shop", "settlement.paid", [*identity, ("shop:order", number, "related")],
                          time_=at(minutes), **money(value, "line")) for number, value in orders.items() if value]
    return events


@pytest.mark.asyncio
async def test_a_capture_no_settlement_names_opens_settlement_missing_after_the_delay_and_resolves(
        store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=SETTLEMENT) as (client, hub):
        await ingest(client, hub, order("1001", "100.00"), capture("1001", "100.00"))
        clock.now = T0 + timedelta(days=3)
        await hub.evaluator.tick(clock.naive())
        assert await listed(client, type=["settlement_missing"]) == []
        clock.now = T0 + timedelta(days=3, minutes=2)
        await hub.evaluator.tick(clock.naive())
        [late] = await listed(client, type=["settlement_missing"])
        assert late["status"] == "open" and late["system"] == "shop" and late["rule"] == "settlement.missing"
        assert late["evidence"]["amount"] == "100.00" and late["evidence"]["due_at"] == "2026-11-05T09:01:00"
        assert late["message"].endswith("no settlement names this order 3 days later")

        await ingest(client, hub, *payout("po_1", 3 * DAY + 10, {"1001": "100.00"}, gross="100.00", fee="2.90"))
        [resolved] = await listed(client, type=["settlement_missing"])
        assert resolved["status"] == "resolved" and resolved["resolvedBy"] == "system"
        assert await listed(client, type=["amount_mismatch"]) == [] and await listed(client, type=[
            "settlement_unmatched"]) == []


@pytest.mark.asyncio
async def test_a_payout_whose_orders_do_not_add_up_is_an_amount_mismatch_naming_them(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock(), extra=SETTLEMENT) as (client, hub):
        await ingest(client, hub, order("1", "100.00"), capture("1", "100.00"), order("2", "50.00"),
                     order("3", "30.00"), capture("3", "30.00"),
                     cloudevent("shop", "refund.issued", [("shop:order", "3")], time_=at(5),
                                **money("30.00", "refund")))
        await ingest(client, hub, *payout("po_2", DAY, {"1": "100.00", "2": "50.00", "3": "30.00"},
                                          gross="180.00", fee="5.00"))
        [mismatch] = await listed(client, type=["amount_mismatch"])
        assert mismatch["rule"] == "settlement.amount_mismatch" and mismatch["transactionKind"] == "settlement"
        evidence = mismatch["evidence"]
        assert evidence["expected"] == {"orders' captures − refunds": "100.00"}
        assert evidence["actual"] == {"orders' lines": "180.00"} and evidence["difference"] == "80.00"
        assert (evidence["gross"], evidence["fees"], evidence["net"]) == ("180.00", "5.00", "175.00")
        assert [(o["refs"], o["took"], o["settled"]) for o in evidence["orders"]] == [
            (["shop:order:2"], None, "50.00"), (["shop:order:3"], "0.00", "30.00")]

        # order 2's capture arrives: it adds up now; order 3 was refunded after the payout and still does not
        await ingest(client, hub, capture("2", "50.00", minutes=DAY + 5))
        [mismatch] = await listed(client, type=["amount_mismatch"])
        assert [o["refs"] for o in mismatch["evidence"]["orders"]] == [["shop:order:3"]]
        assert mismatch["evidence"]["difference"] == "30.00"
        # the payout's refund line arrives in a later restatement: everything adds up and it resolves itself
        await ingest(client, hub, cloudevent("shop", "settlement.paid", [("shop:payout", "po_2")], time_=at(DAY),
                                             **money("-30.00", "gross")),
                     cloudevent("shop", "settlement.paid", [("shop:payout", "po_2"), ("shop:order", "3", "related")],
                                time_=at(DAY), **money("-30.00", "line")),
                     cloudevent("shop", "settlement.paid", [("shop:payout", "po_2")], time_=at(DAY),
                                **money("-30.00", "settlement")))
        [resolved] = await listed(client, type=["amount_mismatch"])
        assert resolved["status"] == "resolved" and resolved["id"] == mismatch["id"]


@pytest.mark.asyncio
async def test_a_settlement_line_naming_an_unseen_order_is_unmatched_until_the_order_arrives(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        await ingest(client, hub, order("7", "20.00"), capture("7", "20.00"))
        await ingest(client, hub, *payout("po_3", DAY, {"7": "20.00", "8": None}, gross="20.00", fee="0.50"))
        [unmatched] = await listed(client, type=["settlement_unmatched"])
        assert unmatched["status"] == "open" and unmatched["evidence"]["lines"] == ["shop:order:8"]
        assert await listed(client, type=["amount_mismatch"]) == []  # what was seen adds up

        await ingest(client, hub, order("8", "0.00", minutes=30))
        [resolved] = await listed(client, type=["settlement_unmatched"])
        assert resolved["status"] == "resolved" and resolved["resolvedBy"] == "system"


@pytest.mark.asyncio
async def test_a_gift_card_tender_pays_the_order_and_is_never_waited_for(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=SETTLEMENT) as (client, hub):
        await ingest(client, hub, order("40", "100.00"), capture("40", "60.00"),
                     capture("40", "40.00", kind="gift_card"),
                     order("41", "25.00"), capture("41", "25.00", kind="gift_card"))
        clock.now = T0 + timedelta(days=4)
        await hub.evaluator.tick(clock.naive())
        assert await listed(client, type=["amount_mismatch"]) == []  # split tenders: card 60 + gift card 40
        [missing] = await listed(client, type=["settlement_missing"])  # only the card money is waited for
        assert missing["evidence"]["amount"] == "60.00"
        await ingest(client, hub, capture("42", "10.00", kind="gift_card"), order("42", "25.00"))
        [short] = await listed(client, type=["amount_mismatch"])  # a tender short of the total still is one
        assert short["evidence"]["difference"] == "-15.00"


@pytest.mark.parametrize(("table", "message"), [
    ({"missing_after_days": {"nope": 3}}, "settlement.missing_after_days.nope: no source of that name"),
    ({"missing_after_days": {"shop": 0}}, "must be a positive number of days"),
    ({"missing_after_days": {"shop": True}}, "must be a positive number of days"),
    ({"missing_after_days": 7}, "must be a table"),
    ({"tolerance": "lots"}, "settlement.tolerance = 'lots'"),
    ({"tolerance": "-1"}, "must be zero or more"),
    ({"grace": 1}, "settlement.grace: unknown key"),
])
def test_bad_settlement_config_names_the_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_for("sqlite+aiosqlite:///unused.db", extra={"settlement": table})


def test_settlement_config_reads_days_per_source_and_the_tolerance() -> None:
    config = config_for("sqlite+aiosqlite:///unused.db",
                        extra={"settlement": {"missing_after_days": {"shop": 2.5}, "tolerance": "0.05"}})
    assert config.settlement.missing_after == {"shop": timedelta(days=2.5)}
    assert config.settlement.tolerance == Decimal("0.05")
