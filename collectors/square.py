"""Square (POS): ``x-square-hmacsha256-signature`` verification and webhook events → canonical events.

A webhook body is ``{"merchant_id", "type", "event_id", "created_at", "data": {"type", "id", "object"}}``
(https://developer.squareup.com/docs/webhooks/overview); ``event_id`` is the dedup key and
``created_at`` the event time.

Trust review. Signed: the notification URL + the raw body (``x-square-hmacsha256-signature``); no time is
signed (``Square-Initial-Delivery-Timestamp`` is a plain header, not checked). Dedup key: ``event_id`` from
the signed body, so no header can change it; unique because Square gives each event its own id and retries it
under that id (https://developer.squareup.com/docs/webhooks/step4manage: ``event_id`` is its idempotency value).
It is also the event's ``source_event_id``.

Mapping (``type`` → canonical type):

- ``order.created`` → ``order.placed``; ``order.updated`` → ``order.updated`` (``order.cancelled`` when
  the order's ``state`` is ``CANCELED``). Square's order webhooks carry no lines or totals.
- ``payment.created`` / ``payment.updated`` → by ``payment.status``: ``COMPLETED`` → ``payment.captured``,
  ``FAILED``/``CANCELED`` → ``payment.failed``, otherwise (``APPROVED``, ``PENDING``) ``payment.authorized``
- ``refund.created`` / ``refund.updated`` → ``refund.issued`` (``failed`` when ``REJECTED``/``FAILED``)
- ``inventory.count.updated`` → ``inventory.snapshot``: one line per count whose state is a stock
  position (``IN_STOCK`` → ``on_hand``, ``RESERVED_FOR_SALE`` → ``reserved``, ``IN_TRANSIT``/
  ``IN_TRANSIT_TO`` → ``in_transit``, ``WASTE`` → ``damaged``, ``RETURNED_BY_CUSTOMER``/
  ``UNLINKED_RETURN`` → ``returned``); flow states (``SOLD``, ``NONE``, vendor states…) are not stock
  at a location and are left out.
- anything else → ``unknown`` (with ``data.id`` as a ref when the type names an order/payment/refund)

Amounts (Square money is integer minor units): Square sends ``*.updated`` for every later change of a
payment or refund (fees, refunds), so only ``*.created`` carries the amount and the hub counts it once:
``payment.created`` as ``capture`` (``total_money``; ``gift_card``, ``cash`` or ``external`` by the payment's
tender, which no Square payout pays) or ``authorization`` (``approved_money``),
``refund.created`` as ``refund``.

Refs: ``<source>:order``, ``:payment``, ``:refund`` (identity); ``:location`` and ``:catalog_object``
(related). The source's ``refs`` mapping applies to the whole body.

``source.options``:

- ``notification_url`` (str, required): the notification URL exactly as configured on Square's
  webhook subscription; it is part of the signed content.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from collectors.base import (
    ParseError,
    SignatureError,
    body_field_key,
    compact,
    decimal_field,
    header,
    load_object,
    mapped_refs,
    minor_to_decimal,
    parse_time,
    ref,
    require,
    verify_with_any_secret,
)
from hub.config import Source
from hub.errors import ConfigError
from hub.model import RELATED, UNKNOWN_TYPE, Amount, Delivery, Event, Line, Ref

# https://developer.squareup.com/reference/square/enums/InventoryState → hub.model.INVENTORY_STATES
INVENTORY_STATES = {
    "IN_STOCK": "on_hand",
    "RESERVED_FOR_SALE": "reserved",
    "IN_TRANSIT": "in_transit",
    "IN_TRANSIT_TO": "in_transit",
    "WASTE": "damaged",
    "RETURNED_BY_CUSTOMER": "returned",
    "UNLINKED_RETURN": "returned",
}
_PAYMENT_TYPES = {"COMPLETED": "payment.captured", "FAILED": "payment.failed", "CANCELED": "payment.failed"}


def sign(signature_key: str, notification_url: str, body: bytes) -> str:
    """The ``x-square-hmacsha256-signature`` header value Square would send for ``body``."""
    # https://developer.squareup.com/docs/webhooks/step3validate: base64 of HMAC-SHA256, keyed by the
    # subscription's signature key, over the notification URL followed by the raw body.
    content = notification_url.encode() + body
    return base64.b64encode(hmac.new(signature_key.encode(), content, hashlib.sha256).digest()).decode()


def verify(headers: Mapping[str, str], body: bytes, source: Source, now: float, tolerance: int = 300) -> None:
    """Accept when the signature matches any configured signature key.

    Square signs no timestamp (``Square-Initial-Delivery-Timestamp`` is unsigned), so replays are
    absorbed by dedup on ``event_id``.
    """
    offered = header(headers, "x-square-hmacsha256-signature")
    url = source.options.get("notification_url")
    if offered and (not isinstance(url, str) or not url):
        raise SignatureError("source option notification_url is not set: it is part of Square's signature")
    verify_with_any_secret(offered, "x-square-hmacsha256-signature", source,
                           lambda secret: sign(secret, str(url), body))


def check_options(source: Source) -> None:
    """Raise :class:`ConfigError` at start when ``notification_url`` is missing (every delivery would be a 401)."""
    url = source.options.get("notification_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigError(f"source {source.name!r}: options.notification_url = {url!r}: set it to the notification "
                          "URL exactly as on Square's webhook subscription (it is part of the signature)")


def dedup_key(headers: Mapping[str, str], body: bytes, source: Source | None = None) -> str | None:
    """The body's ``event_id`` (Square retries an event with the same id)."""
    return body_field_key(body, "event_id")


