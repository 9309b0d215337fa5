"""The exception types the lifecycle tests do not reach, from real event sequences over HTTP (/ingest).

On SQLite and PostgreSQL, with a fake clock: a configured flow (system kind, alternative and stopping
events, skipped steps); sync and shipment failures that clear and recur; an out-of-order step; a quantity
short along an order's chain; amounts per currency with a tolerance and settlement fees; a refused merge;
a dead letter resolved by a replay once the configuration is fixed; and an overdue step found by an
evaluator that starts after the event arrived (the due index survives a restart).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.hub.test_due_index import StatementLog
from tests.hub.test_exception_rules import T0, FakeClock, at, ingest, listed
from tests.support import ERP_SECRET, OPERATOR_KEY, WMS_SECRET, cloudevent, dumps, gql, running_app

ORDER_FLOW = {"flows": {"order": {"steps": [
    {"name": "placed", "types": ["order.placed"]},
    {"name": "posted", "types": ["erp.posted"], "sla_minutes": 20, "system_kind": "erp",
     "stopped_by": ["order.cancelled"]},
    {"name": "shipped", "types": ["shipment.shipped", "order.picked_up"], "sla_minutes": 2880,
     "stopped_by": ["order.cancelled"]},
    {"name": "delivered", "types": ["shipment.delivered"], "sla_minutes": 10080, "optional": True,
     "stopped_by": ["order.cancelled"]},
]}}}
STEPS = ('query($ref: String!) { transaction(ref: $ref) { openExceptions '
         'steps { name status doneBy lagSeconds dueAt } } }')


async def steps_of(client: Any, ref: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = await gql(client, STEPS, ref=ref)
    assert "errors" not in result, result
    tx = result["data"]["transaction"]
    return tx["openExceptions"], {s["name"]: s for s in tx["steps"]}


@pytest.mark.asyncio
async def test_a_configured_flow_needs_its_system_kind_takes_alternatives_and_skips_on_cancel(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock, extra=ORDER_FLOW) as (client, hub):
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "A-1")], time_=at(0)),
                     # the storefront says "posted": not the ERP, so the step stays pending
                     cloudevent("shop", "erp.posted", [("shop:order", "A-1")], time_=at(5)),
                     cloudevent("shop", "order.placed", [("shop:order", "C-1")], time_=at(0)),
                     cloudevent("shop", "order.cancelled", [("shop:order", "C-1")], time_=at(3)))
        _, steps = await steps_of(client, "A-1")
        assert steps["posted"] == {"name": "posted", "status": "pending", "doneBy": None, "lagSeconds": None,
                                   "dueAt": "2026-11-02T09:20:00Z"}
        assert steps["shipped"]["status"] == "waiting" and steps["delivered"]["status"] == "waiting"

        clock.now = T0 + timedelta(minutes=21)
        assert (await hub.evaluator.tick(clock.naive())).evaluated == 1  # A-1 only: the cancelled one is not due
        [late] = await listed(client, status=["open"])
        assert (late["rule"], late["evidence"]["step"], late["evidence"]["due_at"]) == (
            "flow.overdue", "posted", "2026-11-02T09:20:00")
        _, cancelled = await steps_of(client, "C-1")
        assert [s["status"] for s in cancelled.values()] == ["done", "skipped", "skipped", "skipped"]

        await ingest(client, hub, cloudevent("erp", "erp.posted", [("shop:order", "A-1")], time_=at(30)),
                     cloudevent("shop", "order.picked_up", [("shop:order", "A-1")], time_=at(90)))
        open_count, steps = await steps_of(client, "A-1")
        assert open_count == 0
        assert (steps["posted"]["status"], steps["posted"]["doneBy"], steps["posted"]["lagSeconds"]) == (
            "done", "erp", 1800.0)
        assert (steps["shipped"]["status"], steps["shipped"]["lagSeconds"]) == ("done", 3600.0)
        assert steps["delivered"]["status"] == "pending"  # optional: due, but never overdue
        clock.now = T0 + timedelta(days=30)
        await hub.evaluator.tick(clock.naive())
        assert [x["status"] for x in await listed(client)] == ["resolved"]
        assert (await steps_of(client, "A-1"))[1]["delivered"]["status"] == "pending"


@pytest.mark.asyncio
@pytest.mark.parametrize(("failure", "recovery", "source"), [
    ("sync.failed", "sync.succeeded", "erp"),
    ("shipment.exception", "shipment.delivered", "wms"),
])
async def test_a_reported_failure_opens_once_clears_on_recovery_and_reopens(store_url: str, failure: str,
                                                                           recovery: str, source: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        ref = [("shop:order", "F-1")]
        await ingest(client, hub, cloudevent("shop", "order.placed", ref, time_=at(0)),
                     cloudevent(source, failure, ref, time_=at(1), status="failed", error="HTTP 503 from upstream"))
        await ingest(client, hub, cloudevent(source, failure, ref, time_=at(2), status="failed", error="again"))
        [opened] = await listed(client, type=["failed"])  # two failures from one system: one exception
        assert (opened["status"], opened["system"], opened["rule"]) == ("open", source, "event.failed")
        assert opened["evidence"]["type"] == failure and opened["evidence"]["actual"] == "failed"
        assert recovery in opened["evidence"]["expected"]

        await ingest(client, hub, cloudevent(source, recovery, ref, time_=at(10)))
        [cleared] = await listed(client, type=["failed"])
        assert (cleared["id"], cleared["status"], cleared["resolvedBy"]) == (opened["id"], "resolved", "system")

        await ingest(client, hub, cloudevent(source, failure, ref, time_=at(20), status="failed", error="503"))
        [again] = await listed(client, type=["failed"])
        assert (again["id"], again["status"]) == (opened["id"], "open")
        assert again["evidence"]["error"] == "503"
        assert [h["action"] for h in again["history"]] == ["opened", "resolved", "reopened"]


@pytest.mark.asyncio
async def test_an_out_of_order_step_is_flagged_once_with_the_event(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        ref = [("shop:order", "O-1")]
        # the WMS clock says it shipped five minutes before the order was placed
        await ingest(client, hub, cloudevent("shop", "order.placed", ref, time_=at(10)),
                     cloudevent("wms", "shipment.shipped", ref, id="ship-early", time_=at(5)))
        await ingest(client, hub, cloudevent("erp", "erp.posted", ref, time_=at(12)))
        [flagged] = await listed(client, type=["out_of_order"])
        assert (flagged["rule"], flagged["status"], flagged["system"]) == ("event.out_of_order", "open", "wms")
        assert flagged["evidence"]["types"] == ["shipment.shipped"]
        tx = await gql(client, '{ transaction(ref: "O-1") { events { id type outOfOrder } } }')
        [early] = [e for e in tx["data"]["transaction"]["events"] if e["outOfOrder"]]
        assert early["type"] == "shipment.shipped" and flagged["evidence"]["events"] == [early["id"]]
        assert [x["id"] for x in await listed(client, severity=["info"])] == [flagged["id"]]
        assert await listed(client, severity=["error", "critical"]) == []
        assert [x["id"] for x in await listed(client, transactionId=flagged["transactionId"])] == [flagged["id"]]


@pytest.mark.asyncio
async def test_an_order_delivered_short_opens_and_resolves_when_the_rest_arrives(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        ref = [("shop:order", "Q-1")]
        line = {"sku": "SKU-3", "location": "WH-1"}
        await ingest(client, hub,
                     cloudevent("shop", "order.placed", ref, time_=at(0), lines=[dict(line, qty=3)]),
                     cloudevent("wms", "shipment.shipped", ref, time_=at(60), lines=[dict(line, qty=3)]),
                     cloudevent("wms", "shipment.delivered", ref, time_=at(600), lines=[dict(line, qty=2)]))
        [short] = await listed(client, type=["quantity_mismatch"])
        assert short["subject"].endswith(":SKU-3") and short["transactionKind"] == "order"
        assert (short["evidence"]["expected"], short["evidence"]["actual"]) == ({"shipped": "3"}, {"delivered": "2"})
        assert short["evidence"]["stages"] == {"ordered": "3", "shipped": "3", "delivered": "2"}
        assert len(short["evidence"]["events"]) == 3

        await ingest(client, hub, cloudevent("wms", "shipment.delivered", ref, time_=at(700),
                                             lines=[dict(line, qty=1)]))
        [resolved] = await listed(client, type=["quantity_mismatch"])
        assert (resolved["id"], resolved["status"]) == (short["id"], "resolved")

        await ingest(client, hub, cloudevent("wms", "shipment.delivered", ref, time_=at(800),
                                             lines=[dict(line, qty=1)]))  # now one more delivered than shipped
        [again] = await listed(client, type=["quantity_mismatch"])
        assert (again["id"], again["status"]) == (short["id"], "open")
        assert again["evidence"]["actual"] == {"delivered": "4"}
        assert [h["action"] for h in again["history"]] == ["opened", "resolved", "reopened"]


@pytest.mark.asyncio
async def test_amounts_per_currency_with_tolerance_and_settlement_fees(store_url: str) -> None:
    extra = {"exceptions": {"amount_tolerance": "0.05"}}
    async with running_app(store_url, clock=FakeClock(), extra=extra) as (client, hub):
        def amount(value: str, currency: str, kind: str) -> dict[str, str]:
            return {"value": value, "currency": currency, "kind": kind}

        await ingest(client, hub,  # four cents short: within the tolerance
                     cloudevent("shop", "order.placed", [("shop:order", "M-1")], time_=at(0),
                                amount=amount("100.00", "EUR", "total")),
                     cloudevent("shop", "payment.captured", [("shop:order", "M-1")], time_=at(1),
                                amount=amount("99.96", "EUR", "capture")))
        assert await listed(client, type=["amount_mismatch"]) == []
        await ingest(client, hub, cloudevent("shop", "refund.issued", [("shop:order", "M-1")], time_=at(2),
                                             amount=amount("120.00", "EUR", "refund")))
        [over] = await listed(client, type=["amount_mismatch"])  # refunded more than was ever captured
        assert over["evidence"] == {"currency": "EUR", "expected": {"captured": "99.96"},
                                    "actual": {"refunded": "120.00"}, "difference": "20.04"}

        await ingest(client, hub,  # a refund where no connected system reported the capture: nothing to compare
                     cloudevent("shop", "order.placed", [("shop:order", "M-2")], time_=at(0),
                                amount=amount("30.00", "EUR", "total")),
                     cloudevent("shop", "refund.issued", [("shop:order", "M-2")], time_=at(3),
                                amount=amount("30.00", "EUR", "refund")))
        assert [x["id"] for x in await listed(client, type=["amount_mismatch"])] == [over["id"]]

        payout = [("shop:payout", "po_1")]
        settled = [cloudevent("shop", "settlement.paid", payout, time_=at(5), amount=amount(v, c, k))
                   for v, c, k in (("100.00", "EUR", "gross"), ("2.90", "EUR", "fee"), ("97.10", "EUR", "net"),
                                   ("50.00", "USD", "gross"), ("1.75", "USD", "fee"), ("47.00", "USD", "net"))]
        await ingest(client, hub, *settled)
        [usd] = await listed(client, type=["amount_mismatch"], transactionKind="settlement")  # EUR nets out
        assert usd["subject"].endswith(":USD:settled") and usd["transactionKind"] == "settlement"
        assert usd["evidence"] == {"currency": "USD", "expected": {"gross less fees": "48.25"},
                                   "actual": {"settled": "47.00"}, "difference": "-1.25"}

        await ingest(client, hub, cloudevent("shop", "settlement.paid", payout, time_=at(6),
                                             amount=amount("1.25", "USD", "net")))
        [resolved] = await listed(client, type=["amount_mismatch"], transactionKind="settlement")
        assert (resolved["id"], resolved["status"]) == (usd["id"], "resolved")
        await ingest(client, hub, cloudevent("shop", "settlement.paid", payout, time_=at(7),
                                             amount=amount("0.40", "USD", "fee")))  # a late fee: short again
        [again] = await listed(client, type=["amount_mismatch"], transactionKind="settlement")
        assert (again["id"], again["status"], again["evidence"]["difference"]) == (usd["id"], "open", "0.40")


@pytest.mark.asyncio
async def test_a_refused_merge_opens_a_correlation_exception_and_keeps_orders_apart(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock(), placeholder_threshold=2) as (client, hub):
        await ingest(client, hub, *[
            cloudevent("erp", "erp.posted", [("erp:so", f"SO-{n}"), ("shop:order", "PENDING")], time_=at(n))
            for n in range(3)])
        [refused] = await listed(client, type=["correlation"])
        assert (refused["rule"], refused["subject"], refused["status"]) == (
            "correlation.placeholder", "shop:order:PENDING", "open")
        assert refused["evidence"]["value"] == "PENDING" and refused["evidence"]["threshold"] == 2
        assert refused["evidence"]["spread"] == {"erp:so": 3}
        ids = set()
        for n in range(3):
            result = await gql(client, 'query($ref: String!) { transaction(ref: $ref) { id } }', ref=f"SO-{n}")
            ids.add(result["data"]["transaction"]["id"])
        assert len(ids) == 3  # the placeholder joined them; the refusal split them again

        await ingest(client, hub, cloudevent("erp", "erp.posted", [("erp:so", "SO-9"), ("shop:order", "PENDING")],
                                             time_=at(9)))
        assert len(await listed(client, type=["correlation"])) == 1  # never two for one placeholder


@pytest.mark.asyncio
async def test_the_due_index_outlives_a_restart(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock) as (client, hub):
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "R-1")], time_=at(0)))
    clock.now = T0 + timedelta(minutes=45)
    async with running_app(store_url, clock=clock) as (client, hub):  # a new process on the same store
        await hub.evaluator.tick(clock.naive())  # (the evaluator's first tick at start-up may have run it already)
        [late] = await listed(client, status=["open"])
        assert (late["rule"], late["evidence"]["step"]) == ("flow.overdue", "accepted")


@pytest.mark.asyncio
async def test_a_dead_letter_opens_with_its_reason_and_resolves_when_a_replay_normalizes_it(store_url: str) -> None:
    body = dumps(cloudevent("legacy", "shipment.shipped", [("legacy:shipment", "SH-1")], id="x-1"))
    async with running_app(store_url, clock=FakeClock()) as (client, hub):  # "legacy" is not configured yet
        receipt = await hub.started().inbox.submit(source="legacy", dedup_key="d-1", headers={}, body=body,
                                                   content_type="application/json")
        await hub.normalizer.run_until_idle()
        [dead] = await listed(client, type=["dead_letter"])
        assert (dead["rule"], dead["subject"], dead["status"]) == (
            "delivery.dead_letter", receipt.delivery_id, "open")
        assert "no longer configured" in dead["evidence"]["error"]

    legacy = {"name": "legacy", "kind": "wms", "adapter": "cloudevents", "secret": WMS_SECRET}
    fixed = {"sources": [{"name": "erp", "kind": "erp", "adapter": "cloudevents", "secret": ERP_SECRET}, legacy]}
    async with running_app(store_url, clock=FakeClock(), extra=fixed) as (client, hub):
        replayed = await gql(client, 'mutation($id: ID!) { replayDelivery(id: $id) { count } }', key=OPERATOR_KEY,
                             id=receipt.delivery_id)
        assert replayed["data"]["replayDelivery"]["count"] == 1
        await hub.normalizer.run_until_idle()
        [resolved] = await listed(client, type=["dead_letter"])
        assert (resolved["id"], resolved["status"], resolved["resolvedBy"]) == (dead["id"], "resolved", "system")
        assert resolved["history"][-1]["note"] == "replayed and normalized"


@pytest.mark.asyncio
async def test_bulk_assign_and_resolve_record_the_key_name_and_bad_input_is_a_clear_error(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        await ingest(client, hub, *[cloudevent("erp", "sync.failed", [("erp:so", f"SO-{n}")], time_=at(n),
                                               error="timeout") for n in range(3)])
        ids = [x["id"] for x in await listed(client)]
        assigned = await gql(client, 'mutation($ids: [ID!]) { assignException(ids: $ids, assignee: "store-ops") '
                                     '{ count } }', key=OPERATOR_KEY, ids=[*ids, "exc_unknown"])
        assert assigned["data"]["assignException"]["count"] == 3  # an unknown id changes nothing
        done = await gql(client, 'mutation($ids: [ID!]) { resolveException(ids: $ids, note: "ERP back") '
                                 '{ count exceptions { status resolvedBy history { actor action note } } } }',
                         key=OPERATOR_KEY, ids=ids)
        assert done["data"]["resolveException"]["count"] == 3
        for item in done["data"]["resolveException"]["exceptions"]:
            assert (item["status"], item["resolvedBy"]) == ("resolved", "ops")
            assert [(h["actor"], h["action"], h["note"]) for h in item["history"][1:]] == [
                ("ops", "assigned", "to store-ops"), ("ops", "resolved", "ERP back")]
        again = await gql(client, 'mutation($ids: [ID!]) { resolveException(ids: $ids) { count } }',
                          key=OPERATOR_KEY, ids=ids)
        assert again["data"]["resolveException"]["count"] == 0  # already resolved: nothing to do
        missing = await gql(client, 'mutation { acknowledgeException { count } }', key=OPERATOR_KEY)
        assert missing["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.asyncio
async def test_opening_thirty_late_orders_costs_a_tick_no_more_statements_than_ten(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock) as (client, hub):
        async def late_tick(count: int, placed: int, open_after: int) -> int:
            await ingest(client, hub, *[cloudevent("shop", "order.placed", [("shop:order", f"L-{placed}-{n}")],
                                                   time_=at(placed)) for n in range(count)])
            clock.now = T0 + timedelta(minutes=placed + 31)
            log = StatementLog(hub.store)
            try:
                result = await hub.evaluator.tick(clock.naive())
            finally:
                log.close()
            assert (result.evaluated, len(await listed(client, status=["open"]))) == (count, open_after)
            assert any("FROM tx_due" in statement for statement, _ in log.statements)  # the tick itself is counted
            return len(log.statements)

        assert await late_tick(10, 0, 10) == await late_tick(30, 31, 40)  # work, not time: nothing per transaction
