"""Stripe (payments): ``Stripe-Signature`` verification and events → canonical payment events.

A webhook body is one Stripe event (``{"id": "evt_…", "type", "created", "data": {"object": …}}``, see
https://docs.stripe.com/api/events/object); ``id`` is the dedup key (Stripe retries the same event id).

Trust review. Signed: ``{t}.{raw body}`` (``Stripe-Signature``), ``t`` within the tolerance; Stripe signs each
attempt afresh, so its retries pass. Dedup key: the event ``id`` (``evt_…``) read from the signed body, so no
header can change it; unique because Stripe gives every event its own id and resends one event under the same
id (https://docs.stripe.com/webhooks, "Handle duplicate events"). It is also each event's ``source_event_id``.

Mapping (``type`` → canonical type):

- ``payment_intent.created`` / ``payment_intent.amount_capturable_updated`` → ``payment.authorized``
- ``payment_intent.succeeded`` / ``charge.captured`` → ``payment.captured``
- ``payment_intent.payment_failed`` → ``payment.failed`` (``error`` = ``last_payment_error.message``)
- ``charge.refunded`` / ``refund.created`` / ``refund.updated`` → ``refund.issued``
- ``payout.paid`` → ``settlement.paid``; anything else → ``unknown``

Amounts are counted once per money movement, because the hub sums them per transaction: Stripe sends
``charge.captured`` *and* ``payment_intent.succeeded`` for one manual capture, so ``charge.captured``
carries the amount only for a charge without a PaymentIntent; it sends ``charge.refunded`` *and*
``refund.created`` for one refund, so only ``refund.created`` carries the refund amount.

Refs: ``<source>:payment_intent``, ``:charge``, ``:refund``, ``:payout`` (identity); a payout's covered
charges/refunds (when balance transactions are in the payload) are related refs. Order links come from
the source's ``refs`` mapping applied to the whole event (``data.object.metadata.order_id``).
Stripe's ``payout.paid`` webhook carries no balance transactions; the ``stripe-events`` poller reads
them and delivers them separately (``PAYOUT_DETAIL``), which yields the gross and fee events and one ``line``
event per covered charge or refund (its gross amount, the charge named by a related ref) for the payout
reconciliation.

``source.options``: none read.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from collectors.base import (
    ParseError,
    SignatureError,
    body_field_key,
    compact,
    header,
    load_object,
    mapped_refs,
    minor_to_decimal,
    parse_time,
    ref,
    require,
)
from hub.config import Source
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Delivery, Event, Ref

# ``X-Crosstrace-Polled`` of a payout.paid event the stripe-events poller filled with the payout's balance
# transactions: it yields only the gross and fee events (the payout's own event comes with the event itself).
PAYOUT_DETAIL = "stripe-payout-detail"
_TYPES = {
    "payment_intent.created": "payment.authorized",
    "payment_intent.amount_capturable_updated": "payment.authorized",
    "payment_intent.succeeded": "payment.captured",
    "payment_intent.payment_failed": "payment.failed",
    "charge.captured": "payment.captured",
    "charge.refunded": "refund.issued",
    "refund.created": "refund.issued",
    "refund.updated": "refund.issued",
    "payout.paid": "settlement.paid",
}
# A balance transaction's ``source`` id prefix → the object it belongs to (payout coverage refs).
_SOURCE_PREFIXES = (("ch_", "charge"), ("py_", "charge"), ("re_", "refund"), ("pyr_", "refund"),
                    ("pi_", "payment_intent"))


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value Stripe would send for ``body`` at ``timestamp``."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def _digest(secret: str, timestamp: int | str, body: bytes) -> str:
    # https://docs.stripe.com/webhooks#verify-manually: HMAC-SHA256, keyed by the endpoint's signing
    # secret exactly as shown (``whsec_`` included), over "{t}.{raw body}", hex-encoded.
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, source: Source, now: float, tolerance: int = 300) -> None:
    """Accept when any ``v1`` signature matches any secret and ``t`` is within ``tolerance`` of ``now``."""
    value = header(headers, "stripe-signature")
    if not value:
        raise SignatureError("missing Stripe-Signature header")
    stamps: list[str] = []
    offered: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t":
            stamps.append(item)
        elif key == "v1":  # v0 is Stripe's test-mode scheme and never trusted
            offered.append(item)
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()):
        raise SignatureError("Stripe-Signature has no valid t= timestamp")
    if not offered:
        raise SignatureError("Stripe-Signature has no v1 signature")
    # Stripe's libraries refuse events older than the tolerance (replay protection); a timestamp far
    # in the future is refused too, as Standard Webhooks does.
    if abs(now - int(stamps[0])) > tolerance:
        raise SignatureError("Stripe-Signature timestamp is outside the tolerance window")
    if not source.secrets:
        raise SignatureError("no secret configured for this source")
    for secret in source.secrets:
        expected = _digest(secret, stamps[0], body).encode()
        if any(hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
            return
    raise SignatureError("no matching v1 signature")


def dedup_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str | None:
    """The event id (``evt_…``), the same on every retry of one event."""
    return body_field_key(body, "id")


def parse(delivery: Delivery, source: Source) -> list[Event]:
    """The canonical events of one Stripe event (one, plus gross/fee events for a detailed payout)."""
    document = load_object(delivery.body, "a Stripe event")
    event_id = str(require(document, "id"))
    kind = str(require(document, "type"))
    occurred = parse_time(require(document, "created"), "created")
    obj = require(document, "data.object")
    if not isinstance(obj, dict):
        raise ParseError("field 'data.object' must be an object")
    extra = mapped_refs(document, source.refs)
    event = Event(source=source.name, source_event_id=event_id, type=_TYPES.get(kind, UNKNOWN_TYPE),
                  occurred_at=occurred, traceparent=header(delivery.headers, "traceparent"))
    if kind.startswith("payment_intent."):
        _payment_intent(event, kind, obj, source)
    elif kind.startswith("charge."):
        _charge(event, kind, obj, source)
    elif kind.startswith("refund."):
        _refund(event, kind, obj, source)
    elif kind.startswith("payout."):
        events = _payout(event, kind, obj, source, extra)
        return events[1:] if header(delivery.headers, "x-crosstrace-polled") == PAYOUT_DETAIL else events
    else:
        event.refs = _object_refs(obj, source)
    event.refs = compact([*event.refs, *extra])
    return [event]


def _payment_intent(event: Event, kind: str, obj: dict[str, Any], source: Source) -> None:
    event.refs = compact([ref(source, "payment_intent", _field(obj, "id")),
                          ref(source, "charge", _id(obj.get("latest_charge")))])
    currency = str(_field(obj, "currency"))
    if kind == "payment_intent.succeeded":
        received = obj.get("amount_received")
        value = received if isinstance(received, int) and received > 0 else _field(obj, "amount")
        event.amount = Amount(minor_to_decimal(value, currency, "data.object.amount_received"),
                              currency.upper(), "capture")
    elif kind == "payment_intent.amount_capturable_updated":
        event.amount = _amount(_field(obj, "amount_capturable"), currency, "authorization",
                               "data.object.amount_capturable")
    elif kind == "payment_intent.created":
        event.amount = _amount(_field(obj, "amount"), currency, "authorization", "data.object.amount")
    elif kind == "payment_intent.payment_failed":
        event.amount = _amount(_field(obj, "amount"), currency, "attempt", "data.object.amount")
        event.status = "failed"
        error = obj.get("last_payment_error") or {}
        event.error = error.get("message") or error.get("code") or error.get("type") or "payment failed"


def _charge(event: Event, kind: str, obj: dict[str, Any], source: Source) -> None:
    refunds = obj.get("refunds")
    refund_ids = [_id(item) for item in refunds.get("data", [])] if isinstance(refunds, dict) else []
    event.refs = compact([ref(source, "charge", _field(obj, "id")),
                          ref(source, "payment_intent", _id(obj.get("payment_intent"))),
                          *(ref(source, "refund", rid) for rid in refund_ids)])
    if kind == "charge.captured" and not obj.get("payment_intent"):
        # A PaymentIntent's own succeeded event reports the capture; only a bare charge counts here.
        captured = obj.get("amount_captured") or _field(obj, "amount")
        event.amount = _amount(captured, str(_field(obj, "currency")), "capture", "data.object.amount_captured")


def _refund(event: Event, kind: str, obj: dict[str, Any], source: Source) -> None:
    event.refs = compact([ref(source, "refund", _field(obj, "id")),
                          ref(source, "charge", _id(obj.get("charge"))),
                          ref(source, "payment_intent", _id(obj.get("payment_intent")))])
    if kind == "refund.created":
        event.amount = _amount(_field(obj, "amount"), str(_field(obj, "currency")), "refund", "data.object.amount")
    if obj.get("status") in ("failed", "canceled"):
        event.status = "failed"
        event.error = f"refund {obj['status']}" + (f": {obj['failure_reason']}" if obj.get("failure_reason") else "")


def _payout(event: Event, kind: str, obj: dict[str, Any], source: Source, extra: list[Ref]) -> list[Event]:
    """The payout itself (amount kind ``settlement``); with its balance transactions in the payload, two
    more events carry the covered ``gross`` and the ``fee`` so the hub can check gross − fees = paid out."""
    currency = str(_field(obj, "currency"))
    covered = _balance_transactions(obj)
    related = []
    for txn in covered:
        txn_source = _id(txn.get("source"))
        obj_name = _object_for(txn_source)
        if obj_name is not None:
            related.append(ref(source, obj_name, txn_source, RELATED))
    event.refs = compact([ref(source, "payout", _field(obj, "id")), *related, *extra])
    if kind != "payout.paid":
        return [event]
    event.amount = _amount(_field(obj, "amount"), currency, "settlement", "data.object.amount")
    if not covered:
        return [event]
    events = [event]
    for kind_name, field_name in (("gross", "amount"), ("fee", "fee")):
        total = sum((minor_to_decimal(txn.get(field_name, 0), currency, f"balance_transaction.{field_name}")
                     for txn in covered), Decimal(0))
        events.append(Event(source=event.source, source_event_id=f"{event.source_event_id}:{kind_name}",
                            type=event.type, occurred_at=event.occurred_at, refs=list(event.refs),
                            amount=Amount(total, currency.upper(), kind_name), traceparent=event.traceparent))
    return events + _lines(event, covered, currency, source)


def _lines(event: Event, covered: list[dict[str, Any]], currency: str, source: Source) -> list[Event]:
    """One ``line`` event per charge or refund the payout covers: its balance transaction's gross ``amount``
    (a refund's is negative), naming it by a related ref, so the hub tells which orders do not add up."""
    sums: dict[tuple[str, str], Decimal] = {}
    for txn in covered:
        txn_source = _id(txn.get("source"))
        obj_name = _object_for(txn_source)
        if obj_name is None or txn_source is None:
            continue
        value = minor_to_decimal(txn.get("amount", 0), currency, "balance_transaction.amount")
        sums[(obj_name, txn_source)] = sums.get((obj_name, txn_source), Decimal(0)) + value
    payout = [r for r in event.refs if r.role != RELATED]
    return [Event(source=event.source, source_event_id=f"{event.source_event_id}:line:{txn_source}", type=event.type,
                  occurred_at=event.occurred_at, refs=compact([*payout, ref(source, obj_name, txn_source, RELATED)]),
                  amount=Amount(value, currency.upper(), "line"), traceparent=event.traceparent)
            for (obj_name, txn_source), value in sums.items()]


def _balance_transactions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Expanded balance transactions a payout covers, when a sender includes them: a list or a Stripe
    list object under ``balance_transactions`` (as ``GET /v1/balance_transactions?payout=…`` returns).
    The payout's own entry (type ``payout``) is not coverage and is left out."""
    raw = obj.get("balance_transactions")
    items = raw.get("data") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and item.get("type") not in ("payout", "payout_cancel")]


def _object_refs(obj: dict[str, Any], source: Source) -> list[Ref]:
    """Refs of an object of an unmapped event type, by its ``object`` name (when it is one we track)."""
    name = obj.get("object")
    if name in ("payment_intent", "charge", "refund", "payout"):
        return compact([ref(source, str(name), obj.get("id"))])
    return []


def _object_for(object_id: str | None) -> str | None:
    for prefix, name in _SOURCE_PREFIXES:
        if object_id and object_id.startswith(prefix):
            return name
    return None


def _field(obj: dict[str, Any], name: str) -> Any:
    """``base.require`` on the event's ``data.object``, naming the field by its full path."""
    try:
        return require(obj, name)
    except ParseError:
        raise ParseError(f"missing field 'data.object.{name}'") from None


def _id(value: Any) -> str | None:
    """An id that may be a string or an expanded object (``{"id": …}``)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _amount(value: Any, currency: str, kind: str, where: str) -> Amount:
    return Amount(minor_to_decimal(value, currency, where), currency.upper(), kind)