def parse(delivery: Delivery, source: Source) -> list[Event]:
    """One canonical event for one Square webhook event."""
    document = load_object(delivery.body, "a Square event")
    kind = str(require(document, "type"))
    event = Event(source=source.name, source_event_id=str(require(document, "event_id")), type=UNKNOWN_TYPE,
                  occurred_at=parse_time(require(document, "created_at"), "created_at"),
                  traceparent=header(delivery.headers, "traceparent"))
    if kind in ("order.created", "order.updated"):
        _order(event, kind, document, source)
    elif kind in ("payment.created", "payment.updated"):
        _payment(event, kind, document, source)
    elif kind in ("refund.created", "refund.updated"):
        _refund(event, kind, document, source)
    elif kind == "inventory.count.updated":
        _inventory(event, document, source)
    else:
        # Square's ``data.id`` is the id of the object the event type is named after (order.fulfillment.updated
        # → the order), so an unmapped event on an object we track still links.
        obj_name = kind.split(".", 1)[0]
        data = document.get("data")
        if obj_name in ("order", "payment", "refund") and isinstance(data, dict):
            event.refs = compact([ref(source, obj_name, data.get("id"))])
    event.refs = compact([*event.refs, *mapped_refs(document, source.refs)])
    return [event]


def _order(event: Event, kind: str, document: dict[str, Any], source: Source) -> None:
    field_name = "order_created" if kind == "order.created" else "order_updated"
    order = require(document, f"data.object.{field_name}")
    where = f"data.object.{field_name}"
    event.type = "order.placed" if kind == "order.created" else "order.updated"
    if kind == "order.updated" and order.get("state") == "CANCELED":
        event.type = "order.cancelled"
    event.refs = compact([ref(source, "order", require(document, f"{where}.order_id")),
                          ref(source, "location", order.get("location_id"), RELATED)])


