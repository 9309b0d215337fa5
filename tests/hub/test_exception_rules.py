"""Exceptions from real event sequences over HTTP (/ingest), on SQLite and PostgreSQL, with a fake clock.

Each exception type opens with its evidence, never duplicates, resolves itself when the evidence
clears, and reopens when it recurs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import OPERATOR_KEY, VIEWER_KEY, cloudevent, dumps, gql, running_app

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

EXCEPTIONS = """query($filter: ExceptionFilter, $order: ExceptionOrder) {
  exceptions(filter: $filter, orderBy: $order, first: 50) { totalCount nodes {
    id type rule subject severity status transactionId transactionKind system systemKind message evidence resolvedBy
    queue
    history { actor action note } } } }"""


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now.timestamp()

    def naive(self) -> datetime:
        return self.now.replace(tzinfo=None)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def ingest(client, hub, *events: dict) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/ingest", content=dumps(list(events)), headers={
        "authorization": f"Bearer {OPERATOR_KEY}", "content-type": "application/cloudevents-batch+json"})
    assert response.status_code in (200, 202), response.text  # 200: the same bytes again (a duplicate)
    await hub.normalizer.run_until_idle()
    await hub.evaluator.tick()  # a repeated delivery is evaluated on the next tick, not by the normalizer


async def listed(client, **filter_: object) -> list[dict]:  # type: ignore[no-untyped-def]
    result = await gql(client, EXCEPTIONS, filter=filter_ or None)
    assert "errors" not in result, result
    return result["data"]["exceptions"]["nodes"]


@pytest.mark.asyncio
async def test_overdue_step_opens_on_tick_and_resolves_when_the_posting_arrives(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock) as (client, hub):
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "1001")], time_=at(0)))
        steps = (await gql(client, '{ transaction(ref: "1001") { steps { name status dueAt } } }'))[
            "data"]["transaction"]["steps"]
        assert steps[1] == {"name": "accepted", "status": "pending", "dueAt": "2026-11-02T09:30:00Z"}
        clock.now = T0 + timedelta(minutes=29)
        assert (await hub.evaluator.tick(clock.naive())).due == 0
        clock.now = T0 + timedelta(minutes=31)
        assert (await hub.evaluator.tick(clock.naive())).evaluated == 1
        assert (await hub.evaluator.tick(clock.naive())).due == 0  # overdue now: nothing more falls due
        [late] = await listed(client, status=["open"])
        assert (late["type"], late["rule"], late["evidence"]["step"]) == ("late", "flow.overdue", "accepted")
        assert late["evidence"]["due_at"] == "2026-11-02T09:30:00"

        await ingest(client, hub, cloudevent("erp", "erp.posted", [("shop:order", "1001"), ("erp:so", "SO-1")],
                                             time_=at(40)))
        [resolved] = await listed(client)
        assert resolved["id"] == late["id"] and resolved["status"] == "resolved"
        assert resolved["resolvedBy"] == "system"
        assert [h["action"] for h in resolved["history"]] == ["opened", "resolved"]
        assert resolved["history"][1]["note"] == "the evidence cleared"
        tx = (await gql(client, '{ transaction(ref: "SO-1") { openExceptions steps { name status lagSeconds } } }'))
        assert tx["data"]["transaction"]["openExceptions"] == 0
        assert tx["data"]["transaction"]["steps"][1] == {"name": "accepted", "status": "done", "lagSeconds": 2400.0}


@pytest.mark.asyncio
async def test_failure_opens_clears_on_recovery_and_reopens_when_it_recurs(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock) as (client, hub):
        fail = {"status": "failed", "error": "card_declined"}
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "7")], time_=at(0)),
                     cloudevent("shop", "payment.failed", [("shop:order", "7")], time_=at(1), **fail))
        [failed] = await listed(client, type=["failed"])
        assert failed["status"] == "open" and failed["evidence"]["error"] == "card_declined"
        await ingest(client, hub, cloudevent("shop", "payment.captured", [("shop:order", "7")], time_=at(5)))
        assert (await listed(client, type=["failed"]))[0]["status"] == "resolved"
        await ingest(client, hub, cloudevent("shop", "payment.failed", [("shop:order", "7")], time_=at(9), **fail))
        [again] = await listed(client, type=["failed"])
        assert again["id"] == failed["id"] and again["status"] == "open"
        assert [h["action"] for h in again["history"]] == ["opened", "resolved", "reopened"]


@pytest.mark.asyncio
async def test_quantity_amount_and_duplicate_rules_carry_their_evidence(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        line = {"sku": "SKU-1", "location": "WH-1"}
        await ingest(client, hub,
                     cloudevent("erp", "transfer.created", [("erp:transfer", "TO-1")], time_=at(0),
                                lines=[dict(line, qty=10)]),
                     cloudevent("wms", "transfer.shipped", [("erp:transfer", "TO-1")], time_=at(10),
                                lines=[dict(line, qty=10)]),
                     cloudevent("erp", "transfer.received", [("erp:transfer", "TO-1")], time_=at(90),
                                lines=[dict(line, qty=8, location="ST-1")]))
        [short] = await listed(client, type=["quantity_mismatch"])
        assert short["transactionKind"] == "transfer" and short["evidence"]["shortfall"] == "2"
        assert short["evidence"]["expected"] == {"shipped": "10"} and short["evidence"]["actual"] == {"received": "8"}

        total = {"value": "49.90", "currency": "EUR", "kind": "total"}
        await ingest(client, hub,
                     cloudevent("shop", "order.placed", [("shop:order", "9")], time_=at(0), amount=total),
                     cloudevent("shop", "payment.captured", [("shop:order", "9")], time_=at(1),
                                amount={"value": "45.00", "currency": "EUR", "kind": "capture"}))
        [amount] = await listed(client, type=["amount_mismatch"])
        assert amount["evidence"]["difference"] == "-4.90" and amount["severity"] == "error"

        repeated = cloudevent("wms", "shipment.shipped", [("shop:order", "9")], id="dup-1", time_=at(3))
        for _ in range(5):
            await ingest(client, hub, repeated)
        [dup] = await listed(client, type=["duplicate"])
        assert dup["evidence"]["actual"] == 4 and dup["system"] == "wms"
        assert len(await listed(client, type=["duplicate"], status=["open"])) == 1  # never two open


@pytest.mark.asyncio
async def test_lifecycle_mutations_record_who_and_filters_count(store_url: str) -> None:
    async with running_app(store_url, clock=FakeClock()) as (client, hub):
        for n in range(3):
            await ingest(client, hub, cloudevent("erp", "sync.failed", [("erp:so", f"SO-{n}")], time_=at(n),
                                                 error="timeout"))
        ids = [e["id"] for e in await listed(client)]
        denied = await gql(client, 'mutation($id: ID!) { acknowledgeException(id: $id) { count } }', key=VIEWER_KEY,
                           id=ids[0])
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        ack = await gql(client, 'mutation($ids: [ID!]) { acknowledgeException(ids: $ids) { count } }',
                        key=OPERATOR_KEY, ids=ids[:2])
        assert ack["data"]["acknowledgeException"]["count"] == 2
        await gql(client, 'mutation($id: ID!) { assignException(id: $id, assignee: "ana") { count } }',
                  key=OPERATOR_KEY, id=ids[0])
        done = await gql(client, 'mutation($id: ID!) { resolveException(id: $id, note: "ERP fixed") { exceptions {'
                                 ' status resolvedBy history { actor action note } } } }', key=OPERATOR_KEY, id=ids[0])
        resolved = done["data"]["resolveException"]["exceptions"][0]
        assert resolved["status"] == "resolved" and resolved["resolvedBy"] == "ops"
        assert [(h["actor"], h["action"]) for h in resolved["history"]] == [
            ("system", "opened"), ("ops", "acknowledged"), ("ops", "assigned"), ("ops", "resolved")]
        assert resolved["history"][-1]["note"] == "ERP fixed"

        await ingest(client, hub, cloudevent("erp", "erp.posted", [("erp:so", "SO-0")], time_=at(30)))
        assert (await listed(client, status=["resolved"]))[0]["resolvedBy"] == "ops"  # a person's decision stands
        assert [e["status"] for e in await listed(client, status=["acknowledged"])] == ["acknowledged"]
        result = await gql(client, '{ exceptionCounts(groupBy: [TYPE, STATUS]) { type status count } }')
        assert sorted((r["status"], r["count"]) for r in result["data"]["exceptionCounts"]) == [
            ("acknowledged", 1), ("open", 1), ("resolved", 1)]
        by_severity = await gql(client, EXCEPTIONS, order="SEVERITY")
        assert by_severity["data"]["exceptions"]["totalCount"] == 3


@pytest.mark.asyncio
async def test_a_persons_action_is_dated_by_the_hub_clock(store_url: str) -> None:
    """Resolving (or acknowledging, assigning) stamps the hub's clock, as the evaluator's changes do: with a fixed
    clock the resolution and its history entry say its time, not the wall clock's."""
    clock = FakeClock()
    async with running_app(store_url, clock=clock) as (client, hub):
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "1001")], time_=at(0)))
        clock.now = T0 + timedelta(minutes=45)
        await hub.evaluator.tick(clock.naive())
        [late] = await listed(client, type=["late"])
        done = await gql(client, 'mutation($id: ID!) { resolveException(id: $id) { exceptions { resolvedAt '
                                 'history { action at } } } }', key=OPERATOR_KEY, id=late["id"])
        [resolved] = done["data"]["resolveException"]["exceptions"]
        assert resolved["resolvedAt"] == at(45)
        assert resolved["history"][-1] == {"action": "resolved", "at": at(45)}
