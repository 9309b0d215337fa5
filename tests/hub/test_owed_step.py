"""Who owes the next step: a late exception names the source and kind that owe it and since when, its source
columns are that system (so ``exceptions(filter: {source: "erp"})`` finds what the ERP lost), and the trace's
steps say the same. Over /ingest on SQLite and PostgreSQL with a fake clock; ``owner`` on its own below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.exceptions.flows import DEFAULT_FLOWS, FlowEvent, Step, owner, step_states
from tests.hub.test_exception_rules import FakeClock, at, ingest, listed
from tests.support import cloudevent, gql, running_app

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STEPS = '{ transaction(ref: "1001") { steps { name status since owedBy owedKind waitingOn } } }'


@pytest.mark.asyncio
async def test_a_late_step_names_the_system_that_owes_it(store_url: str) -> None:
    clock = FakeClock()
    async with running_app(store_url, clock=clock) as (client, hub):
        await ingest(client, hub, cloudevent("shop", "order.placed", [("shop:order", "1001")], time_=at(0)))
        clock.now = T0 + timedelta(minutes=47)
        await hub.evaluator.tick(clock.naive())
        [late] = await listed(client, status=["open"])
        assert late["message"] == ("waiting on ERP (erp) since 2026-11-02 09:00 UTC: step 'accepted' was due at "
                                   "2026-11-02 09:30 UTC")
        assert (late["system"], late["systemKind"]) == ("erp", "erp")
        assert late["evidence"]["waiting_on"] == {"source": "erp", "kind": "erp"}
        assert late["evidence"]["since"] == "2026-11-02T09:00:00"
        assert [x["id"] for x in await listed(client, source="erp")] == [late["id"]]  # what the ERP lost
        assert await listed(client, source="shop") == []
        counts = await gql(client, "{ exceptionCounts(groupBy: [SOURCE]) { source count } }")
        assert counts["data"]["exceptionCounts"] == [{"source": "erp", "count": 1}]

        steps = (await gql(client, STEPS))["data"]["transaction"]["steps"]
        assert steps[1] == {"name": "accepted", "status": "overdue", "since": "2026-11-02T09:00:00Z",
                            "owedBy": "erp", "owedKind": "erp", "waitingOn": "ERP (erp)"}
        assert steps[0]["owedBy"] is None and steps[2]["status"] == "waiting" and steps[2]["owedBy"] is None

        # The ERP posts it: the late exception resolves; the next step (paid) is owed by a payment system, which
        # this hub has none of: still due, owed by nobody it knows.
        await ingest(client, hub, cloudevent("erp", "erp.posted", [("shop:order", "1001"), ("erp:so", "SO-1")],
                                             time_=at(40)))
        assert await listed(client, status=["open"]) == []
        steps = (await gql(client, STEPS))["data"]["transaction"]["steps"]
        assert steps[2]["name"] == "paid" and steps[2]["status"] == "pending"
        assert (steps[2]["owedBy"], steps[2]["waitingOn"], steps[2]["since"]) == (None, None, "2026-11-02T09:40:00Z")


SOURCES = {"shop": "commerce", "wms-eu": "wms", "wms-us": "wms", "ups": "carrier", "stripe": "payment",
           "erp": "erp"}


def events(*pairs: tuple[str, str]) -> list[FlowEvent]:
    return [FlowEvent(f"e{i}", type_, source, datetime(2026, 11, 2, 9, i), SOURCES.get(source))
            for i, (type_, source) in enumerate(pairs)]


def test_the_owner_is_the_source_that_took_part_else_the_only_one_of_its_kind() -> None:
    shipped = Step("shipped", ("shipment.shipped", "shipment.delivered"))
    # two warehouses: the one that picked the order owes its shipment
    assert owner(shipped, events(("order.placed", "shop"), ("fulfillment.picked", "wms-us")), SOURCES) == \
        ("wms-us", "wms")
    # neither took part: the kind is known, the source is not guessed
    assert owner(shipped, events(("order.placed", "shop")), SOURCES) == (None, "wms")
    # the only carrier owes what only a carrier reports
    assert owner(Step("delivered", ("shipment.delivered",)), events(), SOURCES) == ("ups", "carrier")
    # a step's own system_kind wins over what its types suggest
    assert owner(Step("posted", ("shipment.shipped",), system_kind="erp"), events(), SOURCES) == ("erp", "erp")
    # a type nobody is known to report, or a kind no source has: owed by nobody
    assert owner(Step("picked_up", ("order.picked_up",)), events(), SOURCES) == (None, None)
    assert owner(Step("restocked", ("return.restocked",)), events(), {"shop": "commerce"}) == (None, None)


def test_step_states_name_the_owner_only_of_due_steps() -> None:
    states = step_states(DEFAULT_FLOWS["order"], events(("order.placed", "shop"), ("erp.posted", "erp")),
                         datetime(2026, 11, 3, 12, 0), SOURCES)
    by_name = {s.name: s for s in states}
    assert by_name["accepted"].status == "done" and by_name["accepted"].owed_by is None
    paid = by_name["paid"]
    assert (paid.status, paid.owed_by, paid.owed_kind, paid.waiting_on) == ("overdue", "stripe", "payment",
                                                                            "payments (stripe)")
    assert paid.since == datetime(2026, 11, 2, 9, 1)
    assert by_name["shipped"].status == "waiting" and by_name["shipped"].owed_by is None


@pytest.mark.asyncio
async def test_a_refreshed_exception_moves_to_the_system_that_now_owes_it(store_url: str) -> None:
    """A late exception opened before its owner was known (or by an older hub) takes the owner when raised again,
    and its counters move with it."""
    from hub.exceptions.lifecycle import Finding, raise_exception

    async with running_app(store_url) as (client, hub):
        found = {"rule": "flow.overdue", "type": "late", "severity": "warning", "subject": "tx_1:accepted",
                 "tx_id": "tx_1", "tx_kind": "order"}
        async with hub.started().store.write() as conn:
            await raise_exception(conn, Finding(message="was due", evidence={"step": "accepted"}, **found))
        async with hub.started().store.write() as conn:
            await raise_exception(conn, Finding(message="waiting on ERP (erp)", system="erp", system_kind="erp",
                                                evidence={"step": "accepted", "waiting_on": "erp"}, **found))
        [late] = await listed(client, status=["open"])
        assert (late["system"], late["systemKind"], late["message"]) == ("erp", "erp", "waiting on ERP (erp)")
        counts = await gql(client, "{ exceptionCounts(groupBy: [SOURCE]) { source count } }")
        assert counts["data"]["exceptionCounts"] == [{"source": "erp", "count": 1}]