def _payment(event: Event, kind: str, document: dict[str, Any], source: Source) -> None:
    payment = require(document, "data.object.payment")
    if not isinstance(payment, dict):
        raise ParseError("field 'data.object.payment' must be an object")
    status = str(require(document, "data.object.payment.status"))
    event.type = _PAYMENT_TYPES.get(status, "payment.authorized")
    event.refs = compact([ref(source, "payment", require(document, "data.object.payment.id")),
                          ref(source, "order", payment.get("order_id")),
                          ref(source, "location", payment.get("location_id"), RELATED)])
    if event.type == "payment.failed":
        event.status = "failed"
        event.error = _card_error(payment) or f"payment {status}"
    if kind != "payment.created":
        return
    if event.type == "payment.captured":
        event.amount = _money(payment, "data.object.payment", ("total_money", "amount_money"), _tender(payment))
    elif event.type == "payment.authorized":
        event.amount = _money(payment, "data.object.payment", ("approved_money", "amount_money"), "authorization")
    else:
        event.amount = _money(payment, "data.object.payment", ("amount_money",), "attempt")


def _tender(payment: dict[str, Any]) -> str:
    """The amount kind of a completed payment by how it was paid (Payment ``source_type``): a Square gift card
    (a ``CARD`` whose ``card_details.card.card_brand`` is ``SQUARE_GIFT_CARD``) is ``gift_card``; ``CASH`` and
    ``EXTERNAL`` (money taken outside Square: never in a Square payout) are ``cash`` and ``external``; any other
    (card, wallet, bank account, buy now pay later) is card money, ``capture``."""
    details = payment.get("card_details")
    card = details.get("card") if isinstance(details, dict) else None
    if isinstance(card, dict) and card.get("card_brand") == "SQUARE_GIFT_CARD":
        return "gift_card"
    return {"CASH": "cash", "EXTERNAL": "external"}.get(str(payment.get("source_type")), "capture")


def _card_error(payment: dict[str, Any]) -> str | None:
    errors = (payment.get("card_details") or {}).get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0].get("detail") or errors[0].get("code")
    return None


def _refund(event: Event, kind: str, document: dict[str, Any], source: Source) -> None:
    refund = require(document, "data.object.refund")
    if not isinstance(refund, dict):
        raise ParseError("field 'data.object.refund' must be an object")
    event.type = "refund.issued"
    event.refs = compact([ref(source, "refund", require(document, "data.object.refund.id")),
                          ref(source, "payment", refund.get("payment_id")),
                          ref(source, "order", refund.get("order_id")),
                          ref(source, "location", refund.get("location_id"), RELATED)])
    status = refund.get("status")
    if status in ("REJECTED", "FAILED"):
        event.status, event.error = "failed", f"refund {status}"
    if kind == "refund.created":
        event.amount = _money(refund, "data.object.refund", ("amount_money",), "refund")


def _inventory(event: Event, document: dict[str, Any], source: Source) -> None:
    counts = require(document, "data.object.inventory_counts")
    if not isinstance(counts, list):
        raise ParseError("field 'data.object.inventory_counts' must be an array")
    event.type = "inventory.snapshot"
    lines: list[Line] = []
    refs: list[Ref | None] = []
    for index, count in enumerate(counts):
        where = f"data.object.inventory_counts.{index}"
        if not isinstance(count, dict):
            raise ParseError(f"field {where!r} must be an object")
        sku = str(require(count, "catalog_object_id"))
        location = str(require(count, "location_id"))
        refs += [ref(source, "catalog_object", sku, RELATED), ref(source, "location", location, RELATED)]
        state = INVENTORY_STATES.get(str(require(count, "state")))
        if state is not None:
            lines.append(Line(sku=sku, qty=decimal_field(require(count, "quantity"), f"{where}.quantity", "quantity"),
                              location=location, state=state))
    event.lines, event.refs = lines, compact(refs)


def _money(obj: dict[str, Any], where: str, fields: tuple[str, ...], kind: str) -> Amount | None:
    """The first present Money (``{"amount": minor units, "currency"}``) of ``fields`` as an Amount."""
    for name in fields:
        money = obj.get(name)
        if isinstance(money, dict) and money.get("amount") is not None:
            currency = money.get("currency")
            if not isinstance(currency, str) or not currency:
                raise ParseError(f"missing field '{where}.{name}.currency'")
            return Amount(minor_to_decimal(money["amount"], currency, f"{where}.{name}.amount"), currency.upper(),
                          kind)
    return None

