"""A flow's clocks start only once one of its steps happened (found by the demo: stock snapshots went late)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.exceptions.flows import DEFAULT_FLOWS, Flow, FlowEvent, Step, next_due, step_states

T0 = datetime(2026, 11, 2, 9, 0)


def event(type_: str, minutes: float, ident: str) -> FlowEvent:
    return FlowEvent(id=ident, type=type_, source="erp", occurred_at=T0 + timedelta(minutes=minutes),
                     system_kind="erp")


def test_a_transaction_with_none_of_the_flows_steps_runs_no_clock() -> None:
    states = step_states(DEFAULT_FLOWS["order"], [event("inventory.snapshot", 0, "e1")], T0 + timedelta(days=30))
    assert {s.status for s in states} == {"waiting"}


def test_a_flow_missing_its_first_step_still_runs_from_its_first_event() -> None:
    # the placed event never came, but the payment did: the shipment's clock runs from the payment's step
    states = step_states(DEFAULT_FLOWS["order"], [event("payment.captured", 0, "e1")], T0 + timedelta(days=30))
    by_name = {s.name: s.status for s in states}
    assert by_name["placed"] == "pending"
    assert by_name["accepted"] == "overdue"


def test_a_step_without_an_sla_is_pending_without_a_deadline_and_later_steps_wait_for_it() -> None:
    flow = Flow("receipt", (Step("received", ("receipt.received",)), Step("counted", ("inventory.adjusted",)),
                            Step("posted", ("erp.posted",), timedelta(hours=2))))
    states = step_states(flow, [event("receipt.received", 0, "e1")], T0 + timedelta(days=30))
    assert [(s.name, s.status, s.due_at) for s in states] == [
        ("received", "done", None), ("counted", "pending", None), ("posted", "waiting", None)]
    assert next_due(states) is None  # nothing for the due index: it can never be late
    states = step_states(flow, [event("receipt.received", 0, "e1"), event("inventory.adjusted", 60, "e2")],
                         T0 + timedelta(days=30))
    assert [(s.name, s.status) for s in states] == [("received", "done"), ("counted", "done"), ("posted", "overdue")]


def test_a_store_sale_rung_up_at_a_pos_is_never_expected_to_ship() -> None:
    sale = [FlowEvent("e1", "order.placed", "square", T0, "pos"),
            FlowEvent("e2", "payment.captured", "square", T0 + timedelta(minutes=1), "pos"),
            FlowEvent("e3", "erp.posted", "erp", T0 + timedelta(minutes=9), "erp")]
    states = step_states(DEFAULT_FLOWS["order"], sale, T0 + timedelta(days=30))
    assert {s.name: s.status for s in states} == {"placed": "done", "accepted": "done", "paid": "done",
                                                 "allocated": "skipped", "shipped": "skipped", "delivered": "skipped"}
    assert next_due(states) is None
    web = [FlowEvent("e1", "order.placed", "shop", T0, "commerce"), *sale[1:]]  # the same order from the web shop
    assert {s.name: s.status for s in step_states(DEFAULT_FLOWS["order"], web, T0 + timedelta(days=30))}[
        "shipped"] == "overdue"
