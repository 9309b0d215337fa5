"""The Stripe adapter on Stripe's own OpenAPI sample objects, wrapped in Stripe's event envelope.

The envelope (``id``, ``object: "event"``, ``api_version``, ``created``, ``data.object``, ``livemode``,
``pending_webhooks``, ``request``, ``type``) is the ``event`` resource of the same fixtures file, as
documented at https://docs.stripe.com/api/events/object.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from collectors import stripe
from collectors.base import ParseError, SignatureError
from hub.config import Source
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Delivery, Event, Ref
from tests.paths import FIXTURES

SECRET = "whsec_test_5ad6b2c1e8f04a7d9b3c"
NEXT_SECRET = "whsec_rotated_91f0e2d3c4b5a6"
CREATED = 1_700_000_000
RESOURCES: dict[str, Any] = json.loads((FIXTURES / "stripe" / "fixtures3.json").read_text())["resources"]


def obj(name: str, **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(RESOURCES[name]), **changes}


def envelope(event_type: str, data_object: dict[str, Any], event_id: str = "evt_1NtestEvent00001") -> dict[str, Any]:
    event = copy.deepcopy(RESOURCES["event"])
    event.update(id=event_id, type=event_type, created=CREATED, api_version="2024-06-20")
    event["data"] = {"object": data_object}
    return event


def make_source(refs: dict[str, str] | None = None) -> Source:
    return Source(name="stripe", kind="payment", adapter="stripe", secrets=(SECRET, NEXT_SECRET),
                  refs=refs if refs is not None else {"data.object.metadata.order_id": "shop:order"})


def parse(event: dict[str, Any], source: Source | None = None) -> list[Event]:
    body = json.dumps(event).encode()
    headers = {"stripe-signature": stripe.sign(SECRET, body, CREATED), "content-type": "application/json"}
    return stripe.parse(Delivery(id="d1", source="stripe", received_at=datetime(2026, 1, 1), headers=headers,
                                 body=body), source or make_source())


def parse_one(event: dict[str, Any], source: Source | None = None) -> Event:
    events = parse(event, source)
    assert len(events) == 1
    return events[0]


OCCURRED = datetime(2023, 11, 14, 22, 13, 20)  # CREATED as naive UTC
CHARGE = Ref("stripe:charge", "ch_1PgafuB7WZ01zgkWXYmPNZs8")  # the fixture charge


# --- signature -------------------------------------------------------------------------------------------


def test_sign_is_hex_hmac_of_timestamp_dot_body_keyed_by_the_whole_secret() -> None:
    body = b'{"id": "evt_1"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert stripe.sign(SECRET, body, 1_700_000_000) == f"t=1700000000,v1={expected}"


def test_verify_accepts_a_correctly_signed_event() -> None:
    body = json.dumps(envelope("payment_intent.succeeded", obj("payment_intent"))).encode()
    stripe.verify({"stripe-signature": stripe.sign(SECRET, body, CREATED)}, body, make_source(), CREATED + 10)


def test_verify_accepts_any_matching_v1_and_any_configured_secret() -> None:
    body = b'{"id": "evt_1"}'
    good = stripe.sign(NEXT_SECRET, body, CREATED).split("v1=")[1]
    header = f"t={CREATED},v1={'0' * 64},v1={good},v0=deadbeef"
    stripe.verify({"stripe-signature": header}, body, make_source(), CREATED)


@pytest.mark.parametrize("case", ["forged", "tampered", "missing", "no_v1", "v0_only", "no_t", "two_t", "bad_t"])
def test_verify_refuses_forged_or_malformed_signatures(case: str) -> None:
    body = json.dumps(envelope("payment_intent.succeeded", obj("payment_intent"))).encode()
    good = stripe.sign(SECRET, body, CREATED)
    digest = good.split("v1=")[1]
    headers = {
        "forged": {"stripe-signature": stripe.sign("whsec_attacker", body, CREATED)},
        "tampered": {"stripe-signature": good},
        "missing": {},
        "no_v1": {"stripe-signature": f"t={CREATED}"},
        "v0_only": {"stripe-signature": f"t={CREATED},v0={digest}"},
        "no_t": {"stripe-signature": f"v1={digest}"},
        "two_t": {"stripe-signature": f"t={CREATED},t={CREATED + 1},v1={digest}"},
        "bad_t": {"stripe-signature": f"t=soon,v1={digest}"},
    }[case]
    if case == "tampered":
        body = body.replace(b"1099", b"9999")
    with pytest.raises(SignatureError):
        stripe.verify(headers, body, make_source(), CREATED)


def test_verify_refuses_a_stale_or_far_future_timestamp_even_when_correctly_signed() -> None:
    body = b'{"id": "evt_1"}'
    header = {"stripe-signature": stripe.sign(SECRET, body, CREATED)}
    stripe.verify(header, body, make_source(), CREATED + 300)
    with pytest.raises(SignatureError, match="tolerance"):
        stripe.verify(header, body, make_source(), CREATED + 301)
    with pytest.raises(SignatureError, match="tolerance"):
        stripe.verify(header, body, make_source(), CREATED - 301)
    stripe.verify(header, body, make_source(), CREATED + 3600, tolerance=3600)


def test_verify_refuses_when_no_secret_is_configured() -> None:
    body = b"{}"
    with pytest.raises(SignatureError, match="no secret"):
        stripe.verify({"stripe-signature": stripe.sign("", body, CREATED)}, body,
                      Source(name="stripe", kind="payment", adapter="stripe"), CREATED)


def test_dedup_key_is_the_event_id() -> None:
    body = json.dumps(envelope("charge.captured", obj("charge"), event_id="evt_retry_1")).encode()
    assert stripe.dedup_key({}, body) == "evt_retry_1"
    assert stripe.dedup_key({}, b"not json") is None
    assert stripe.dedup_key({}, b"[]") is None


# --- payment intents -------------------------------------------------------------------------------------


def test_payment_intent_succeeded_is_a_capture_linked_to_the_order_by_metadata() -> None:
    intent = obj("payment_intent", status="succeeded", amount_received=1099, latest_charge="ch_3Ntest",
                 metadata={"order_id": "450789469"})
    event = parse_one(envelope("payment_intent.succeeded", intent))
    assert event.source == "stripe"
    assert event.source_event_id == "evt_1NtestEvent00001"
    assert event.type == "payment.captured"
    assert event.occurred_at == OCCURRED
    assert event.refs == [Ref("stripe:payment_intent", "pi_1PgafyB7WZ01zgkWSjxsAJo3"),
                          Ref("stripe:charge", "ch_3Ntest"), Ref("shop:order", "450789469")]
    assert event.amount == Amount(Decimal("10.99"), "USD", "capture")
    assert event.status == "ok" and event.error is None and event.lines == []


def test_a_partial_capture_counts_what_was_received() -> None:
    intent = obj("payment_intent", status="succeeded", amount_received=500, latest_charge={"id": "ch_exp"})
    event = parse_one(envelope("payment_intent.succeeded", intent))
    assert event.amount == Amount(Decimal("5.00"), "USD", "capture")
    assert Ref("stripe:charge", "ch_exp") in event.refs


@pytest.mark.parametrize(("event_type", "changes", "value"), [
    ("payment_intent.created", {}, "10.99"),
    ("payment_intent.amount_capturable_updated", {"amount_capturable": 1099, "status": "requires_capture"}, "10.99"),
])
def test_created_and_capturable_intents_are_authorizations(event_type: str, changes: dict[str, Any],
                                                           value: str) -> None:
    event = parse_one(envelope(event_type, obj("payment_intent", **changes)))
    assert event.type == "payment.authorized"
    assert event.refs == [Ref("stripe:payment_intent", "pi_1PgafyB7WZ01zgkWSjxsAJo3")]
    assert event.amount == Amount(Decimal(value), "USD", "authorization")


def test_payment_failed_carries_the_decline_message() -> None:
    error = {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
    event = parse_one(envelope("payment_intent.payment_failed", obj("payment_intent", last_payment_error=error)))
    assert event.type == "payment.failed"
    assert event.status == "failed"
    assert event.error == "Your card was declined."
    assert event.amount == Amount(Decimal("10.99"), "USD", "attempt")


def test_payment_failed_without_a_message_still_says_why() -> None:
    event = parse_one(envelope("payment_intent.payment_failed", obj("payment_intent")))  # {"type": "idempotency_error"}
    assert event.status == "failed" and event.error == "idempotency_error"


@pytest.mark.parametrize(("currency", "minor", "value"), [
    ("jpy", 1099, Decimal("1099")), ("krw", 50000, Decimal("50000")), ("eur", 1099, Decimal("10.99")),
    ("kwd", 12345, Decimal("12.345")), ("usd", 5, Decimal("0.05")),
])
def test_minor_units_follow_the_currency(currency: str, minor: int, value: Decimal) -> None:
    intent = obj("payment_intent", currency=currency, amount=minor, amount_received=minor)
    assert parse_one(envelope("payment_intent.succeeded", intent)).amount == Amount(value, currency.upper(), "capture")


# --- charges and refunds ---------------------------------------------------------------------------------


def test_charge_captured_without_a_payment_intent_counts_the_capture() -> None:
    event = parse_one(envelope("charge.captured", obj("charge", captured=True, amount_captured=100)))
    assert event.type == "payment.captured"
    assert event.refs == [CHARGE]
    assert event.amount == Amount(Decimal("1.00"), "USD", "capture")


def test_charge_captured_of_a_payment_intent_leaves_the_amount_to_the_intent_event() -> None:
    charge = obj("charge", captured=True, amount_captured=100, payment_intent="pi_3Ntest")
    event = parse_one(envelope("charge.captured", charge))
    assert event.type == "payment.captured"
    assert event.refs == [CHARGE, Ref("stripe:payment_intent", "pi_3Ntest")]
    assert event.amount is None


def test_charge_refunded_links_its_refunds_without_counting_money_twice() -> None:
    charge = obj("charge", refunded=True, amount_refunded=100, payment_intent="pi_3Ntest")
    charge["refunds"]["data"] = [obj("refund")]
    event = parse_one(envelope("charge.refunded", charge))
    assert event.type == "refund.issued"
    assert event.refs == [CHARGE, Ref("stripe:payment_intent", "pi_3Ntest"),
                          Ref("stripe:refund", "re_1Pgc72B7WZ01zgkWqPvrRrPE")]
    assert event.amount is None


def test_refund_created_is_the_refund_with_its_amount() -> None:
    refund = obj("refund", payment_intent="pi_3Ntest", metadata={"order_id": "450789469"})
    event = parse_one(envelope("refund.created", refund))
    assert event.type == "refund.issued"
    assert event.occurred_at == OCCURRED
    assert event.refs == [Ref("stripe:refund", "re_1Pgc72B7WZ01zgkWqPvrRrPE"),
                          CHARGE, Ref("stripe:payment_intent", "pi_3Ntest"),
                          Ref("shop:order", "450789469")]
    assert event.amount == Amount(Decimal("1.00"), "USD", "refund")
    assert event.status == "ok"


def test_refund_updated_to_failed_is_a_failed_refund_without_an_amount() -> None:
    refund = obj("refund", status="failed", failure_reason="expired_or_canceled_card")
    event = parse_one(envelope("refund.updated", refund))
    assert event.type == "refund.issued"
    assert event.status == "failed"
    assert event.error == "refund failed: expired_or_canceled_card"
    assert event.amount is None


# --- payouts ---------------------------------------------------------------------------------------------


def test_payout_paid_is_a_settlement() -> None:
    event = parse_one(envelope("payout.paid", obj("payout", status="paid")))
    assert event.type == "settlement.paid"
    assert event.refs == [Ref("stripe:payout", "po_1Pgc79B7WZ01zgkWu1KToYf4")]
    assert event.amount == Amount(Decimal("11.00"), "USD", "settlement")
    assert event.occurred_at == OCCURRED


def test_payout_with_balance_transactions_relates_what_it_covers_and_reports_gross_and_fees() -> None:
    charge_txn = obj("balance_transaction", amount=1000, fee=59, net=941, source="ch_1Covered")
    other_txn = obj("balance_transaction", id="txn_2", amount=200, fee=36, net=164, source="py_1Covered")
    refund_txn = obj("balance_transaction", id="txn_3", amount=-100, fee=0, net=-100, type="refund", source="re_1Back")
    own_txn = obj("balance_transaction", id="txn_po", amount=-1005, fee=0, net=-1005, type="payout",
                  source="po_1Pgc79B7WZ01zgkWu1KToYf4")
    payout = obj("payout", amount=1005, status="paid",
                 balance_transactions={"object": "list", "data": [charge_txn, other_txn, refund_txn, own_txn]})
    events = parse(envelope("payout.paid", payout, event_id="evt_payout"))
    refs = [Ref("stripe:payout", "po_1Pgc79B7WZ01zgkWu1KToYf4"), Ref("stripe:charge", "ch_1Covered", RELATED),
            Ref("stripe:charge", "py_1Covered", RELATED), Ref("stripe:refund", "re_1Back", RELATED)]
    assert [(e.source_event_id, e.type, e.amount) for e in events] == [
        ("evt_payout", "settlement.paid", Amount(Decimal("10.05"), "USD", "settlement")),
        ("evt_payout:gross", "settlement.paid", Amount(Decimal("11.00"), "USD", "gross")),
        ("evt_payout:fee", "settlement.paid", Amount(Decimal("0.95"), "USD", "fee")),
        ("evt_payout:line:ch_1Covered", "settlement.paid", Amount(Decimal("10.00"), "USD", "line")),
        ("evt_payout:line:py_1Covered", "settlement.paid", Amount(Decimal("2.00"), "USD", "line")),
        ("evt_payout:line:re_1Back", "settlement.paid", Amount(Decimal("-1.00"), "USD", "line")),
    ]
    assert all(e.refs == refs and e.occurred_at == OCCURRED for e in events[:3])
    # each line names what it paid, beside the payout (the reconciliation tells which orders do not add up)
    assert [e.refs for e in events[3:]] == [[refs[0], refs[1]], [refs[0], refs[2]], [refs[0], refs[3]]]


def test_other_payout_events_are_unknown_but_keep_the_payout_ref() -> None:
    event = parse_one(envelope("payout.failed", obj("payout", status="failed")))
    assert event.type == UNKNOWN_TYPE
    assert event.refs == [Ref("stripe:payout", "po_1Pgc79B7WZ01zgkWu1KToYf4")]
    assert event.amount is None


# --- unknown types and drift -----------------------------------------------------------------------------


def test_an_unmapped_event_type_is_unknown() -> None:
    event = parse_one(copy.deepcopy(RESOURCES["event"]))  # plan.created, as in Stripe's sample
    assert event.type == UNKNOWN_TYPE
    assert event.source_event_id == "evt_1Pgc76B7WZ01zgkWwyRHS12y"
    assert event.occurred_at == datetime(2009, 2, 13, 23, 31, 30)
    assert event.refs == []
    charge_event = parse_one(envelope("charge.succeeded", obj("charge")))
    assert charge_event.type == UNKNOWN_TYPE
    assert charge_event.refs == [CHARGE]


@pytest.mark.parametrize(("event_type", "resource", "drop", "field"), [
    ("payment_intent.succeeded", "payment_intent", "currency", "data.object.currency"),
    ("payment_intent.succeeded", "payment_intent", "id", "data.object.id"),
    ("refund.created", "refund", "amount", "data.object.amount"),
    ("payout.paid", "payout", "amount", "data.object.amount"),
    ("charge.captured", "charge", "id", "data.object.id"),
])
def test_schema_drift_names_the_missing_field(event_type: str, resource: str, drop: str, field: str) -> None:
    data = obj(resource)
    del data[drop]
    with pytest.raises(ParseError, match=f"'{field}'"):
        parse(envelope(event_type, data))


@pytest.mark.parametrize("drop", ["id", "type", "created", "data"])
def test_a_broken_envelope_is_drift(drop: str) -> None:
    event = envelope("payment_intent.succeeded", obj("payment_intent"))
    del event[drop]
    with pytest.raises(ParseError, match=drop):
        parse(event)


def test_a_non_integer_amount_is_drift() -> None:
    with pytest.raises(ParseError, match="data.object.amount"):
        parse(envelope("refund.created", obj("refund", amount="1.00")))
    with pytest.raises(ParseError, match="JSON object"):
        stripe.parse(Delivery(id="d", source="stripe", received_at=datetime(2026, 1, 1), headers={}, body=b"[]"),
                     make_source())
